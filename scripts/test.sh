#!/usr/bin/env bash
# Sets up (scripts/setup.sh --test) and runs the test suite: everything but the `slow` label.
# The `gpu` tests are included: without a CUDA device they exit 77 and ctest reports them as
# skipped ("The following tests did not run: ... (Skipped)"), never as passed; on a GPU
# machine they run. Extra arguments go to ctest, e.g. `scripts/test.sh -L unit`.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${DELIB_BUILD:-$here/build}
"$here/scripts/setup.sh" --test
mkdir -p "$build/testtmp"
cd "$build"
if [ $# -eq 0 ]; then set -- -LE slow; fi
ctest --output-on-failure -j "${DELIB_JOBS:-$(nproc)}" "$@"
