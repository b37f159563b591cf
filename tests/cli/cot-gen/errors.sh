# Bad records are errors naming the file, line and problem; nothing is generated for them.
# (No server listens on port 9: any request would fail with exit 4, not 1.)
spec="$DELIB_SRC/specs/small.md"
srv=(--spec "$spec" --backend openai --base-url http://127.0.0.1:9/v1 --model m --max-retries 0)
printf '{"id":"a","prompt":"hi","category":"medical"}\n{"id":"b","prompt":"x","category":"nope"}\n' > unk.jsonl
run cot-gen "${srv[@]}" unk.jsonl -o out.jsonl; expect_rc 1
expect_err_glob "cot-gen: unk.jsonl:2: unknown category 'nope' (the spec has: illicit, self-harm, harassment, medical)*"
printf '{"id":"a","prompt":"hi"}\n' > nocat.jsonl
run cot-gen "${srv[@]}" nocat.jsonl; expect_rc 1; expect_err_glob "*nocat.jsonl:1: field 'category' is missing*"
printf '{"id":"a","category":"medical","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}\n' > last.jsonl
run cot-gen "${srv[@]}" last.jsonl; expect_rc 1; expect_err_glob "*last.jsonl:1: the conversation must end with a user turn*"
printf '{"id":"a","category":"medical"}\n' > noconv.jsonl
run cot-gen "${srv[@]}" noconv.jsonl; expect_rc 1; expect_err_glob "*noconv.jsonl:1:*"
# A server that cannot be reached: exit 4 after the (zero) retries, the output a clean prefix.
printf '{"id":"a","prompt":"hi","category":"medical"}\n' > ok.jsonl
run cot-gen "${srv[@]}" ok.jsonl -o out.jsonl; expect_rc 4
expect_err_glob "cot-gen: ok.jsonl:1: id a sample 0: http://127.0.0.1:9/v1/chat/completions: *"
[ ! -s out.jsonl ] || fail "nothing may be written for a failed sample"
# --on-error skip: lines that do not parse and unusable records are skipped, counted, and all
# kept in the one --rejects file (the reader's lines first, then the records, appended).
printf '{"id":"a","prompt":"hi","category":"nope"}\nnot json\n{"id":"c","prompt":"hi"}\n' > mixed.jsonl
run cot-gen "${srv[@]}" --on-error skip --rejects rej.jsonl mixed.jsonl -o none.jsonl; expect_rc 0
expect_err_glob "cot-gen: warning: mixed.jsonl:1: unknown category 'nope' (*) (skipped)
cot-gen: warning: mixed.jsonl:3: field 'category' is missing* (skipped)
cot-gen: warning: 3 input record(s) skipped"
[ "$(cat rej.jsonl)" = 'not json
{"id":"a","prompt":"hi","category":"nope"}
{"id":"c","prompt":"hi"}' ] || fail "--rejects lost a line: $(cat rej.jsonl)"
