# --stats prints counts and nearest-rank percentiles instead of the records.
TOK="$DELIB_SHARED/data/tokenizers/llama3_1"
[ -d "$TOK" ] || fail "missing shared test data $TOK"
for i in 1 2 3 4 5 6 7 8 9 10; do printf '{"text":"%s"}\n' "$(printf 'word %.0s' $(seq 1 $i))"; done >in.jsonl
run tokenize --tokenizer "$TOK" --field text --stats in.jsonl; expect_rc 0
golden stats.txt
# with -o the records are written as well
run tokenize --tokenizer "$TOK" --field text --stats -o out.jsonl in.jsonl; expect_rc 0
[ "$(wc -l <out.jsonl)" = 10 ] || fail "records not written with -o"
