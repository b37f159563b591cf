#!/usr/bin/env bash
# `make bench`: every CPU benchmark in turn, each appending a dated section (machine, load,
# commands) to tests/bench/RESULTS.md. GPU benchmarks: tests/gpu/run.sh on a GPU machine.
#   tests/bench/run.sh [BUILD_DIR]      (env: DELIB_PYTHON, the venv with torch/transformers)
# Ratios between delib and its reference measured in the same run are the comparison; absolute
# numbers depend on the machine and on its load (written down with each section).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
py=${DELIB_PYTHON:-$HOME/.cache/delib/venv/bin/python}
export DELIB_SHARED=${DELIB_SHARED:-$(cd "$here/.." && pwd)/shared}
step() { printf '\n== %s (%s, load %s)\n' "$1" "$(date -u +%T)" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2; }
step "record stream: jsonl-cat vs zstd and jq"
"$here/tests/bench/records_bench.sh" "$build"
step "tokenizer: delib vs HF tokenizers"
"$py" "$here/tests/bench/tokenizer_bench.py" --build "$build" --append
step "generation: delib engine vs transformers generate (CPU)"
"$py" "$here/tests/bench/generate_bench.py" --bin "$build/bin" --append "$here/tests/bench/RESULTS.md"
step "sft-train step vs PyTorch/transformers step (CPU)"
"$py" "$here/tests/bench/sft_bench.py" --bin "$build/bin" --append
