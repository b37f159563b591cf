#!/usr/bin/env bash
# The README's main command: sets up (scripts/setup.sh: packages, venv, build) and runs the
# quickstart, the whole deliberative-alignment pipeline offline on the shipped tiny model
# (examples/quickstart/run.sh, which runs `make -C examples/quickstart -j2 demo`: spec-lint,
# cot-gen with the spec in context in 2 shards, cot-judge min of k, sft-train and rl-train
# without the spec, safety-eval of base/SFT/RL with table and Pareto plot on new phrasings of
# the trained topics and on topics the demo's data never contains; under a minute on 2 cores).
# Output: examples/quickstart/work/demo (or $1); run again, it redoes only what changed (a
# rebuilt tool, an edited spec) and prints the report.
# The model-free half on the real benchmarks: examples/eval-demo.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh"
export DELIB_BIN=${DELIB_BIN:-${DELIB_BUILD:-$here/build}/bin}
export PYTHON=${PYTHON:-python3}
exec "$here/examples/quickstart/run.sh" "$@"
