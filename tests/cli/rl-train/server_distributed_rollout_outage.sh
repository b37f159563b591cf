# rl-train --rollout-backend openai with two processes when the rollouts of one process fail: the
# server answers 500 to every request for the prompt that rank 1 draws in step 2 (--fail-prompt)
# while it serves rank 0's. Both processes stop with exit 4 after step 1 (rank 1 naming its failed
# rollout, rank 0 learning it from the draw's collective and saying so), none hangs, and what rank
# 0 writes holds whole steps only (step 1's rollouts, metrics and checkpoint, nothing of step 2);
# --resume against a server that answers continues from checkpoint 1, and its steps 2-3 equal,
# bit for bit, those of a run that was never stopped. (server_distributed_outage.sh: the weight
# push fails.)
prompts=4
source "$CASE_DIR/server_distributed.bash"
common+=(--steps 3 --prompts-per-step 1 --group-size 2 --max-tokens 4 --kl-coef 0)

# The uninterrupted run, whose step 2 tells which prompt rank 1 draws there (rank 0 writes its
# own group first, then rank 1's).
start_server ref --mode model --model-dir model --model-name base
run_ranks ref 2 rl-train "${common[@]}" --rollout-base-url "$ref_url" --out ref
ranks_ok ref 2
victim=$(py <<'PY'
import json
step2 = [r for r in map(json.loads, open("ref.0.jsonl")) if r["step"] == 2]
assert len(step2) == 4 and step2[0]["id"] != step2[2]["id"], step2
prompt = next(p for p in map(json.loads, open("prompts.jsonl")) if p["id"] == step2[2]["id"])
print(prompt["id"], prompt["messages"][-1]["content"])
PY
)
start_server bad --mode model --model-dir model --model-name base --fail-prompt "${victim#* }"
run_ranks cut 2 rl-train "${common[@]}" --rollout-base-url "$bad_url" --out cut --metrics cut.m.jsonl
ranks_rc cut 2 4
# (a rollout's key is PROMPT@STEPS_DONE)
grep -q "rollout ${victim%% *}@1 sample [01] (model base, policy version 1): .*HTTP 500" cut.1.err \
  || fail "rank 1 does not name its failed rollout: $(cat cut.1.err)"
grep -q "the rollouts of another process failed" cut.0.err || fail "rank 0: $(cat cut.0.err)"
only_step1 cut
# The reference run's server: the resumed run pushes checkpoint 1's policy before its rollouts.
run_ranks resumed 2 rl-train "${common[@]}" --rollout-base-url "$ref_url" --out cut --resume cut
ranks_ok resumed 2
grep -q "resuming from cut/checkpoint-00000001" resumed.0.err || fail "did not resume: $(cat resumed.0.err)"
py <<'PY' || fail "the resumed run differs from the uninterrupted one"
from rollouts import resumed_equal
print("one rank's rollouts failed in step 2; after --resume, steps 1 to",
      resumed_equal("ref.0.jsonl", ["cut.0.jsonl", "resumed.0.jsonl"]), "equal the uninterrupted run's")
PY
