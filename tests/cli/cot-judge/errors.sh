# Bad records are errors naming the file, line and problem, before any judging.
spec="$DELIB_SRC/specs/small.md"
srv=(--spec "$spec" --backend openai --base-url http://127.0.0.1:9/v1 --model m --max-retries 0)
printf '{"id":"a","prompt":"hi","category":"medical"}\n' > noans.jsonl
run cot-judge "${srv[@]}" noans.jsonl; expect_rc 1; expect_err_glob "cot-judge: noans.jsonl:1: field 'answer' is missing*"
printf '{"id":"a","prompt":"hi","category":"nope","answer":"x"}\n' > unk.jsonl
run cot-judge "${srv[@]}" unk.jsonl; expect_rc 1; expect_err_glob "*unk.jsonl:1: unknown category 'nope'*"
# Skipped with --on-error skip: the run goes on, here to the unreachable server, where the one
# record left fails too: nothing was judged, exit 4.
printf '{"id":"a","prompt":"hi","category":"nope","answer":"x"}\n{"id":"b","prompt":"hi","category":"medical","answer":"y"}\n' > mix.jsonl
run cot-judge "${srv[@]}" --on-error skip mix.jsonl -o out.jsonl; expect_rc 4
expect_err_glob "*unknown category 'nope' (the spec has: *) (skipped)*id b*left out*judge: 1 of 1 records failed (backend 1)*no record was judged: all 1 failed"
