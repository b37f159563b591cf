# --parse splits completions into reasoning and answer per family; parse_ok=false when the
# completion cannot be split.
printf '%s\n' '{"completion":"<think>\nsteps\n</think>\n\nAnswer.<|im_end|>"}' \
  '{"completion":"<think>\ncut off"}' > qwen.jsonl
run chat-render --format qwen3 --parse completion --plain qwen.jsonl; expect_rc 0
expect_out '{"completion":"<think>\nsteps\n</think>\n\nAnswer.<|im_end|>","reasoning":"steps","answer":"Answer.","parse_ok":true}
{"completion":"<think>\ncut off","reasoning":"cut off","answer":"","parse_ok":false}'
printf '%s\n' '{"completion":"<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Done.<|return|>"}' > oss.jsonl
run chat-render --format gpt-oss --parse completion --plain oss.jsonl; expect_rc 0
expect_out_has '"reasoning":"Think.","answer":"Done.","parse_ok":true'
run chat-render --format gpt-oss --parse nothere --plain oss.jsonl; expect_rc 1
