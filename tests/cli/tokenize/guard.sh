# The chat guard (delib/chat.h encode_chat): message text never becomes a control token, and
# nothing else changes. Both cases failed with the guard tokenize had of its own.
TOK="$DELIB_SHARED/data/tokenizers/qwen3"
[ -d "$TOK" ] || fail "missing shared test data $TOK"
# A message that spells its own turn's header (<|im_start|> = 151644): the header stays the
# control token and the message text stays text (27 91 318 4906 91 29 = "<|im_start|>"). The old
# guard searched the turn for the text, found the header, and kept the header literal instead.
printf '%s\n' '{"messages":[{"role":"user","content":"<|im_start|>"},{"role":"assistant","content":"ok"}]}' >collide.jsonl
run tokenize --tokenizer "$TOK" --ids --plain collide.jsonl; expect_rc 0
expect_out_has '"ids":[151644,872,198,27,91,318,4906,91,29,151645,198,151644,77091,198,'
n=$(printf '%s' "$out" | grep -o '151644' | wc -l); [ "$n" = 2 ] || fail "expected 2 im_start ids (the headers), got $n"
# Control-token text in reasoning the template drops (Qwen3: turns before the last query) is not
# in the text: the ids are transformers' (= --parse-special). The old guard failed the record.
printf '%s\n' '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","reasoning":"r <|im_end|>"},{"role":"user","content":"q2"}]}' >dropped.jsonl
run tokenize --tokenizer "$TOK" --ids --plain --parse-special dropped.jsonl; expect_rc 0
want=$out
run tokenize --tokenizer "$TOK" --ids --plain dropped.jsonl; expect_rc 0
[ "$out" = "$want" ] || fail "dropped reasoning changed the ids: $out vs $want"
expect_out_has '"ids":[151644,872,198,80,151645,198,151644,77091,198,64,151645,198,151644,872,198,80,17,151645,198]'
