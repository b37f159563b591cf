# Usage and input errors: exit codes (rl-train(1) EXIT STATUS) and `rl-train: file:line:` messages.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 2
printf '%s\n' '{"id":"a","category":"x","prompt":"hi"}' '{"id":"b","category":"x"}' > noprompt.jsonl
printf '%s\n' '{"id":"a","prompt":"hi"}' '{oops' > badjson.jsonl
printf '%s\n' '{"id":"a","prompt":"hi","category":"illicit"}' '{"id":"b","prompt":"hi","category":"nonexistent"}' > badcat.jsonl
run rl-train prompts.jsonl; expect_rc 2; expect_err_glob "*--model is required*"
run rl-train --model model --steps 1 noprompt.jsonl; expect_rc 1
expect_err_glob "rl-train: noprompt.jsonl:2: record has neither 'messages' nor 'prompt'*"
run rl-train --model model --steps 1 badjson.jsonl; expect_rc 1
expect_err_glob "rl-train: badjson.jsonl:2: invalid JSON*"
run rl-train --model model --steps 1 missing.jsonl; expect_rc 3
expect_err_glob "rl-train: missing.jsonl: cannot open*"
# The judge reward needs the spec, and every prompt's category must be in it.
run rl-train --model model --judge-model model --steps 1 prompts.jsonl; expect_rc 2
expect_err_glob "*the judge reward needs --spec*"
run rl-train --model model --judge-model model --spec "$DELIB_SRC/specs/small.md" --steps 1 badcat.jsonl; expect_rc 1
expect_err_glob "rl-train: badcat.jsonl:2: category 'nonexistent' is not in the spec*"
# Reward options are checked before any work.
run rl-train --model model --reward-weight judge prompts.jsonl; expect_rc 2
expect_err_glob "*expected NAME=W*"
run rl-train --model model --reward-weight bogus=1 prompts.jsonl; expect_rc 2
expect_err_glob "*no such reward*"
run rl-train --model model --rule-reward '(=1' prompts.jsonl; expect_rc 2
expect_err_glob "*bad regular expression*"
run rl-train --model model --rule-reward 'a=zz' prompts.jsonl; expect_rc 2
run rl-train --model model --judge-nonce-length 1 prompts.jsonl; expect_rc 2
run rl-train --model model --judge-rubric no-such-file prompts.jsonl; expect_rc 2
run rl-train --model model --judge-nonce-seed -1 prompts.jsonl; expect_rc 2
expect_err_glob "*--judge-nonce-seed*"
run rl-train --model model --on-judge-error ignore prompts.jsonl; expect_rc 2
expect_err_glob "*--on-judge-error*"
