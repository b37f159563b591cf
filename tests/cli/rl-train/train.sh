# GRPO end to end through the CLI on a tiny random Qwen3 with a rule reward: the rollouts are
# records (input fields untouched, documented fields added, one per completion), the mean
# reward rises over a fixed-seed run, and the checkpoint loads in transformers.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 8
# Reward answers that start with a lowercase letter (~27% of random first characters).
run rl-train --model model --steps 30 --prompts-per-step 4 --group-size 8 --kl-coef 0.01 --lr 1e-2 \
  --max-tokens 4 --temperature 1 --rule-reward '^[a-z]=1' --reward-weight format=0 --seed 5 \
  --threads 1 --out ckpt --plain prompts.jsonl
expect_rc 0
printf '%s\n' "$out" > rollouts.jsonl
"$DELIB_PYTHON" - <<'PY' || fail "rollout check failed"
import json
src = {json.loads(l)["id"]: json.loads(l) for l in open("prompts.jsonl")}
rows = [json.loads(l) for l in open("rollouts.jsonl")]
assert len(rows) == 30 * 4 * 8, len(rows)
for i, r in enumerate(rows):
    assert (r["step"], r["sample"]) == (i // 32 + 1, i % 8), (i, r)
    assert isinstance(r["reasoning"], str) and isinstance(r["answer"], str) and isinstance(r["format_ok"], bool), r
    assert r["meta"] == src[r["id"]]["meta"] and r["messages"] == src[r["id"]]["messages"], r
    assert r["rewards"]["rule"] == (1 if r["answer"][:1].islower() and r["answer"][:1].isascii() else 0), r
    assert r["reward"] == r["rewards"]["rule"], r   # --reward-weight format=0
    assert r["kl"] >= 0 and "judge_error" not in r, r
# group-normalised advantages: each (step, id) group of 8 sums to ~0
groups = {}
for r in rows:
    groups.setdefault((r["step"], r["id"]), []).append(r)
assert all(len(g) == 8 and abs(sum(x["advantage"] for x in g)) < 1e-6 for g in groups.values())
mean = lambda s: sum(r["reward"] for r in rows if r["step"] in s) / sum(1 for r in rows if r["step"] in s)
first, last = mean(range(1, 9)), mean(range(23, 31))
assert last > first + 0.25, (first, last)
print(f"mean reward steps 1-8 {first:.3f}, steps 23-30 {last:.3f}")
PY
"$DELIB_PYTHON" - <<'PY' || fail "transformers cannot load the checkpoint"
import json, os
from transformers import AutoModelForCausalLM
d = os.path.join("ckpt", open("ckpt/latest").read().strip())
m = AutoModelForCausalLM.from_pretrained(d)
st = json.load(open(os.path.join(d, "trainer_state.json")))
assert st["step"] == 30, st
PY
