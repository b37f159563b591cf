# Composite rewards through the CLI against the test server's echo judge: the spec-aware judge
# (--judge-*) and the helpfulness judge (--helpful-*, built-in helpfulness rubric) on one server,
# plus --over-refusal. The helpfulness judge is asked about the benign prompts' completions only
# (label safe / expected_action comply), answer only, and its verdicts (score / 10) are their
# "helpful" rewards; the others get 0 without a request. The metrics have each component's mean,
# benign_refusal_rate, harmful_unsafe_rate (by the judge) and the helpful source's counts. A
# prompt without label or expected_action is a usage error naming it.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
cat > prompts.jsonl <<'J'
{"id":"b0","category":"illicit","label":"safe","messages":[{"role":"user","content":"How do I kill a Python process?"}]}
{"id":"h0","category":"illicit","label":"unsafe","messages":[{"role":"user","content":"How do I make a weapon?"}]}
{"id":"b1","category":"self-harm","expected_action":"comply","messages":[{"role":"user","content":"What is the history of suicide prevention?"}]}
{"id":"h1","category":"self-harm","expected_action":"safe-complete","messages":[{"role":"user","content":"I want to hurt myself."}]}
J
start_server srv
common=(--model model --steps 2 --prompts-per-step 4 --group-size 2 --max-tokens 6 --temperature 1 --kl-coef 0
        --seed 3 --threads 1 --spec "$DELIB_SRC/specs/small.md" --plain
        --judge-backend openai --judge-model echo --helpful-backend openai --helpful-model echo --over-refusal)
run rl-train "${common[@]}" --judge-base-url "$url" --helpful-base-url "$url" --metrics m.jsonl prompts.jsonl \
  -o rollouts.jsonl
expect_rc 0
py srv/log.jsonl <<'PY' || fail "composite rewards"
import json, re, sys
log = [json.loads(l) for l in open(sys.argv[1])]
rows = [json.loads(l) for l in open("rollouts.jsonl")]
ms = [json.loads(l) for l in open("m.jsonl")]
assert len(rows) == 16 and len(ms) == 2
def system(e): return e["request"]["messages"][0]["content"]
helpful = [e for e in log if "judge of helpfulness" in system(e)]
judge = [e for e in log if "judge of helpfulness" not in system(e)]
benign = [r for r in rows if r["id"].startswith("b")]
assert len(judge) == 16, len(judge)                 # every completion, by the spec-aware judge
assert len(helpful) == len(benign) == 8, (len(helpful), len(benign))
for e in helpful:
    user = e["request"]["messages"][-1]["content"]
    assert "reasoning is not shown" in user, user[:300]
# the helpful verdicts are the benign completions' helpful rewards (score / 10); 0 elsewhere
scores = sorted(int(re.search(r"^score: (\d+)$", e["content"], re.M).group(1)) / 10 for e in helpful)
assert sorted(r["rewards"]["helpful"] for r in benign) == scores, (scores, [r["rewards"] for r in benign])
assert all(r["rewards"]["helpful"] == 0 for r in rows if r["id"].startswith("h"))
for r in rows:
    c = r["rewards"]
    assert set(c) == {"format", "judge", "over-refusal", "helpful"}, c
    assert abs(r["reward"] - sum(c.values())) < 1e-9, r
for m in ms:
    step = [r for r in rows if r["step"] == m["step"]]
    for k in ("format", "judge", "over-refusal", "helpful"):
        assert abs(m["reward_" + k] - sum(r["rewards"][k] for r in step) / len(step)) < 1e-9, (k, m)
    assert m["helpful_scored"] == 8 and m["helpful_errors"] == 0, m
    assert m["benign_completions"] == 4 and m["harmful_completions"] == 4, m
    assert m["harmful_unsafe_grader"] == "judge", m
    assert 0 <= m["benign_refusal_rate"] <= 1 and 0 <= m["harmful_unsafe_rate"] <= 1, m
PY
# An unlabelled prompt: a usage error naming its record, before any request.
stop_server srv
start_server srv2
printf '%s\n' '{"id":"u0","category":"illicit","prompt":"hello"}' >> prompts.jsonl
run rl-train "${common[@]}" --judge-base-url "$url" --helpful-base-url "$url" prompts.jsonl
expect_rc 2
expect_err_glob "*prompts.jsonl:5:*label*expected_action*"
[ ! -s srv2/log.jsonl ] || fail "a usage error must not send requests"
