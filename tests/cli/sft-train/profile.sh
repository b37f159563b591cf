# --profile: a PyTorch-profiler (Kineto) trace of the chosen steps as Chrome trace JSON, and its
# largest entries in FILE.top.txt and on stderr. Steps outside the range are not traced (a trace
# of step 2 alone has one optimizer step's sqrt calls, not three); a malformed range is a usage
# error that trains nothing, and a range the run never reaches an error (exit 1), not a silent
# success.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 0 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/data.py" data.jsonl 12
common=(--model model --max-length 128 --batch-size 4 --max-steps 3 --plain --threads 1 data.jsonl)

run sft-train "${common[@]}" --profile trace.json --profile-steps 2:2
expect_rc 0
expect_err_glob "*profile of steps 2..2 (CPU operators, inclusive; trace trace.json)*aten::mm*"
[ -s trace.json.top.txt ] || fail "no trace.json.top.txt"
grep -q "total ms" trace.json.top.txt || fail "trace.json.top.txt has no header"
"$DELIB_PYTHON" - <<'PY' || fail "trace.json is not the trace of one step"
import json
ev = json.load(open("trace.json"))["traceEvents"]
names = [e.get("name", "") for e in ev if e.get("ph") == "X"]
assert "aten::mm" in names, "no matmul in the trace"
# one AdamW step traced: every trainable tensor's sqrt once (the tiny model's count), not 3 times
steps = [n for n in names if n == "aten::_fused_adamw_" or n == "aten::sqrt"]
print(len(names), "events;", len(steps), "sqrt/adamw")
assert 0 < len(steps) < 200, len(steps)
PY
run sft-train "${common[@]}" --profile trace2.json --profile-steps 2:9
expect_rc 0
[ -s trace2.json ] || fail "a range past the run's end must still write the trace (at the end)"

# A range the run never reaches traces nothing: an error, not a silent success.
run sft-train "${common[@]}" --profile late.json --profile-steps 4:5
expect_rc 1
expect_err_glob "*sft-train: --profile: the run took 3 steps, none of --profile-steps 4:5: nothing traced*"
[ ! -e late.json ] || fail "a trace of steps never run"

for bad in 3 0:1 3:2 a:b 2:3x; do
  run sft-train "${common[@]}" --profile bad.json --profile-steps "$bad"
  expect_rc 2
  expect_err_glob "*--profile-steps '$bad': expected*"
  [ ! -e bad.json ] || fail "$bad: a trace was written"
done
