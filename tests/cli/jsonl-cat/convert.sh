# plain -> zstd -> plain round-trips byte for byte; stdin via '-'; zstd auto-detected.
printf '{"id":"a","x":1.50}\n{"id":"b","y":[1, 2]}\n' > in.jsonl
jsonl-cat in.jsonl -o out.zst
[ "$(head -c4 out.zst | od -An -tx1 | tr -d ' ')" = "28b52ffd" ] || fail "output is not zstd"
run jsonl-cat --plain - < out.zst; expect_rc 0
[ "$out" = "$(cat in.jsonl)" ] || fail "round trip changed bytes: $out"
# Idempotent: converting twice gives the same records.
jsonl-cat --plain out.zst | jsonl-cat --plain > again.jsonl
cmp -s again.jsonl in.jsonl || fail "not idempotent"
# Two inputs are concatenated in order.
run jsonl-cat --plain in.jsonl out.zst; expect_rc 0
[ "$(printf '%s\n' "$out" | wc -l)" = 4 ] || fail "concatenation"
