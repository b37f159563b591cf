# --rejects is in input order, as the output, whatever order a concurrent judge answers in: the
# same file as a one-request-at-a-time run. Against the test server's echo judge, half of whose
# requests (chosen by request hash) answer 0.4 s late, so answers arrive out of order.
spec="$DELIB_SRC/specs/small.md"
for i in $(seq 0 23); do
  printf '{"id":"r%d","prompt":"q","category":"medical","reasoning":"r","answer":"Answer %d."}\n' $i $i
done > in.jsonl

start_server ref
ref=(--spec "$spec" --backend openai --base-url "$url" --model echo --min-score 5 --plain -q in.jsonl)
run cot-judge "${ref[@]}" --concurrency 1 -o one.out --rejects one.rej; expect_rc 0
[ "$(wc -l < one.rej)" -ge 3 ] || fail "fewer than 3 records filtered out: the case proves nothing"
[ -s one.out ] || fail "no record kept: the case proves nothing"
# A fresh server: the test server injects at most one fault per request body, ever.
start_server up --fault-rate 0.5 --faults slow --slow-seconds 0.4 --max-faults-per-request 1
srv=(--spec "$spec" --backend openai --base-url "$url" --model echo --min-score 5 --plain -q in.jsonl)
run cot-judge "${srv[@]}" --concurrency 8 -o many.out --rejects many.rej; expect_rc 0
cmp many.out one.out || fail "the output depends on --concurrency"
[ "$(sort many.rej)" = "$(sort one.rej)" ] || fail "--rejects holds other records with --concurrency 8"
cmp many.rej one.rej || fail "--rejects is not in input order with --concurrency 8: $(grep -o '"id":"r[0-9]*"' many.rej | tr '\n' ' ')"
