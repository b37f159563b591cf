# --max-failures against the test server (tests/servers/openai_server.py): failed records are
# counted per kind (parse: no verdict after the re-asks; backend: the request failed), the
# counts are printed on stderr, and the run exits 4 when they exceed the budget (default 0)
# or when every record it judged failed; --on-error skip and --resume keep their meaning.
spec="$DELIB_SRC/specs/small.md"
rec() { printf '{"id":"%s","prompt":"q","category":"medical","reasoning":"r","answer":"%s"}\n' "$1" "$2"; }
{ rec a "Answer a."; rec b "Answer b."; rec c JUDGE_MALFORMED_ALWAYS; rec d "Answer d."; rec e "Answer e."; } > five.jsonl
{ rec x JUDGE_MALFORMED_ALWAYS; rec y "JUDGE_MALFORMED_ALWAYS too"; } > bad.jsonl

start_server up
srv=(--spec "$spec" --backend openai --base-url "$url" --model echo --plain -q)
# One unparseable verdict of 5: written with judge.error; the strict default fails the run.
run cot-judge "${srv[@]}" five.jsonl -o out.jsonl
expect_rc 4
expect_err_glob "cot-judge: warning: judge: 1 of 5 records failed (parse 1); parse: written with judge.error and no score
cot-judge: 1 failed records are more than --max-failures 0 allows"
"$DELIB_PYTHON" - <<'PY' || fail "output records"
import json
rows = [json.loads(l) for l in open("out.jsonl")]
assert [r["id"] for r in rows] == ["a", "b", "c", "d", "e"], rows
for r in rows:
    if r["id"] == "c":
        assert r["judge"]["score"] is None and "did not parse" in r["judge"]["error"], r
    else:
        assert isinstance(r["judge"]["score"], (int, float)) and "error" not in r["judge"], r
PY
# Budgets: a count, a fraction ("more than": 1 of 5 is not more than 20%).
run cot-judge "${srv[@]}" --max-failures 1 five.jsonl -o out1.jsonl; expect_rc 0
expect_err_glob "cot-judge: warning: judge: 1 of 5 records failed (parse 1)*"
run cot-judge "${srv[@]}" --max-failures 20% five.jsonl -o out2.jsonl; expect_rc 0
run cot-judge "${srv[@]}" --max-failures 0.1 five.jsonl -o out3.jsonl; expect_rc 4
expect_err_glob "*1 failed records are more than --max-failures 10% allows"
run cot-judge "${srv[@]}" --max-failures lots five.jsonl; expect_rc 2
expect_err_glob "*--max-failures: 'lots' is neither a count*"
# Every judged record failed: exit 4 whatever the budget.
run cot-judge "${srv[@]}" --max-failures 100% bad.jsonl -o bad-out.jsonl; expect_rc 4
expect_err_glob "*judge: 2 of 2 records failed (parse 2)*cot-judge: no record was judged: all 2 failed"
# --resume of a finished output judges nothing (the unparseable record counts as done): no
# failures in this run.
run cot-judge "${srv[@]}" five.jsonl --resume out.jsonl; expect_rc 0
[ "$(wc -l < out.jsonl)" = 5 ] || fail "resume wrote again: $(cat out.jsonl)"

# The judge is down (every request answers 500).
start_server down --always-status 500
down=(--spec "$spec" --backend openai --base-url "$url" --model echo --max-retries 0 --plain -q)
# --on-error fail (default): the first backend failure stops the run.
run cot-judge "${down[@]}" five.jsonl -o d1.jsonl; expect_rc 4
expect_err_glob "cot-judge: warning: judge: * of 5 records failed (backend *); backend: the run stopped at the first
cot-judge: five.jsonl:*: id *: judge backend: *500*"
# --on-error skip: left out and counted; nothing judged -> exit 4 even with a generous budget.
run cot-judge "${down[@]}" --on-error skip --max-failures 100% five.jsonl -o d2.jsonl; expect_rc 4
expect_err_glob "*judge: 5 of 5 records failed (backend 5); backend: left out, --resume judges them again
cot-judge: no record was judged: all 5 failed"
[ ! -s d2.jsonl ] || fail "records without a judgement were written: $(cat d2.jsonl)"
# ... and --resume against a working judge judges them; this run's budget counts this run's
# records (the parse failure of c: 1 of 5).
run cot-judge "${srv[@]}" --max-failures 1 five.jsonl --resume d2.jsonl; expect_rc 0
expect_err_glob "cot-judge: warning: judge: 1 of 5 records failed (parse 1)*"
[ "$(wc -l < d2.jsonl)" = 5 ] || fail "resumed output: $(cat d2.jsonl)"
