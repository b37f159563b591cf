# --profile FILE: a PyTorch-profiler (Kineto) trace of the decode steps --profile-steps, as
# sft-train's (delib::train::StepProfiler), for the GPU bench to show where a decode step's time
# goes. Only the chosen steps are traced: steps 2..3 of a 1-request run hold 2 embedding
# lookups (one per step), not the 5 of the whole run; a range past the run's end still writes
# what it traced; a range that starts after the run is a failure saying nothing was traced; a
# malformed range is a usage error before any work.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 7 >/dev/null 2>&1 || fail "tiny model"
echo '{"id":"a","prompt_ids":[1,2,3]}' > ids.jsonl
common=(--model model --temperature 0 --max-tokens 6 --plain --threads 1 ids.jsonl -o out.jsonl)

run gen-check "${common[@]}" --profile trace.json --profile-steps 2:3
expect_rc 0
expect_err_glob "*profile of steps 2..3 (CPU operators, inclusive; trace trace.json)*aten::embedding*"
grep -q "total ms" trace.json.top.txt || fail "trace.json.top.txt has no header"
"$DELIB_PYTHON" - <<'PY' || fail "trace.json is not the trace of decode steps 2..3"
import json
names = [e.get("name", "") for e in json.load(open("trace.json"))["traceEvents"] if e.get("ph") == "X"]
n = names.count("aten::embedding")
assert n == 2, f"{n} embedding lookups traced, expected 2 (one per decode step)"
PY
run gen-check "${common[@]}" --profile trace2.json --profile-steps 4:99
expect_rc 0
[ -s trace2.json ] || fail "a range past the run's end must still write the trace"
run gen-check "${common[@]}" --profile trace3.json --profile-steps 6:7
expect_rc 1
expect_err_glob "gen-check: --profile: the run took 5 decode steps, none of --profile-steps 6:7: nothing traced"
for bad in 3 0:1 3:2 a:b; do
  run gen-check "${common[@]}" --profile bad.json --profile-steps "$bad"
  expect_rc 2
  expect_err_glob "*--profile-steps '$bad': expected*"
  [ ! -e bad.json ] || fail "$bad: a trace was written"
done
