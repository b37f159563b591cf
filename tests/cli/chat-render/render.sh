# chat-render adds the rendered text (and spans) to each record, keeps the other fields, and
# --raw prints the text itself. Exact agreement with transformers is the reference test's job;
# this checks the tool's plumbing.
TOK="$DELIB_SHARED/data/tokenizers"
[ -d "$TOK/qwen3" ] || fail "missing shared test data $TOK/qwen3"
printf '%s\n' '{"id":"a","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello","reasoning":"greet"}],"keep":1}' \
  '{"id":"b","prompt":"Just a prompt"}' > in.jsonl

run chat-render --tokenizer "$TOK/qwen3" --plain --spans in.jsonl; expect_rc 0
[ "$(printf '%s\n' "$out" | wc -l)" = 2 ] || fail "two records expected: $out"
expect_out_has '"keep":1'
expect_out_has '"text":"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\ngreet\n</think>\n\nHello<|im_end|>\n"'
expect_out_has '"spans":[{"message":0,"role":"user","begin":0,"end":30},{"message":1,"role":"assistant","begin":30,"end":92,"target_begin":52,"target_end":91}]'

# --field, generation prompt, --no-thinking.
run chat-render --tokenizer "$TOK/qwen3" --plain --field prompt_text --add-generation-prompt --no-thinking in.jsonl
expect_rc 0
expect_out_has '"prompt_text":"<|im_start|>user\nJust a prompt<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"'

# --raw: the text itself, records separated by a blank line.
run chat-render --tokenizer "$TOK/llama3_1" --raw --add-generation-prompt in.jsonl; expect_rc 0
expected=$(printf '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n\n\n<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nJust a prompt<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n')
expect_out "$expected"

# zstd output by default to a file.
chat-render --tokenizer "$TOK/qwen3" in.jsonl -o out.zst
[ "$(head -c4 out.zst | od -An -tx1 | tr -d ' ')" = "28b52ffd" ] || fail "output is not zstd"

# A turn the template renders as nothing is reported once on stderr (Qwen3 has no developer turn).
printf '%s\n' '{"messages":[{"role":"developer","content":"Be terse."},{"role":"user","content":"Hi"}]}' > dev.jsonl
run chat-render --tokenizer "$TOK/qwen3" --plain dev.jsonl; expect_rc 0
expect_err_glob "chat-render: warning: dev.jsonl:1: message 0 (role developer) is not rendered by this qwen3 template*"
expect_out_has '"text":"<|im_start|>user\nHi<|im_end|>\n"'
