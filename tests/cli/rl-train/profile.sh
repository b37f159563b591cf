# --profile: the trace of the chosen step covers the whole step (local rollouts, rewards and the
# update: a backward), as sft-train's (tests/cli/sft-train/profile.sh checks the range rules).
# A range the run never reaches is an error (exit 1), as in gen-check and sft-train.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 1 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 4
run rl-train --model model --group-size 4 --max-tokens 8 --seed 1 --threads 1 --rule-reward e=1 --steps 2 \
  --prompts-per-step 2 --plain --profile trace.json --profile-steps 2:2 prompts.jsonl
expect_rc 0
expect_err_glob "*profile of steps 2..2 (CPU operators, inclusive; trace trace.json)*"
[ -s trace.json.top.txt ] || fail "no trace.json.top.txt"
"$DELIB_PYTHON" - <<'PY' || fail "trace.json does not hold a whole step"
import json
names = {e.get("name", "") for e in json.load(open("trace.json"))["traceEvents"] if e.get("ph") == "X"}
assert "aten::mm" in names, "no matmul"
assert any("Backward" in n for n in names), "no backward: the update is not in the trace"
PY
run rl-train --model model --group-size 4 --max-tokens 8 --seed 1 --threads 1 --rule-reward e=1 --steps 2 \
  --prompts-per-step 2 --plain --profile late.json --profile-steps 3:3 prompts.jsonl
expect_rc 1
expect_err_glob "*rl-train: --profile: the run took 2 steps, none of --profile-steps 3:3: nothing traced*"
run rl-train --model model --steps 2 --profile bad.json --profile-steps 2 prompts.jsonl
expect_rc 2
expect_err_glob "*--profile-steps '2': expected A:B*"
