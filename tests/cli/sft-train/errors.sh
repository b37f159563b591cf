# Usage and input errors, with their exit codes and locations.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
printf '%s\n' '{"messages":[{"role":"user","content":"Hi"}],"answer":"Hello"}' \
  '{"messages":[{"role":"user","content":"no answer here"}]}' > bad.jsonl
run sft-train bad.jsonl; expect_rc 2                                   # --model is required
run sft-train --model model --schedule step bad.jsonl; expect_rc 2
run sft-train --model model --plain bad.jsonl; expect_rc 1
expect_err_glob "sft-train: bad.jsonl:2: no training target*"
run sft-train --model model missing.jsonl; expect_rc 3
# Several processes cannot share stdin.
RANK=0 WORLD_SIZE=2 run sft-train --model model < bad.jsonl; expect_rc 2
expect_err_glob "*several processes cannot share stdin*"
# --resume refuses another run's data.
printf '%s\n' '{"messages":[{"role":"user","content":"Hi"}],"answer":"Hello"}' > one.jsonl
run sft-train --model model --plain --max-steps 1 --out ck one.jsonl; expect_rc 0
printf '%s\n' '{"messages":[{"role":"user","content":"Hi"}],"answer":"Hello"}' \
  '{"messages":[{"role":"user","content":"Bye"}],"answer":"Bye"}' > two.jsonl
run sft-train --model model --plain --max-steps 2 --out ck --resume ck two.jsonl; expect_rc 2
expect_err_glob "*cannot resume: examples was 1 in the checkpointed run, now 2*"
