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
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rl-sharding-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$python" "$here/../cli/sft-train/make_tiny_model.py" model 0 >/dev/null 2>&1  # the tokenizer
"$python" "$here/../cli/rl-train/prompts.py" prompts.jsonl 64
params=$(LAYERS=$layers HIDDEN=$hidden "$python" - <<'PY'
import os, torch
from transformers import LlamaConfig, LlamaForCausalLM
torch.manual_seed(0)
L, C = int(os.environ["LAYERS"]), int(os.environ["HIDDEN"])
cfg = LlamaConfig(vocab_size=32000, hidden_size=C, intermediate_size=C * 8 // 3 // 64 * 64, num_hidden_layers=L,
                  num_attention_heads=C // 64, num_key_value_heads=max(1, C // 256), head_dim=64,
                  max_position_embeddings=1024, tie_word_embeddings=False, torch_dtype="float32")
m = LlamaForCausalLM(cfg)
m.save_pretrained("model", safe_serialization=True)
print(sum(p.numel() for p in m.parameters()))
PY
)
common=(--model model --steps "$steps" --prompts-per-step 1 --group-size "$group" --max-tokens "$max_tokens"
        --lr 1e-5 --kl-coef "$kl" --rule-reward e=1 --seed 1 --threads 1 --plain prompts.jsonl)
rows=()
for sharding in none grad-opt full; do
  port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  pids=()
  for r in 0 1; do
    MALLOC_MMAP_THRESHOLD_=65536 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=$r LOCAL_RANK=$r \
      /usr/bin/time -f %M -o "$sharding.$r.kb" "$bin/rl-train" "${common[@]}" --sharding "$sharding" \
      --metrics "$sharding.m.jsonl" >"$sharding.$r.jsonl" 2>"$sharding.$r.err" &
    pids+=($!)
  done
  for r in 0 1; do wait "${pids[$r]}" || { echo "rank $r ($sharding) failed: $(cat "$sharding.$r.err")" >&2; exit 1; }; done
  rows+=("$("$python" - "$sharding" <<'PY'
import json, statistics, sys
name = sys.argv[1]
kb = max(int(open(f"{name}.{r}.kb").read().split()[-1]) for r in (0, 1))
rows = [json.loads(l) for l in open(f"{name}.m.jsonl")]
step = statistics.median(r["step_time_s"] for r in rows[1:]) if len(rows) > 1 else rows[0]["step_time_s"]
print(f"{name}\t{kb * 1024 / 1e6:.0f}\t{step:.2f}")
PY
)")
done
none_mb=$(cut -f2 <<<"${rows[0]}")
none_s=$(cut -f3 <<<"${rows[0]}")
{
  echo "## rl-train --sharding, 2 CPU processes ($(date -u +%Y-%m-%d), $(uname -m), $(nproc) cores)"
  echo
  echo "Random Llama, $params parameters ($layers layers, hidden $hidden), f32; per process and step 1 prompt x"
  echo "$group completions of up to $max_tokens tokens (local engine), --kl-coef $kl; $steps steps, 1 thread per"
  echo "process; tests/bench/rl_sharding_bench.sh --steps $steps --layers $layers --hidden $hidden --group $group"
  echo "--max-tokens $max_tokens --kl-coef $kl. Peak: max RSS of the process (libtorch included)."
  echo
  echo "| sharding | peak RSS per rank (MB) | vs none | step time (s) | vs none |"
  echo "|---|---|---|---|---|"
  for row in "${rows[@]}"; do
    IFS=$'\t' read -r name mb s <<<"$row"
    awk -v n="$name" -v m="$mb" -v s="$s" -v m0="$none_mb" -v s0="$none_s" \
      'BEGIN { printf "| %s | %d | %.2fx | %.2f | %.2fx |\n", n, m, m / m0, s, s / s0 }'
  done
  echo
  echo "With full the rollout phase holds the whole policy (gathered for local generation): the peak is"
  echo "about 4 + 12/N bytes per parameter against none's 16."
} | tee "$tmp/section.md"
if [ $append = 1 ]; then
  { echo; cat "$tmp/section.md"; } >> "$here/RESULTS.md"
fi
