# rl-train --loss grpo|dr-grpo|dapo|gspo through the CLI on a tiny random Qwen3 with a rule
# reward: every variant trains (exit 0), the flag reaches the objective (each loss ends at
# different weights from the same seed), dr-grpo's advantages are r - mean(r) (no std), the
# default is grpo (identical to --loss grpo), --overlong-buffer adds DAPO's overlong reward
# (eq. 13) to the rollouts, and bad values are usage errors. The --stop strings end completions at
# different lengths (without them every completion is --max-tokens long and DAPO's token mean
# equals GRPO's mean of sequence means).
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/rl-train/prompts.py" prompts.jsonl 4
common=(--model model --steps 2 --prompts-per-step 2 --group-size 4 --kl-coef 0.01 --lr 1e-2 --max-tokens 6
        --temperature 1 --stop e --stop a --stop o --rule-reward '^[a-z]=1' --seed 5 --threads 1 --plain prompts.jsonl)
for loss in default grpo dr-grpo dapo gspo; do
  flag=(--loss "$loss"); [ "$loss" = default ] && flag=()
  extra=(); [ "$loss" = dapo ] && extra=(--overlong-buffer 3)
  run rl-train "${common[@]}" "${flag[@]}" "${extra[@]}" --out "ck-$loss" --metrics "m-$loss.jsonl"
  expect_rc 0
  printf '%s\n' "$out" > "r-$loss.jsonl"
done
py <<'PY' || fail "loss variants"
import hashlib, json, os
def weights(loss):
    d = os.path.join(f"ck-{loss}", open(f"ck-{loss}/latest").read().strip())
    return hashlib.sha256(open(os.path.join(d, "model.safetensors"), "rb").read()).hexdigest()
w = {l: weights(l) for l in ["default", "grpo", "dr-grpo", "dapo", "gspo"]}
assert w["default"] == w["grpo"], "the default objective is grpo"
assert len({w[l] for l in ["grpo", "dr-grpo", "dapo", "gspo"]}) == 4, w
rows = lambda l: [json.loads(x) for x in open(f"r-{l}.jsonl")]
# Step 1 (same policy, same samples) has the same rewards under every loss; the advantages
# differ: grpo (r - mean) / (std + 1e-4), dr-grpo r - mean.
g, d = rows("grpo"), rows("dr-grpo")
groups = {}
for a, b in zip(g, d):
    if a["step"] != 1: continue
    assert a["answer"] == b["answer"] and a["reward"] == b["reward"], (a, b)
    groups.setdefault(a["id"], []).append((a, b))
signal = 0
for m in groups.values():
    rs = [a["reward"] for a, _ in m]
    mean = sum(rs) / len(rs)
    std = (sum((r - mean) ** 2 for r in rs) / len(rs)) ** 0.5
    for a, b in m:
        assert abs(b["advantage"] - (a["reward"] - mean)) < 1e-9, (b, mean)
        assert abs(a["advantage"] - (a["reward"] - mean) / (std + 1e-4)) < 1e-6, (a, mean, std)
    signal += std > 0
assert signal > 0, "no group with a signal: the check above compared zeros only"
# dapo with --overlong-buffer 3 and --max-tokens 6: the overlong component of eq. 13.
for r in rows("dapo"):
    n = r["rewards"]
    assert "overlong" in n, r
    # |y| is not in the record; the value is one of 0, -1/3, -2/3, -1 (|y| <= 6).
    assert any(abs(n["overlong"] - v) < 1e-12 for v in (0, -1/3, -2/3, -1)), r
assert any(r["rewards"]["overlong"] < 0 for r in rows("dapo")), "no completion reached the buffer"
assert all("overlong" not in r["rewards"] for r in g)
for l in ["grpo", "dr-grpo", "dapo", "gspo"]:
    for m in map(json.loads, open(f"m-{l}.jsonl")):
        assert m["updated"] and m["grad_norm"] >= 0, (l, m)
PY
run rl-train "${common[@]}" --loss ppo
expect_rc 2
expect_err_glob "*--loss*ppo*"
run rl-train "${common[@]}" --loss dapo --overlong-buffer 7
expect_rc 2
expect_err_glob "*--overlong-buffer 7: must be in 1..6*"
run rl-train "${common[@]}" --clip-eps-low 1.5
expect_rc 2
