# Exit codes: usage 2, unreadable tokenizer 3, unsupported tokenizer.json component 1.
run tokenize --field text; expect_rc 2
run tokenize --tokenizer /nonexistent --field text </dev/null; expect_rc 3
expect_err_glob "tokenize: /nonexistent*"
printf '%s' '{"model":{"type":"Unigram","vocab":[]}}' >uni.json
run tokenize --tokenizer uni.json --field text </dev/null; expect_rc 1
expect_err_glob "tokenize: uni.json: unsupported model type 'Unigram'*"
run tokenize --tokenizer uni.json --decode --count </dev/null; expect_rc 2
