# GRPO with rollouts sampled by the test server (transformers, the same tiny model) and the
# policy pushed back after every update (full fine-tuning: /update_weights_from_disk): a rule
# reward's mean rises over a fixed-seed run, as with the local engine (train.sh;
# 12 steps at a higher learning rate to keep the case short).
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 8
start_server srv --mode model --model-dir model --model-name base
# Reward answers that start with a lowercase letter (~27% of random first characters).
run rl-train --model model --steps 12 --prompts-per-step 4 --group-size 8 --kl-coef 0.01 --lr 3e-2 \
  --max-tokens 4 --temperature 1 --rule-reward '^[a-z]=1' --reward-weight format=0 --seed 5 \
  --threads 1 --out ckpt --metrics metrics.jsonl --plain -q \
  --rollout-backend openai --rollout-base-url "$srv_url" --rollout-model base prompts.jsonl
expect_rc 0
printf '%s\n' "$out" > rollouts.jsonl
"$DELIB_PYTHON" - <<'PY' || fail "reward check failed"
import json
rows = [json.loads(l) for l in open("rollouts.jsonl")]
metrics = [json.loads(l) for l in open("metrics.jsonl")]
assert len(rows) == 12 * 4 * 8 and len(metrics) == 12, (len(rows), len(metrics))
assert all(r["policy_version"] == r["step"] - 1 for r in rows)
assert all(m["rollout_logprob_diff_max"] <= 1e-4 for m in metrics), [m["rollout_logprob_diff_max"] for m in metrics]
mean = lambda s: sum(r["reward"] for r in rows if r["step"] in s) / sum(1 for r in rows if r["step"] in s)
first, last = mean(range(1, 5)), mean(range(9, 13))
assert last > first + 0.3, (first, last)
print(f"mean reward steps 1-4 {first:.3f}, steps 9-12 {last:.3f}")
PY
