# --resume continues both files of a run, the output and --rejects (where the records an earlier
# run filtered out went), each in its own format whatever this run's flags ask for, and judges
# only what neither holds: the two files then hold what an uninterrupted run's hold. SIGINT stops a run
# with exit 130 and a clean prefix that --resume completes. Against the test server's echo judge
# (tests/servers/openai_server.py).
spec="$DELIB_SRC/specs/small.md"
for i in $(seq 0 11); do
  printf '{"id":"r%d","prompt":"q","category":"medical","reasoning":"r","answer":"Answer %d."}\n' $i $i
done > in.jsonl
head -6 in.jsonl > half.jsonl

start_server up
srv=(--spec "$spec" --backend openai --base-url "$url" --model echo --min-score 5 -q)
# Uninterrupted, plain: the reference.
run cot-judge "${srv[@]}" --plain in.jsonl -o full.out --rejects full.rej; expect_rc 0
# The first half, plain; then all of it resumed without --plain (a name without .jsonl would
# be zstd in a fresh run): both files go on as plain, and nothing is judged twice.
run cot-judge "${srv[@]}" --plain half.jsonl -o part.out --rejects part.rej; expect_rc 0
first=$(cat part.out part.rej | wc -l)
[ "$first" = 6 ] || fail "the first half wrote $first records"
grep -q '"r[0-5]"' part.rej || fail "no record of the first half was filtered out: the case proves nothing"
grep -q '"r[0-5]"' part.out || fail "no record of the first half was kept: the case proves nothing"
n_before=$(wc -l < up/log.jsonl)
run cot-judge "${srv[@]}" in.jsonl --resume part.out --rejects part.rej; expect_rc 0
n_after=$(wc -l < up/log.jsonl)
[ $((n_after - n_before)) = 6 ] || fail "the resumed run sent $((n_after - n_before)) requests, not 6"
cmp part.out full.out || fail "resumed output differs from an uninterrupted run"
# --rejects is in input order (rejects_order.sh): the same file, and all of it plain.
cmp part.rej full.rej ||
  fail "resumed --rejects differs from an uninterrupted run (not continued in its own format?)"
grep -q '"r\([6-9]\|1[01]\)"' full.rej || fail "no record of the second half was filtered out: the case proves nothing"

# SIGINT mid-run against a slow judge: exit 130, a clean prefix; --resume completes it.
start_server slow --fault-rate 1 --faults slow --slow-seconds 0.3 --max-faults-per-request 1
slow=(--spec "$spec" --backend openai --base-url "$url" --model echo --concurrency 1 --chunk 4 --plain -q)
cot-judge "${slow[@]}" in.jsonl -o int.out 2>int.err &
pid=$!
for _ in $(seq 400); do [ -s int.out ] && break; sleep 0.05; done
kill -INT $pid
set +e; wait $pid; rc=$?; set -e
[ "$rc" = 130 ] || fail "SIGINT: exit $rc, expected 130 (stderr: $(cat int.err))"
n=$(wc -l < int.out)
[ "$n" -gt 0 ] && [ "$n" -lt 12 ] || fail "the interrupt must land mid-run ($n records)"
run cot-judge "${slow[@]}" --plain in.jsonl -o slow-ref.out; expect_rc 0
[ "$(head -n "$n" slow-ref.out)" = "$(cat int.out)" ] || fail "the interrupted output is not a prefix"
run cot-judge "${slow[@]}" in.jsonl --resume int.out; expect_rc 0
cmp int.out slow-ref.out || fail "resumed after SIGINT differs from an uninterrupted run"
