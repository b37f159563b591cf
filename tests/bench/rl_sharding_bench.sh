#!/usr/bin/env bash
# rl-train --sharding on 2 CPU processes (Gloo): peak memory per rank and step time for none,
# grad-opt and full, same model and global batch. Prints a Markdown section; --append adds it to
# tests/bench/RESULTS.md. Run it on an idle machine.
#
# usage: rl_sharding_bench.sh [--steps N] [--layers N] [--hidden N] [--group G] [--max-tokens T]
#                             [--kl-coef B] [--append]
#
# What to expect (RlOptions::sharding): none holds 16 bytes per parameter on every rank (f32
# weights, gradients, AdamW m and v); full holds 12/N of them (its part of the weights, m and v)
# between phases, but local rollouts gather the whole policy (4 bytes per parameter) for their
# phase, so its peak is about 4 + 12/N, against grad-opt's 4 + 12/N + a full gradient per unit
# in flight. --kl-coef > 0 adds the replicated reference model (4 bytes per parameter) to
# every strategy.
#
# Memory: each process's maximum RSS (GNU time %M, the whole process: libtorch included), with
# glibc's mmap threshold pinned (MALLOC_MMAP_THRESHOLD_) so that freed tensors leave the RSS;
# the larger of the two ranks. Step time: the median step_time_s of the steps after the first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${DELIB_BIN:-$here/../../build/bin}" && pwd)
python=${DELIB_PYTHON:-$HOME/.cache/delib/venv/bin/python}  # as tests/bench/run.sh
steps=4 layers=12 hidden=768 group=4 max_tokens=32 kl=0 append=0
while [ $# -gt 0 ]; do
  case $1 in
    --steps) steps=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --hidden) hidden=$2; shift 2 ;;
    --group) group=$2; shift 2 ;;
    --max-tokens) max_tokens=$2; shift 2 ;;
    --kl-coef) kl=$2; shift 2 ;;
    --append) append=1; shift ;;
    *) echo "rl_sharding_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
source "$here/sharding.bash"  # into a scratch directory, with the tokenizer in model/
"$python" "$here/../cli/rl-train/prompts.py" prompts.jsonl 64
params=$(random_llama "$layers" "$hidden" 1024)
common=(--model model --steps "$steps" --prompts-per-step 1 --group-size "$group" --max-tokens "$max_tokens"
        --lr 1e-5 --kl-coef "$kl" --rule-reward e=1 --seed 1 --threads 1 --plain prompts.jsonl)
for sharding in none grad-opt full; do
  # GNU time's report, "max_rss_kb KB", ends each rank's stderr.
  MALLOC_MMAP_THRESHOLD_=65536 run_ranks "$sharding" 2 /usr/bin/time -f 'max_rss_kb %M' "$bin/rl-train" "${common[@]}" \
    --sharding "$sharding" --metrics "$sharding.m.jsonl"
  ranks_ok "$sharding" 2
  mb=$(awk '$1 == "max_rss_kb" && $2 > m { m = $2 } END { printf "%.0f", m * 1024 / 1e6 }' "$sharding".[01].err)
  printf '%s\t%s\t%s\n' "$sharding" "$mb" "$(median_step "$sharding.m.jsonl")"
done > rows.tsv
{
  section_title "rl-train --sharding, 2 CPU processes"
  echo
  echo "Random Llama, $params parameters ($layers layers, hidden $hidden), f32; per process and step 1 prompt x"
  echo "$group completions of up to $max_tokens tokens (local engine), --kl-coef $kl; $steps steps, 1 thread per"
  echo "process; tests/bench/rl_sharding_bench.sh --steps $steps --layers $layers --hidden $hidden --group $group"
  echo "--max-tokens $max_tokens --kl-coef $kl. Peak: max RSS of the process (libtorch included)."
  echo
  sharding_table "peak RSS per rank (MB)" < rows.tsv
  echo
  echo "With full the rollout phase holds the whole policy (gathered for local generation): the peak is"
  echo "about 4 + 12/N bytes per parameter against none's 16."
} | publish
