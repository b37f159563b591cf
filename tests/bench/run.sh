#!/usr/bin/env bash
# `make bench`: every CPU benchmark in turn, each appending a dated section (machine, load,
# commands) to tests/bench/RESULTS.md. GPU benchmarks: tests/gpu/run.sh on a GPU machine.
#   tests/bench/run.sh [BUILD_DIR]      (env: DELIB_PYTHON, the venv with torch/transformers)
# Speed-ups (reference time / delib time) measured in the same run, with the two alternating
# over several rounds, are the comparison: each is reported as the median and spread over
# rounds. Absolute numbers depend on the machine and on its load (written down with each
# section); run it on an idle machine.
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
R="$here/tests/bench/RESULTS.md"
step "generation: delib engine vs transformers generate (CPU), 20M Llama"
"$py" "$here/tests/bench/generate_bench.py" --bin "$build/bin" --append "$R"
step "generation: prefill shared by the samples of one prompt"
"$py" "$here/tests/bench/generate_bench.py" --bin "$build/bin" --prefill --append "$R"
for dt in f32 bf16; do
  step "generation: Qwen3-0.6B shape ($dt), batch 4"
  "$py" "$here/tests/bench/generate_bench.py" --bin "$build/bin" --shape qwen3-0.6b --dtype $dt \
    --batch 4 --requests 4 --new-tokens 32 --append "$R"
done
step "sft-train step vs PyTorch/transformers step (CPU)"
"$py" "$here/tests/bench/sft_bench.py" --bin "$build/bin" --append
step "sft-train --sharding none / grad-opt / full on 2 CPU processes: peak memory and step time"
DELIB_BIN="$build/bin" DELIB_PYTHON="$py" "$here/tests/bench/sharding_bench.sh" --append
step "rl-train --sharding none / grad-opt / full on 2 CPU processes: peak memory and step time"
DELIB_BIN="$build/bin" DELIB_PYTHON="$py" "$here/tests/bench/rl_sharding_bench.sh" --append
step "rl-train rollouts: local engine vs the OpenAI-compatible test server, sync vs --async"
DELIB_BIN="$build/bin" DELIB_PYTHON="$py" "$here/tests/bench/rl_rollout_bench.sh" --steps 8 --prompts 4 --group 8 \
  --max-tokens 32 --threads 1 --append
