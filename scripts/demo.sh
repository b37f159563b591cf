#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the main job. Until the quickstart's tiny model reads a
# spec in context (examples/quickstart/README.md), that is the model-free pipeline on real data:
# examples/eval-demo.sh. The full model pipeline is examples/quickstart/run.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
exec "$here/examples/eval-demo.sh"
