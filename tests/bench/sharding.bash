# Sourced by sharding_bench.sh (sft-train) and rl_sharding_bench.sh (rl-train): what the two
# --sharding benchmarks share. Needs `python` (the venv's interpreter) and `append` (1: add the
# section to RESULTS.md) set by the script. Moves into a scratch directory (removed on exit) with
# the tiny test model's tokenizer in model/ (make_tiny_model.py).
#
# - run_ranks / ranks_ok of tests/cli/lib.sh start the processes (torchrun-style environment, a
#   free port; no time limit here: a benchmark may run long) and stop the script, naming the
#   rank, when one fails;
# - random_llama LAYERS HIDDEN MAX_POSITIONS: a random f32 Llama in model/ (head dim 64, MLP 8/3
#   of the hidden size, 32000 tokens, untied); prints its parameter count;
# - median_step NAME: the median step_time_s of the steps after the first in NAME's metrics;
# - sharding_table PEAK_HEADER [EXTRA_HEADER...]: the Markdown table of the strategies' rows (TSV
#   on stdin, none's first: name, peak MB, step time s, then one value per EXTRA_HEADER), each
#   strategy's peak and step time also relative to none's;
# - section_title TEXT: the "## TEXT (date, machine, cores)" heading of a RESULTS.md section;
# - publish: prints the section on stdin and, with append=1, adds it to RESULTS.md.
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DELIB_PYTHON=$python
source "$bench_dir/../cli/lib.sh"
RANKS_TIMEOUT=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$(basename "$0" .sh).XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$python" "$bench_dir/../cli/sft-train/make_tiny_model.py" model 0 >/dev/null 2>&1

random_llama() {
  LAYERS=$1 HIDDEN=$2 MAXPOS=$3 "$python" - <<'PY'
import os, torch
from transformers import LlamaConfig, LlamaForCausalLM
torch.manual_seed(0)
L, C = int(os.environ["LAYERS"]), int(os.environ["HIDDEN"])
cfg = LlamaConfig(vocab_size=32000, hidden_size=C, intermediate_size=C * 8 // 3 // 64 * 64, num_hidden_layers=L,
                  num_attention_heads=C // 64, num_key_value_heads=max(1, C // 256), head_dim=64,
                  max_position_embeddings=int(os.environ["MAXPOS"]), tie_word_embeddings=False,
                  torch_dtype="float32")
m = LlamaForCausalLM(cfg)
m.save_pretrained("model", safe_serialization=True)
print(sum(p.numel() for p in m.parameters()))
PY
}

median_step() {
  "$python" - "$1" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{statistics.median(r['step_time_s'] for r in (rows[1:] or rows)):.2f}")
PY
}

sharding_table() {
  local h
  printf '| sharding | %s | vs none | step time (s) | vs none |' "$1"
  for h in "${@:2}"; do printf ' %s |' "$h"; done
  printf '\n|---|---|---|---|---|'
  for h in "${@:2}"; do printf -- '---|'; done
  printf '\n'
  awk -F'\t' 'NR == 1 { m0 = $2; s0 = $3 }
    { line = sprintf("| %s | %d | %.2fx | %.2f | %.2fx |", $1, $2, $2 / m0, $3, $3 / s0)
      for (i = 4; i <= NF; i++) line = line " " $i " |"
      print line }'
}

section_title() { echo "## $1 ($(date -u +%Y-%m-%d), $(uname -m), $(nproc) cores)"; }

publish() {
  local section
  section=$(cat)
  printf '%s\n' "$section"
  if [ "$append" = 1 ]; then printf '\n%s\n' "$section" >> "$bench_dir/RESULTS.md"; fi
}
