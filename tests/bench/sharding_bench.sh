#!/usr/bin/env bash
# sft-train --sharding on 2 CPU processes (Gloo): peak memory per rank and step time for none,
# grad-opt and full, same model and global batch, next to what --plan predicts. Target (issue
# #20): full <= 0.6x none in peak memory. Prints a Markdown section; --append adds it to
# tests/bench/RESULTS.md. Run it on an idle machine (make bench).
#
# usage: sharding_bench.sh [--steps N] [--layers N] [--hidden N] [--batch N] [--length T]
#                          [--checkpoint-activations] [--append]
#
# On 2 processes full holds 8 of none's 16 bytes per parameter (f32 weights, gradients, AdamW
# m and v) plus the same activations and loss buffers, so the ratio depends on the activations'
# share: --checkpoint-activations (both runs) shows it with the activations mostly gone.
#
# Memory: each process's peak RSS above its RSS before the model was loaded (metrics
# memory_mb - memory_baseline_mb; rank 0 writes the metrics, the ranks are symmetric), with
# glibc's mmap threshold pinned (MALLOC_MMAP_THRESHOLD_) so that freed tensors leave the RSS,
# as --plan counts live bytes. Step time: the median of the steps after the first; with full,
# also the median time a step waited for its all-gathers (gather_wait_s: what prefetching did
# not hide) and how many of its gathers were prefetched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${DELIB_BIN:-$here/../../build/bin}
python=${DELIB_PYTHON:-$HOME/.cache/delib/venv/bin/python}  # as tests/bench/run.sh
steps=6 layers=12 hidden=768 batch=2 length=512 append=0 ckpt=()
while [ $# -gt 0 ]; do
  case $1 in
    --steps) steps=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --hidden) hidden=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --length) length=$2; shift 2 ;;
    --checkpoint-activations) ckpt=(--checkpoint-activations); shift ;;
    --append) append=1; shift ;;
    *) echo "sharding_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sharding-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$python" "$here/../cli/sft-train/make_tiny_model.py" model 0 >/dev/null 2>&1  # the tokenizer
T=$(LAYERS=$layers HIDDEN=$hidden LENGTH=$length "$python" - <<'PY'
import json, os, torch
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM
torch.manual_seed(0)
L, C, T = int(os.environ["LAYERS"]), int(os.environ["HIDDEN"]), int(os.environ["LENGTH"])
cfg = LlamaConfig(vocab_size=32000, hidden_size=C, intermediate_size=C * 8 // 3 // 64 * 64,
                  num_hidden_layers=L, num_attention_heads=C // 64, num_key_value_heads=max(1, C // 256),
                  head_dim=64, max_position_embeddings=max(1024, T), tie_word_embeddings=False,
                  torch_dtype="float32")
LlamaForCausalLM(cfg).save_pretrained("model", safe_serialization=True)
tok = Tokenizer.from_file("model/tokenizer.json")
text, unit = "Q:", " the policy allows general information"
k = 1
while len(tok.encode(" " + unit.strip() + unit * k).ids) + len(tok.encode(text).ids) + 1 < T - 8:
    k += 1
target = " " + unit.strip() + unit * (k - 1)
n = len(tok.encode(text).ids) + len(tok.encode(target).ids) + 1
with open("data.jsonl", "w") as f:
    for i in range(64):
        f.write(json.dumps({"id": f"r{i}", "text": text, "target": target}) + "\n")
print(n)
PY
)
params=$(awk -F': ' '/^parameters:/{split($2, a, " "); print a[1]}' <("$bin/sft-train" --plan --model model))
common=(--model model --padding --plain --max-length "$T" --batch-size "$batch" --max-steps "$steps" --threads 1 "${ckpt[@]}" data.jsonl)
rows=()
for sharding in none grad-opt full; do
  planned=$("$bin/sft-train" --plan --model model --batch-size "$batch" --max-length "$T" --world-size 2 \
              --sharding "$sharding" "${ckpt[@]}" | awk '/^  peak /{print $(NF-2)}')
  port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  pids=()
  for r in 0 1; do
    MALLOC_MMAP_THRESHOLD_=65536 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=$r LOCAL_RANK=$r \
      "$bin/sft-train" "${common[@]}" --sharding "$sharding" >"$sharding.$r.jsonl" 2>"$sharding.$r.err" &
    pids+=($!)
  done
  for r in 0 1; do wait "${pids[$r]}" || { echo "rank $r ($sharding) failed: $(cat "$sharding.$r.err")" >&2; exit 1; }; done
  rows+=("$("$python" - "$sharding" "$planned" <<'PY'
import json, statistics, sys
name, planned = sys.argv[1], int(sys.argv[2])
rows = [json.loads(l) for l in open(f"{name}.0.jsonl")]
peak = max(r["memory_mb"] for r in rows) - rows[0]["memory_baseline_mb"]
step = statistics.median(r["step_time_s"] for r in rows[1:])
wait = "-"
if "gather_wait_s" in rows[0]:
    wait = (f"{statistics.median(r['gather_wait_s'] for r in rows[1:]):.2f} "
            f"({sum(r['prefetched'] for r in rows[1:])}/{sum(r['gathers'] for r in rows[1:])} prefetched)")
print(f"{name}\t{peak * 2**20 / 1e6:.0f}\t{planned / 1e6:.0f}\t{step:.2f}\t{wait}")
PY
)")
done
none_mb=$(cut -f2 <<<"${rows[0]}")
none_s=$(cut -f4 <<<"${rows[0]}")
{
  echo "## sft-train --sharding, 2 CPU processes ($(date -u +%Y-%m-%d), $(uname -m), $(nproc) cores)"
  echo
  echo "Random Llama, $params parameters ($layers layers, hidden $hidden), f32, batch $batch x $T tokens per"
  echo "process, $steps steps, 1 thread per process$([ ${#ckpt[@]} -gt 0 ] && echo ', activation checkpointing'); tests/bench/sharding_bench.sh${ckpt[*]:+ ${ckpt[*]}}."
  echo
  echo "| sharding | peak per rank (MB) | planned (MB) | vs none | step time (s) | vs none | gather wait (s) |"
  echo "|---|---|---|---|---|---|---|"
  for row in "${rows[@]}"; do
    IFS=$'\t' read -r name mb plan s wait <<<"$row"
    awk -v n="$name" -v m="$mb" -v p="$plan" -v s="$s" -v m0="$none_mb" -v s0="$none_s" -v w="$wait" \
      'BEGIN { printf "| %s | %d | %d | %.2fx | %.2f | %.2fx | %s |\n", n, m, p, m / m0, s, s / s0, w }'
  done
  echo
  echo "Target: full <= 0.6x none in peak memory per rank."
} | tee "$tmp/section.md"
if [ $append = 1 ]; then
  { echo; cat "$tmp/section.md"; } >> "$here/RESULTS.md"
fi
