#!/usr/bin/env bash
# The quickstart demo: deliberative alignment end to end on CPU with the shipped toy model.
#   1. spec-lint the toy spec
#   2. cot-gen: the model answers the training prompts WITH the spec view in its context
#   3. cot-judge: the same model judges each sample against the spec, min of k, keeps the good
#   4. sft-train: fine-tune on the kept (prompt -> reasoning, answer) WITHOUT the spec
#   5. rl-train: a short RL run, reward = the spec-aware judge on the answer
#   6. safety-eval: base, SFT and RL models WITHOUT the spec on two held-out splits: new
#      phrasings of the topics trained on (source seen-topics) and 8 topics that none of the
#      demo's data contains (source unseen-topics); table + plot, world.py's per-split table
# Usage: examples/quickstart/run.sh [OUT_DIR]   (env: DELIB_BIN, PYTHON, QUICK=1 for CI sizes)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${DELIB_BIN:-$ROOT/build/bin}
PY=${PYTHON:-python3}
OUT=${1:-$HERE/work/demo}
MODEL=${MODEL:-$HERE/model}
SPEC=$HERE/toy-spec.md
if [[ -n "${QUICK:-}" ]]; then
  SAMPLES=2; JUDGE_K=2; SFT_STEPS=40; RL_STEPS=2; PER_TOPIC=2
else
  SAMPLES=4; JUDGE_K=3; SFT_STEPS=150; RL_STEPS=10; PER_TOPIC=6
fi
export SEED=${SEED:-1}
# Torch threads for the training steps: on a shared 2-core machine 1 thread was much faster.
THREADS=${THREADS:-1}
mkdir -p "$OUT"
step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)" >&2; }

step "spec-lint"
"$BIN/spec-lint" "$SPEC"

step "toy prompts"
"$PY" "$HERE/world.py" prompts "$OUT/prompts"
# cot-gen input (and RL's prompts): at most PER_TOPIC training phrasings of each SEEN topic
# (train.jsonl holds no unseen topic; keeps the demo short).
"$PY" - "$OUT/prompts/train.jsonl" "$PER_TOPIC" > "$OUT/gen-in.jsonl" <<'PYEOF'
import json, sys
seen = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    seen[r["topic"]] = seen.get(r["topic"], 0) + 1
    if seen[r["topic"]] <= int(sys.argv[2]):
        print(line, end="")
PYEOF

step "cot-gen: $SAMPLES samples per prompt with the spec in context"
"$BIN/cot-gen" --spec "$SPEC" --instructions "$HERE/instructions.txt" --model "$MODEL" \
  --samples "$SAMPLES" --temperature 1.0 --max-tokens 64 --seed "$SEED" --batch-size 64 \
  "$OUT/gen-in.jsonl" -o "$OUT/gen.jsonl"

step "cot-judge: $JUDGE_K judgements per sample, keep min score >= 8"
# --max-failures 1%: the toy judge (the same 0.28M-parameter model, at temperature 0.5) now and
# then gives no parseable verdict even after cot-judge's 2 re-asks: measured 1 record of 2520
# over SEED=1..5 at both demo sizes (1 of 432 at SEED=1). Such a record is written with
# judge.error and no score, so --min-score leaves it out; the strict default (0) is for real
# judges.
"$BIN/cot-judge" --spec "$SPEC" --rubric "$HERE/rubric.txt" --model "$MODEL" --nonce-length 2 \
  --judge-samples "$JUDGE_K" --aggregate min --min-score 8 --temperature 0.5 --max-tokens 64 --batch-size 64 \
  --max-failures 1% --seed "$SEED" "$OUT/gen.jsonl" -o "$OUT/kept.jsonl"
echo "kept $(wc -l < "$OUT/kept.jsonl") of $(wc -l < "$OUT/gen.jsonl") samples" >&2

step "sft-train: $SFT_STEPS steps on the kept data, spec NOT in context"
rm -rf "$OUT/sft"
"$BIN/sft-train" --model "$MODEL" --out "$OUT/sft" --max-steps "$SFT_STEPS" --lr 1e-3 \
  --batch-size 16 --warmup-steps 10 --seed "$SEED" --threads "$THREADS" "$OUT/kept.jsonl" -o "$OUT/sft-metrics.jsonl"
SFT_MODEL=$("$PY" -c 'import os,sys; d=sys.argv[1]; l=os.path.join(d,"latest"); print(os.path.realpath(l) if os.path.islink(l) else os.path.join(d, open(l).read().strip()))' "$OUT/sft")

step "rl-train: $RL_STEPS steps, reward = spec-aware judge on the answer"
rm -rf "$OUT/rl"
"$BIN/rl-train" --model "$SFT_MODEL" --spec "$SPEC" --judge-model "$MODEL" \
  --judge-rubric "$HERE/rubric.txt" --judge-nonce-length 2 --steps "$RL_STEPS" \
  --prompts-per-step 8 --group-size 4 --lr 1e-4 --temperature 1.0 --max-tokens 64 \
  --engine-batch 32 --judge-batch-size 32 \
  --seed "$SEED" --threads "$THREADS" --out "$OUT/rl" "$OUT/gen-in.jsonl" -o "$OUT/rl-rollouts.jsonl"
RL_MODEL=$("$PY" -c 'import os,sys; d=sys.argv[1]; l=os.path.join(d,"latest"); print(os.path.realpath(l) if os.path.islink(l) else os.path.join(d, open(l).read().strip()))' "$OUT/rl")

step "safety-eval on held-out prompts (seen topics, new phrasings; unseen topics), spec NOT in context"
# One run per model over both splits: the table's `seen-topics: ...` and `unseen-topics: ...`
# rows are the splits; its overall rows and the plot pool them.
cat "$OUT/prompts/heldout.jsonl" "$OUT/prompts/unseen-topics.jsonl" > "$OUT/eval-in.jsonl"
rm -f "$OUT/acceptance.txt"
for run in base:$MODEL sft:$SFT_MODEL rl:$RL_MODEL; do
  name=${run%%:*}; dir=${run#*:}
  "$BIN/safety-eval" --model "$dir" --spec "$SPEC" --temperature 0 --max-tokens 64 --batch-size 64 \
    --name "$name" --seed "$SEED" --json "$OUT/$name.json" \
    "$OUT/eval-in.jsonl" -o "$OUT/$name-eval.jsonl"
  echo "$name: $("$PY" "$HERE/world.py" score "$OUT/$name-eval.jsonl")" >> "$OUT/acceptance.txt"
done
"$BIN/safety-eval" --compare "$OUT/base.json" "$OUT/sft.json" "$OUT/rl.json" --plot "$OUT/pareto.svg"
echo
echo "Acceptance numbers per split, spec NOT in context, greedy (95% Wilson intervals):"
"$PY" "$HERE/world.py" table "$OUT/acceptance.txt"
echo "acceptance numbers: $OUT/acceptance.txt; Pareto plot: $OUT/pareto.svg" >&2
