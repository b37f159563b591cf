# rl-train --overlong-filter (DAPO sec. 3.4): completions cut by --max-tokens are masked out of
# the loss (rollout "overlong_masked": true, kl null: not in the update) but keep their rewards in
# their groups (the advantages of the first step, from the same weights, equal an unfiltered
# run's); the metric overlong_masked counts them and the step trains on fewer tokens. When every
# completion is truncated the step makes no update (updated false) and the run goes on.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 8
common=(--model model --steps 2 --prompts-per-step 2 --group-size 4 --max-tokens 5 --temperature 1 --seed 5
        --threads 1 --lr 1e-2 --rule-reward '^[a-m]=1' --reward-weight format=0 --stop e --loss dapo --plain
        prompts.jsonl)
run rl-train "${common[@]}" --overlong-filter --metrics f.m.jsonl -o f.jsonl
expect_rc 0
run rl-train "${common[@]}" --metrics n.m.jsonl -o n.jsonl
expect_rc 0
py <<'PY' || fail "overlong filtering"
import json
rows = lambda f: [json.loads(l) for l in open(f)]
f, n, fm, nm = rows("f.jsonl"), rows("n.jsonl"), rows("f.m.jsonl"), rows("n.m.jsonl")
masked = [r for r in f if r["overlong_masked"]]
kept = [r for r in f if not r["overlong_masked"]]
assert masked and kept, ("need truncated and finished completions", len(masked), len(kept))
assert all("overlong_masked" not in r for r in n)
for r in masked:
    assert r["kl"] is None and r["reward"] is not None and r["advantage"] is not None, r
for r in kept:
    assert r["kl"] is not None, r
for m in fm:
    assert m["overlong_masked"] == sum(r["overlong_masked"] for r in f if r["step"] == m["step"]), m
# step 1: the same samples; the truncated ones are still in their groups' advantages ...
s1 = lambda rows: [r for r in rows if r["step"] == 1]
for a, b in zip(s1(f), s1(n)):
    assert (a["id"], a["answer"], a["reward"]) == (b["id"], b["answer"], b["reward"])
    assert abs(a["advantage"] - b["advantage"]) < 1e-12, (a, b)
# ... but not in the loss: fewer tokens trained on when any was masked
m1f, m1n = fm[0], nm[0]
assert (m1f["tokens"] < m1n["tokens"]) == (m1f["overlong_masked"] > 0) and m1f["overlong_masked"] > 0, (m1f, m1n)
print("masked", len(masked), "of", len(f), "- step 1 tokens", m1f["tokens"], "vs", m1n["tokens"], "unfiltered")
PY
# Every completion truncated (one token, no stop string can end it first): no update.
run rl-train --model model --steps 2 --prompts-per-step 2 --group-size 4 --max-tokens 1 --seed 5 --threads 1 \
  --rule-reward '^[a-m]=1' --reward-weight format=0 --plain --overlong-filter --metrics all.m.jsonl prompts.jsonl
expect_rc 0
py <<'PY' || fail "all truncated"
import json
ms = [json.loads(l) for l in open("all.m.jsonl")]
assert [(m["overlong_masked"], m["updated"], m["tokens"]) for m in ms] == [(8, False, 0)] * 2, ms
PY
