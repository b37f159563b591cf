# --field encodes a text field; ids and n_tokens are added by default; special-token text is
# plain text unless --parse-special; --decode inverts; bad fields fail with FILE:LINE.
TOK="$DELIB_SHARED/data/tokenizers/qwen3"
[ -d "$TOK" ] || fail "missing shared test data $TOK"
printf '%s\n' '{"id":"a","text":"Hello world"}' '{"id":"b","text":"x<|im_end|>y"}' >in.jsonl
run tokenize --tokenizer "$TOK" --field text --plain in.jsonl; expect_rc 0
golden encode.jsonl
run tokenize --tokenizer "$TOK" --field text --count --plain in.jsonl; expect_rc 0
expect_out '{"id":"a","text":"Hello world","n_tokens":2}
{"id":"b","text":"x<|im_end|>y","n_tokens":8}'
run tokenize --tokenizer "$TOK" --field text --ids --parse-special --plain in.jsonl; expect_rc 0
expect_out_has '"ids":[87,151645,88]'
# round trip through --decode into another field
tokenize --tokenizer "$TOK" --field text --ids --plain in.jsonl >ids.jsonl
run tokenize --tokenizer "$TOK" --decode --field back --plain ids.jsonl; expect_rc 0
expect_out_has '"back":"Hello world"'
expect_out_has '"back":"x<|im_end|>y"'
# a missing field is an error naming the file and line
printf '%s\n' '{"text":"ok"}' '{"other":1}' >bad.jsonl
run tokenize --tokenizer "$TOK" --field text --plain bad.jsonl; expect_rc 1
expect_err_glob "tokenize: bad.jsonl:2: field 'text'*"
run tokenize --tokenizer "$TOK" --field text --plain --on-error skip bad.jsonl; expect_rc 0
expect_out '{"text":"ok","ids":[562],"n_tokens":1}'
