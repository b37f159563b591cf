# rl-train --drop-uniform-groups (dynamic sampling, DAPO sec. 3.2): groups whose rewards are all
# equal are dropped (recorded with "dropped": true, not trained on) and further prompts drawn
# until each step has --prompts-per-step informative groups; the metrics count what was drawn,
# dropped and kept. A reward no answer can earn never hangs the run: each step stops after
# --max-prompt-draws prompts and trains on nothing. --resume continues the prompt order where
# the checkpoint left it (the cursor is in the run state), and two processes draw the same
# prompts and samples as one (every rank makes the same number of draws, or they would hang).
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/rl-train/prompts.py" prompts.jsonl 8
# Reward answers that start with a lowercase letter (~27% of first characters): about 3 groups
# in 10 of 4 completions are uniform.
common=(--model model --lr 1e-2 --max-tokens 4 --temperature 1 --rule-reward '^[a-z]=1'
        --reward-weight format=0 --seed 5 --threads 1 --plain --drop-uniform-groups prompts.jsonl)
run rl-train "${common[@]}" --group-size 4 --steps 6 --prompts-per-step 2 --metrics m.jsonl --out ref
expect_rc 0
printf '%s\n' "$out" > ref.jsonl
py <<'PY' || fail "dynamic sampling"
import json
rows = [json.loads(l) for l in open("ref.jsonl")]
ms = [json.loads(l) for l in open("m.jsonl")]
assert len(ms) == 6
dropped_any = False
for m in ms:
    step = [r for r in rows if r["step"] == m["step"]]
    groups = {}
    for r in step:
        groups.setdefault((r["draw"], r["id"]), []).append(r)
    kept = [g for g in groups.values() if not g[0]["dropped"]]
    dropped = [g for g in groups.values() if g[0]["dropped"]]
    assert all(len(g) == 4 for g in groups.values())
    assert m["prompts_drawn"] == len(groups) and m["groups_kept"] == len(kept) and m["groups_dropped"] == len(dropped), (m, len(groups))
    assert m["groups_kept"] == 2, m        # the budget (3 x 2 = 6 draws) was enough here
    for g in dropped:
        assert len({r["reward"] for r in g}) == 1, g          # uniform
        assert all(r["advantage"] == 0 and r["kl"] is None for r in g)   # not in the update
    for g in kept:
        assert len({r["reward"] for r in g}) > 1, g           # informative
    # only the kept groups are trained on: at most --max-tokens 4 tokens for each of their completions
    assert m["completions"] == len(step) and 0 < m["tokens"] <= sum(len(g) for g in kept) * 4, m
    dropped_any |= bool(dropped)
assert dropped_any, "no group was dropped: the case checks nothing"
PY

# No answer can earn the reward: every group is uniform. Each step draws --max-prompt-draws
# prompts, keeps none, warns, and does not update; the run ends (exit 0).
run rl-train "${common[@]/'^[a-z]=1'/'NEVER-MATCHES-xyz=1'}" --group-size 4 --steps 2 --prompts-per-step 2 --max-prompt-draws 3 \
  --metrics never.jsonl -o never.jsonl.rollouts
expect_rc 0
expect_err_glob "*step 1: 0 of 2 groups with a signal after drawing 3 prompts (--max-prompt-draws 3 per process)*"
py <<'PY' || fail "uniform rewards"
import json
ms = [json.loads(l) for l in open("never.jsonl")]
assert [(m["prompts_drawn"], m["groups_kept"], m["groups_dropped"], m["updated"]) for m in ms] == [(3, 0, 3, False)] * 2, ms
PY

# Resume: 3 steps, then 3 more from the checkpoint, equal the 6-step run (the draws of steps
# 1-3 moved the cursor past 3 x 2 prompts whenever a group was dropped).
run rl-train "${common[@]}" --group-size 4 --steps 3 --prompts-per-step 2 --out part
expect_rc 0
run rl-train "${common[@]}" --group-size 4 --steps 6 --prompts-per-step 2 --out part --resume part
expect_rc 0
printf '%s\n' "$out" > resumed.jsonl
py <<'PY' || fail "resumed draws differ"
import json
ref = [json.loads(l) for l in open("ref.jsonl")]
got = [json.loads(l) for l in open("resumed.jsonl")]
ref = [r for r in ref if r["step"] > 3]
assert len(got) == len(ref) and got == ref, (len(got), len(ref))
PY

# Two processes with 1 prompt each per step draw the same prompts and samples as one with 2
# (groups of 2: ~6 in 10 are uniform, so the processes need different numbers of draws and one
# of them takes part in draws that give it nothing; the budget is large enough never to bind).
run rl-train "${common[@]}" --group-size 2 --steps 2 --prompts-per-step 2 --max-prompt-draws 20
expect_rc 0
printf '%s\n' "$out" > one.jsonl
run_ranks two 2 rl-train "${common[@]}" --group-size 2 --steps 2 --prompts-per-step 1 --max-prompt-draws 10
ranks_ok two 2
py <<'PY' || fail "2 processes drew other prompts than 1"
import json
key = lambda r: (r["step"], r["draw"], r["id"], r["sample"], r["answer"], r["reward"], r["dropped"])
one = [json.loads(l) for l in open("one.jsonl")]
two = [json.loads(l) for l in open("two.0.jsonl")]
# Step 1 starts from the same weights and cursor in both (later steps may differ in float
# rounding of the averaged gradient): the same draws, exactly.
a = sorted(key(r) for r in one if r["step"] == 1)
b = sorted(key(r) for r in two if r["step"] == 1)
assert a == b, (a, b)
assert any(r["dropped"] for r in one if r["step"] == 1), "no group dropped in step 1: nothing compared"
assert max(r["draw"] for r in one if r["step"] == 1) >= 1
assert {r["step"] for r in two} == {1, 2}
PY
