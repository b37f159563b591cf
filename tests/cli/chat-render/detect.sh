# --detect names the family of each shared template; --format picks one by name for model
# files without a template (the shared gpt-oss tokenizer has none).
TOK="$DELIB_SHARED/data/tokenizers"
for d in qwen3 llama3_1 gptoss; do [ -d "$TOK/$d" ] || fail "missing shared test data $TOK/$d"; done
run chat-render --tokenizer "$TOK/qwen3" --detect; expect_rc 0
expect_out '{"family":"qwen3","variant":"qwen3","generation_prompt":"<|im_start|>assistant\n","stop_strings":["<|im_end|>","<|endoftext|>"]}'
# (the shared llama3_1 tokenizer_config.json carries the plain Llama 3 template)
run chat-render --tokenizer "$TOK/llama3_1/tokenizer_config.json" --detect; expect_rc 0
expect_out '{"family":"llama3","variant":"llama3","generation_prompt":"<|start_header_id|>assistant<|end_header_id|>\n\n","stop_strings":["<|eot_id|>","<|eom_id|>","<|end_of_text|>"]}'
run chat-render --tokenizer "$TOK/gptoss" --detect; expect_rc 1
expect_err_glob "chat-render: */gptoss: no chat template*"
run chat-render --tokenizer "$TOK/gptoss" --format gpt-oss --detect; expect_rc 0
expect_out '{"family":"gpt-oss","variant":"gpt-oss","generation_prompt":"<|start|>assistant","stop_strings":["<|return|>","<|call|>"]}'
run chat-render --format llama3.1 --detect; expect_rc 0
expect_out '{"family":"llama3","variant":"llama3.1","generation_prompt":"<|start_header_id|>assistant<|end_header_id|>\n\n","stop_strings":["<|eot_id|>","<|eom_id|>","<|end_of_text|>"]}'
