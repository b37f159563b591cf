# Two Gloo processes (torchrun-style environment), each with half the prompts per step, equal
# one process: rank 0 writes every rank's rollouts (same completions and rewards), and the
# final weights agree to float rounding.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 1 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 6
common=(--model model --group-size 4 --lr 1e-2 --max-tokens 12 --seed 1 --threads 1 --rule-reward e=1
        --steps 3 --plain prompts.jsonl)
run rl-train "${common[@]}" --prompts-per-step 2 --out one
expect_rc 0
printf '%s\n' "$out" > one.jsonl
run_ranks two 2 rl-train "${common[@]}" --prompts-per-step 1 --out two
ranks_ok two 2   # rank 1 writes no rollouts itself: rank 0 writes every rank's
"$DELIB_PYTHON" - <<'PY' || fail "2 processes differ from 1"
import json
from safetensors.torch import load_file
one = [json.loads(l) for l in open("one.jsonl")]
two = [json.loads(l) for l in open("two.0.jsonl")]
assert len(one) == len(two) == 3 * 2 * 4, (len(one), len(two))
for a, b in zip(one, two):
    for k in ("step", "id", "sample", "answer", "rewards", "reward", "meta"):
        assert a[k] == b[k], (k, a[k], b[k])
    for k in ("advantage", "kl"):
        assert abs(a[k] - b[k]) <= 1e-5, (k, a[k], b[k])
w1 = load_file("one/checkpoint-00000003/model.safetensors")
w2 = load_file("two/checkpoint-00000003/model.safetensors")
assert w1.keys() == w2.keys()
d = max((w1[k] - w2[k]).abs().max().item() for k in w1)
assert d < 1e-4, d
print("max weight difference", d)
# The run state counts every rank's tokens (it counted rank 0's only before).
s1 = json.load(open("one/checkpoint-00000003/trainer_state.json"))
s2 = json.load(open("two/checkpoint-00000003/trainer_state.json"))
assert s1["tokens_seen"] > 0 and s1["tokens_seen"] == s2["tokens_seen"], (s1["tokens_seen"], s2["tokens_seen"])
PY
