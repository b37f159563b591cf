# --chat-template FILE is the flag, as in cot-gen and sft-train: it renders what --tokenizer
# renders for the same template. --template, its old name, still works with a one-line
# deprecation warning on stderr, is hidden from --help, and conflicts like the flag it names.
TOK="$DELIB_SHARED/data/tokenizers"
[ -f "$TOK/qwen3/tokenizer_config.json" ] || fail "missing shared test data $TOK/qwen3/tokenizer_config.json"
printf '%s\n' '{"id":"a","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}' > in.jsonl

run chat-render --tokenizer "$TOK/qwen3" --plain --spans in.jsonl; expect_rc 0
want=$out
expect_out_has '"text":"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n'

run chat-render --chat-template "$TOK/qwen3/tokenizer_config.json" --plain --spans in.jsonl; expect_rc 0
expect_out "$want"
[ -z "$err" ] || fail "--chat-template warned: $err"

# The old name: same output, exactly one warning line.
run chat-render --template "$TOK/qwen3/tokenizer_config.json" --plain --spans in.jsonl; expect_rc 0
expect_out "$want"
[ "$err" = "chat-render: warning: --template is deprecated: use --chat-template" ] || fail "deprecation warning: '$err'"
run chat-render --template "$TOK/qwen3/tokenizer_config.json" --detect; expect_rc 0
expect_out_has '"family":"qwen3"'

# Conflicts: one template source only, under either name.
run chat-render --tokenizer "$TOK/qwen3" --chat-template "$TOK/qwen3/tokenizer_config.json" in.jsonl; expect_rc 2
expect_err_glob "chat-render: --tokenizer excludes --chat-template*"
run chat-render --tokenizer "$TOK/qwen3" --template "$TOK/qwen3/tokenizer_config.json" in.jsonl; expect_rc 2
expect_err_glob "chat-render: --template (the old name of --chat-template) excludes --tokenizer*"
run chat-render --format qwen3 --template "$TOK/qwen3/tokenizer_config.json" in.jsonl; expect_rc 2
run chat-render in.jsonl; expect_rc 2
expect_err_glob "chat-render: one of --tokenizer, --chat-template or --format is required*"

# --help shows the flag, not its old name.
run chat-render --help; expect_rc 0
grep -qE -- '^ +--chat-template FILE' <<<"$out" || fail "--help lacks --chat-template FILE"
! grep -qE -- '(^| )--template( |$)' <<<"$out" || fail "--help shows the deprecated --template"
