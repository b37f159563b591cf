# Help, and command-line mistakes caught before any work (exit 2).
spec="$DELIB_SRC/specs/small.md"
run cot-gen --help; expect_rc 0
for flag in --samples --instructions --resume --unordered --spec --backend --max-tokens --concurrency; do
  expect_out_has "$flag"
done
printf '{"id":"a","prompt":"hi","category":"medical"}\n' > in.jsonl
run cot-gen in.jsonl; expect_rc 2                       # --spec is required
run cot-gen --spec "$spec" --samples 0 in.jsonl; expect_rc 2
run cot-gen --spec "$spec" --backend openai --model m in.jsonl; expect_rc 2
expect_err_glob "*--base-url*"
run cot-gen --spec "$spec" --backend openai --base-url http://127.0.0.1:9/v1 --model m --completions in.jsonl
expect_rc 2; expect_err_glob "*--chat-template*"
run cot-gen --spec "$spec" --backend openai --base-url http://127.0.0.1:9/v1 --model m --resume a.jsonl -o b.jsonl in.jsonl
expect_rc 2; expect_err_glob "*--resume*"
