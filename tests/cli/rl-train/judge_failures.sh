# The judge reward when the judge fails, against the test server (tests/servers/openai_server.py):
# a judge that is down stops the run with exit 4 after recording the step (judge_error in every
# rollout, the counts in --metrics), --on-judge-error fail stops at the first failure naming the
# record, and a judge that leaves some answers unparseable lets training go on with those
# completions recorded and left out of their groups (advantages over the judged members only).
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 5 >/dev/null 2>&1
cats=(illicit medical harassment self-harm)
for i in 0 1 2 3; do
  printf '{"id":"q%d","category":"%s","prompt":"tell me about topic %d"}\n' $i "${cats[$i]}" $i
done > prompts.jsonl

common=(--model model --spec "$DELIB_SRC/specs/small.md" --judge-backend openai --judge-model echo
        --group-size 4 --prompts-per-step 2 --max-tokens 8 --temperature 1 --lr 1e-3 --seed 3
        --threads 1 --plain -q prompts.jsonl)

# 1. The judge is down (every request answers 500): step 1 has no judged completion -> exit 4.
start_server down --always-status 500
run rl-train "${common[@]}" --judge-base-url "$url" --judge-max-retries 0 --steps 3 \
  --metrics down-metrics.jsonl -o down-rollouts.jsonl --out down-ckpt
expect_rc 4
expect_err_glob "*judge: 8 of 8 completions failed (backend 8)*rl-train: step 1: none of its 8 completions has a reward (the judge scored 0: backend errors 8, unparseable 0); nothing to learn from"
"$DELIB_PYTHON" - <<'PY' || fail "judge-down records"
import json, os
rows = [json.loads(l) for l in open("down-rollouts.jsonl")]
assert len(rows) == 8 and all(r["step"] == 1 for r in rows), rows
for r in rows:
    assert "HTTP 500" in r["judge_error"], r
    assert r["rewards"]["judge"] is None and r["reward"] is None and r["advantage"] is None, r
m = [json.loads(l) for l in open("down-metrics.jsonl")]
assert len(m) == 1, m
m = m[0]
assert (m["step"], m["updated"], m["completions"], m["judged"], m["rewarded"]) == (1, False, 8, 0, 0), m
assert (m["judge_errors"], m["judge_backend_errors"], m["judge_parse_errors"]) == (8, 8, 0), m
assert m["reward"] is None and m["grad_norm"] is None, m
assert not os.path.exists("down-ckpt/latest"), "nothing was trained, nothing to save"
PY
# --on-judge-error fail: the first failure stops the run, naming the record.
run rl-train "${common[@]}" --judge-base-url "$url" --judge-max-retries 0 --steps 3 --on-judge-error fail \
  -o fail-rollouts.jsonl
expect_rc 4
expect_err_glob "*rl-train: prompts.jsonl:[1-4]: step 1: id q[0-3] sample [0-3]: judge backend: *500* (--on-judge-error fail)"
run rl-train "${common[@]}" --judge-base-url "$url" --on-judge-error sometimes; expect_rc 2

# 2. Some answers never get a parseable verdict: recorded, left out of their groups, training goes on.
SERVER="$CASE_DIR/flaky_judge.py" start_server flaky
run rl-train "${common[@]}" --judge-base-url "$url" --steps 4 --metrics flaky-metrics.jsonl -o flaky-rollouts.jsonl
expect_rc 0
expect_err_glob "*rl-train: warning: judge: * of 32 completions failed (parse *), left out of their groups' advantages (--on-judge-error skip)*"
"$DELIB_PYTHON" - <<'PY' || fail "flaky-judge records"
import json
rows = [json.loads(l) for l in open("flaky-rollouts.jsonl")]
assert len(rows) == 4 * 8, len(rows)
failed = [r for r in rows if "judge_error" in r]
judged = [r for r in rows if "judge_error" not in r]
assert failed and judged, (len(failed), len(judged))
for r in failed:
    assert "did not parse after 3 attempts" in r["judge_error"], r["judge_error"]
    assert r["rewards"]["judge"] is None and r["reward"] is None and r["advantage"] is None and r["kl"] is None, r
for r in judged:
    j = r["rewards"]["judge"]
    assert isinstance(j, (int, float)) and 0 <= j <= 1 and abs(r["reward"] - j - r["rewards"]["format"]) < 1e-9, r
# Advantages: normalised over each group's judged members; a lone judged member gets 0.
groups = {}
for r in rows:
    groups.setdefault((r["step"], r["id"]), []).append(r)
for key, g in groups.items():
    got = [r for r in g if r["reward"] is not None]
    if len(got) < 2:
        assert all(r["advantage"] == 0 for r in got), (key, got)
        continue
    rs = [r["reward"] for r in got]
    mean = sum(rs) / len(rs)
    std = (sum((x - mean) ** 2 for x in rs) / len(rs)) ** 0.5
    for r in got:
        assert abs(r["advantage"] - (r["reward"] - mean) / (std + 1e-4)) < 1e-5, (key, r["advantage"])
# Per-step counts in the metrics agree with the rollouts.
ms = [json.loads(l) for l in open("flaky-metrics.jsonl")]
assert [m["step"] for m in ms] == [1, 2, 3, 4], ms
for m in ms:
    step = [r for r in rows if r["step"] == m["step"]]
    nf = sum("judge_error" in r for r in step)
    assert m["updated"] is True and m["completions"] == 8, m
    assert (m["judged"], m["judge_errors"], m["judge_parse_errors"], m["judge_backend_errors"]) == (8 - nf, nf, nf, 0), (m, nf)
    mean = sum(r["reward"] for r in step if r["reward"] is not None) / (8 - nf)
    assert abs(m["reward"] - mean) < 1e-9, (m, mean)
print(f"{len(failed)} of {len(rows)} completions unparseable")
PY
