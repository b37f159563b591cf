# Help, and command-line mistakes caught before any work (exit 2).
spec="$DELIB_SRC/specs/small.md"
run cot-judge --help; expect_rc 0
for flag in --judge-samples --aggregate --hint-field --hide-reasoning --rubric --min-score \
            --best-per-id --drop-malformed --judge-retries --resume --nonce-seed --max-failures; do
  expect_out_has "$flag"
done
printf '{"id":"a","prompt":"hi","category":"medical","answer":"x"}\n' > in.jsonl
run cot-judge --spec "$spec" --aggregate max in.jsonl; expect_rc 2
run cot-judge --spec "$spec" --judge-samples 0 in.jsonl; expect_rc 2
run cot-judge --spec "$spec" --min-score 11 in.jsonl; expect_rc 2
run cot-judge --spec "$spec" --backend openai --base-url http://127.0.0.1:9/v1 --model m --rubric missing.txt in.jsonl
expect_rc 3; expect_err_glob "*missing.txt*"
