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
bin=$(cd "${DELIB_BIN:-$here/../../build/bin}" && pwd)
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
source "$here/sharding.bash"  # into a scratch directory, with the tokenizer in model/
params=$(random_llama "$layers" "$hidden" $((length > 1024 ? length : 1024)))
T=$(LENGTH=$length "$python" - <<'PY'
import json, os
from tokenizers import Tokenizer
T = int(os.environ["LENGTH"])
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
common=(--model model --padding --plain --max-length "$T" --batch-size "$batch" --max-steps "$steps" --threads 1 "${ckpt[@]}" data.jsonl)
for sharding in none grad-opt full; do
  planned=$("$bin/sft-train" --plan --model model --batch-size "$batch" --max-length "$T" --world-size 2 \
              --sharding "$sharding" "${ckpt[@]}" | awk '/^  peak /{print $(NF-2)}')
  MALLOC_MMAP_THRESHOLD_=65536 run_ranks "$sharding" 2 "$bin/sft-train" "${common[@]}" --sharding "$sharding"
  ranks_ok "$sharding" 2
  "$python" - "$sharding" "$planned" "$(median_step "$sharding.0.jsonl")" <<'PY'
import json, statistics, sys
name, planned, step = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [json.loads(l) for l in open(f"{name}.0.jsonl")]
peak = max(r["memory_mb"] for r in rows) - rows[0]["memory_baseline_mb"]
wait = "-"
if "gather_wait_s" in rows[0]:
    wait = (f"{statistics.median(r['gather_wait_s'] for r in rows[1:]):.2f} "
            f"({sum(r['prefetched'] for r in rows[1:])}/{sum(r['gathers'] for r in rows[1:])} prefetched)")
print(f"{name}\t{peak * 2**20 / 1e6:.0f}\t{step}\t{planned / 1e6:.0f}\t{wait}")
PY
done > rows.tsv
{
  section_title "sft-train --sharding, 2 CPU processes"
  echo
  echo "Random Llama, $params parameters ($layers layers, hidden $hidden), f32, batch $batch x $T tokens per"
  echo "process, $steps steps, 1 thread per process$([ ${#ckpt[@]} -gt 0 ] && echo ', activation checkpointing'); tests/bench/sharding_bench.sh${ckpt[*]:+ ${ckpt[*]}}."
  echo
  sharding_table "peak per rank (MB)" "planned (MB)" "gather wait (s)" < rows.tsv
  echo
  echo "Target: full <= 0.6x none in peak memory per rank."
} | publish
