# rl-train --rollout-backend openai with two processes when the rollouts of one process fail: the
# server answers 500 to every request for the prompt that rank 1 draws in step 2 (--fail-prompt)
# while it serves rank 0's. Both processes stop with exit 4 after step 1 (rank 1 naming its failed
# rollout, rank 0 learning it from the draw's collective and saying so), none hangs, and what rank
# 0 writes holds whole steps only (step 1's rollouts, metrics and checkpoint, nothing of step 2);
# --resume against a server that answers continues from checkpoint 1, and its steps 2-3 equal,
# bit for bit, those of a run that was never stopped. With --async the failure comes from the
# thread that prefetched step 2's rollouts while step 1 trained, and is met when step 2 takes
# them: the same stop, and the resumed run samples step 2 afresh with the resumed policy
# (policy_version 1 on every rank: the checkpoint written at the stop holds no prefetch), then
# stays one update stale (step 3: version 1).
# (server_distributed_outage.sh: the weight push fails.)
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
# stopped NAME VERSION FLAGS...: the run NAME against the failing server stops as it must; rank 1's
# failed requests asked for policy VERSION.
stopped() {
  run_ranks $1 2 rl-train "${common[@]}" --rollout-base-url "$bad_url" --out $1 --metrics $1.m.jsonl "${@:3}"
  ranks_rc $1 2 4
  # (a rollout's key is PROMPT@STEPS_DONE)
  grep -q "rollout ${victim%% *}@1 sample [01] (model base, policy version $2): .*HTTP 500" $1.1.err \
    || fail "$1: rank 1 does not name its failed rollout: $(cat $1.1.err)"
  grep -q "the rollouts of another process failed" $1.0.err || fail "$1: rank 0: $(cat $1.0.err)"
  only_step1 $1
}
stopped cut 1
# The reference run's server: the resumed run pushes checkpoint 1's policy before its rollouts.
run_ranks resumed 2 rl-train "${common[@]}" --rollout-base-url "$ref_url" --out cut --resume cut
ranks_ok resumed 2
grep -q "resuming from cut/checkpoint-00000001" resumed.0.err || fail "did not resume: $(cat resumed.0.err)"
py <<'PY' || fail "the resumed run differs from the uninterrupted one"
from rollouts import resumed_equal
print("one rank's rollouts failed in step 2; after --resume, steps 1 to",
      resumed_equal("ref.0.jsonl", ["cut.0.jsonl", "resumed.0.jsonl"]), "equal the uninterrupted run's")
PY

# --async: step 2's rollouts were prefetched (policy version 0) while step 1 trained.
stopped acut 0 --async
run_ranks aresumed 2 rl-train "${common[@]}" --rollout-base-url "$ref_url" --out acut --resume acut --async
ranks_ok aresumed 2
py <<'PY' || fail "the resumed --async run"
import json
rows = [json.loads(l) for l in open("aresumed.0.jsonl")]
assert [(r["step"], r["policy_version"]) for r in rows] == [(2, 1)] * 4 + [(3, 1)] * 4, rows
PY
