#!/usr/bin/env bash
# Composite reward on the quickstart world (examples/quickstart): two rl-train runs from the
# same SFT model with the same seed, options and prompts, differing only in the reward:
#   judge   the spec-aware toy judge on the answer (the quickstart's RL stage)
#   judge+or   the same plus --over-refusal (-1 x W when safety-eval's rule grader calls the
#              answer to a benign prompt, expected_action comply, a refusal)
# and prints per run the mean over steps of the per-step metrics benign_refusal_rate (rule
# grader on the answers to benign prompts), harmful_unsafe_rate (the judge's verdict "comply" on
# harmful prompts), reward_judge, and the same over the last half of the steps. The question it
# answers: does the over-refusal penalty keep benign refusals below the judge-only run's
# (Qwen3Guard report: a guard-only reward drove benign refusals to ~96%, a hybrid held them at
# 5-6%)? It measures training rollouts (sampled at --temperature), not a held-out evaluation.
#
# usage: rl_composite.sh [--steps N] [--lr LR] [--weight W] [--seed S (rl-train's; default 1)] [--start sft|base] [--sft-steps N]
#                        [--quick|--full] [--out DIR]
#   --start sft (default): the quickstart's SFT model (built with make -C examples/quickstart
#   sft: QUICK sizes by default, --full for the demo's; --sft-steps N (default 8) overrides its
#   SFT_STEPS, "" keeps the Makefile's: the fully trained SFT model already takes the right action
#   on all but a few prompts, so RL has nothing to move); base: the shipped
#   base model (complies with everything without a spec in context).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
qs=$here/../../examples/quickstart
bin=${DELIB_BIN:-$here/../../build/bin}
python=${DELIB_PYTHON:-$HOME/.cache/delib/venv/bin/python}
# Defaults: the setting measured first (2026-12-04, see the report); ~2 min on 2 cores.
steps=40 lr=1e-3 weight=2 start=sft quick=1 sft_steps=8 seed=1 out=${TMPDIR:-/tmp}/rl-composite
while [ $# -gt 0 ]; do
  case $1 in
    --steps) steps=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --weight) weight=$2; shift 2 ;;
    --start) start=$2; shift 2 ;;
    --sft-steps) sft_steps=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --full) quick=; shift ;;
    --out) out=$2; shift 2 ;;
    *) echo "rl_composite.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
make -s -C "$qs" sft OUT="$out/qs" BIN="$(cd "$bin" && pwd)" PY="$python" QUICK="$quick" \
  ${sft_steps:+SFT_STEPS=$sft_steps} >&2
if [ "$start" = sft ]; then model=$(cat "$out/qs/sft.model"); else model=$qs/model; fi
# The quickstart's RL stage (pipeline.mk RL and RL_OPTS), --steps and --lr aside.
rl=("$bin/rl-train" --spec "$qs/toy-spec.md" --judge-model "$qs/model" --judge-rubric "$qs/rubric.txt"
    --judge-nonce-length 2 --steps "$steps" --prompts-per-step 8 --group-size 4 --lr "$lr" --temperature 1.0
    --max-tokens 64 --engine-batch 32 --judge-batch-size 32 --seed "$seed" --threads 1 --model "$model" -q)
"${rl[@]}" --metrics "$out/judge.metrics.jsonl" -o "$out/judge.rollouts.jsonl" "$out/qs/gen-in.jsonl"
"${rl[@]}" --over-refusal --reward-weight over-refusal="$weight" --metrics "$out/judge+or.metrics.jsonl" \
  -o "$out/judge+or.rollouts.jsonl" "$out/qs/gen-in.jsonl"
"$python" - "$out" "$start" "$steps" "$lr" "$weight" "${sft_steps:-default}" "$seed" <<'PY'
import json, sys
out, start, steps, lr, weight, sft_steps, seed = sys.argv[1:]
def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else float("nan")
print(f"rl-train on the quickstart world from the {start} model (SFT steps {sft_steps}), {steps} steps, lr {lr}, "
      f"over-refusal weight {weight}, seed {seed} (training rollouts, mean over steps)")
print(f"| run | benign refusal | last half | harmful unsafe | last half | judge reward |")
print(f"|---|---|---|---|---|---|")
for run in ("judge", "judge+or"):
    ms = [json.loads(l) for l in open(f"{out}/{run}.metrics.jsonl")]
    half = ms[len(ms) // 2:]
    col = lambda rows, k: mean([m.get(k) for m in rows])
    print(f"| {run} | {col(ms, 'benign_refusal_rate'):.3f} | {col(half, 'benign_refusal_rate'):.3f} "
          f"| {col(ms, 'harmful_unsafe_rate'):.3f} | {col(half, 'harmful_unsafe_rate'):.3f} "
          f"| {col(ms, 'reward_judge'):.3f} |")
PY
