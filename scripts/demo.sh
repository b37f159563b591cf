#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the main job: the quickstart pipeline on the embedded
# default spec (see examples/quickstart/README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
exec "$here/examples/quickstart/run.sh"
