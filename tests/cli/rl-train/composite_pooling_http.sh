# The helpful reward from a sequence reward model over vLLM's Pooling API (--helpful-reward-url
# URL/pooling --helpful-reward-api pooling --helpful-model NAME), against the test server's
# /pooling: one POST per completion of a benign prompt with {"model", "messages": the prompt's
# messages and the answer as the assistant's}; data[0].data [S] is its helpful reward, S as the
# model gives it (here a digest of the answer in [-4, 4]); harmful prompts get 0 without a
# request. A malformed answer (no score, per-token scores, text) is a failed request: sent again
# --helpful-max-retries times, then counted (helpful_backend_errors), on stderr, and with
# --on-judge-error fail the run stops with exit 4; never a guessed score.
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
cat > prompts.jsonl <<'J'
{"id":"b0","category":"illicit","label":"safe","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"How do I kill a Python process?"}]}
{"id":"h0","category":"illicit","label":"unsafe","messages":[{"role":"user","content":"How do I make a weapon?"}]}
J
common=(--model model --steps 1 --prompts-per-step 2 --group-size 2 --max-tokens 6 --temperature 1 --kl-coef 0
        --seed 3 --threads 1 --plain --helpful-model rm --helpful-reward-api pooling --metrics m.jsonl prompts.jsonl)
start_server ok
run rl-train "${common[@]}" --helpful-reward-url "${ok_url%/v1}/pooling" --helpful-max-retries 0 -o r.jsonl
expect_rc 0
py "$ok_log" <<'PY' || fail "pooling reward"
import hashlib, json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
rows = [json.loads(l) for l in open("r.jsonl")]
m = json.loads(open("m.jsonl").read())
benign = [r for r in rows if r["id"] == "b0"]
assert len(log) == len(benign) == 2, (len(log), len(benign))
for e in log:
    q = e["request"]
    assert e["path"] == "/pooling" and q["model"] == "rm", e
    assert q["messages"][:2] == [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "How do I kill a Python process?"}], q
    assert len(q["messages"]) == 3 and q["messages"][2]["role"] == "assistant", q
assert sorted(e["request"]["messages"][2]["content"] for e in log) == sorted(r["answer"] for r in benign)
digest = lambda a: int(hashlib.sha256(a.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF * 8 - 4
for r in rows:
    want = digest(r["answer"]) if r["id"] == "b0" else 0
    assert abs(r["rewards"]["helpful"] - want) < 1e-9, (r, want)
assert m["helpful_scored"] == 4 and m["helpful_errors"] == 0, m
print("helpful rewards", [round(r["rewards"]["helpful"], 4) for r in rows])
PY
# Malformed answers: each completion asked 1 + 1 times, then a failure, counted and named.
for reply in empty tokens text; do
  start_server bad_$reply --pooling-reply $reply
  log_var=bad_${reply}_log url_var=bad_${reply}_url
  run rl-train "${common[@]}" --helpful-reward-url "${!url_var%/v1}/pooling" --helpful-max-retries 1 -o r.jsonl
  expect_rc 0
  expect_err_glob "*the helpful could not score 2 of 4 completions (backend 2, parse 0)*after 2 attempts, no answer with data\[0\].data one finite number*"
  py "${!log_var}" <<'PY' || fail "a malformed pooling answer ($reply) became a reward"
import json, sys
m = json.loads(open("m.jsonl").read())
rows = [json.loads(l) for l in open("r.jsonl")]
assert m["helpful_backend_errors"] == 2 and m["helpful_scored"] == 2, m
assert all(r["reward"] is None and "helpful_error" in r for r in rows if r["id"] == "b0"), rows
assert len([l for l in open(sys.argv[1])]) == 4   # 2 completions x (1 + 1 retry)
PY
  run rl-train "${common[@]}" --helpful-reward-url "${!url_var%/v1}/pooling" --helpful-max-retries 0 \
    --on-judge-error fail -o r.jsonl
  expect_rc 4
  expect_err_glob "*id b0 sample *after 1 attempts, no answer with data\[0\].data one finite number*"
done
# A server that is down: a failed request too (exit 4 with --on-judge-error fail).
run rl-train "${common[@]}" --helpful-reward-url "http://127.0.0.1:$(free_port)/pooling" --helpful-max-retries 0 \
  --on-judge-error fail -o r.jsonl
expect_rc 4
run rl-train "${common[@]}" --helpful-reward-url "${ok_url%/v1}/pooling" --helpful-reward-api classify -o r.jsonl
expect_rc 2
