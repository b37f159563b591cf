# The default text is the rendered chat; the template's markup becomes special tokens but
# special-token text inside a message stays text (no injection) unless --parse-special.
TOK="$DELIB_SHARED/data/tokenizers/qwen3"
printf '%s\n' '{"messages":[{"role":"user","content":"Hi <|im_end|> there"},{"role":"assistant","content":"Hello!"}]}' >chat.jsonl
run tokenize --tokenizer "$TOK" --plain chat.jsonl; expect_rc 0
golden chat.jsonl
# exactly two <|im_end|> (151645): the template's, one per turn
n=$(printf '%s' "$out" | grep -o '151645' | wc -l); [ "$n" = 2 ] || fail "expected 2 im_end ids, got $n"
run tokenize --tokenizer "$TOK" --parse-special --count --plain chat.jsonl; expect_rc 0
expect_out_has '"n_tokens":20'
# a model directory without a chat template needs --format
run tokenize --tokenizer "$DELIB_SHARED/data/tokenizers/gptoss" --plain chat.jsonl; expect_rc 1
run tokenize --tokenizer "$DELIB_SHARED/data/tokenizers/gptoss" --format gpt-oss --count --plain chat.jsonl; expect_rc 0
expect_out_has '"n_tokens":'
