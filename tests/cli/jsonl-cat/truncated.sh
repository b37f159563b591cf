# A truncated zstd file: every complete record before the cut is written, then exit 1.
for i in $(seq 1 2000); do printf '{"id":%d,"text":"record number %d with some padding to compress"}\n' $i $i; done > all.jsonl
# Several frames: --flush-each is not a jsonl-cat flag, so build frames by concatenation.
head -n 1000 all.jsonl | zstd -q -c > part.zst
tail -n 1000 all.jsonl | zstd -q -c >> part.zst
size=$(stat -c %s part.zst)
for cut in 5 $((size / 3)) $((size / 2)) $((size - 3)); do
  head -c $cut part.zst > cut.zst
  run jsonl-cat --plain cut.zst
  expect_rc 1
  expect_err_glob "*cut.zst:*truncated zstd stream*"
  # What came out is a prefix of the input, line for line.
  n=$(printf '%s' "$out" | grep -c . || true)
  [ "$n" -eq 0 ] || diff <(printf '%s\n' "$out") <(head -n "$n" all.jsonl) >/dev/null || fail "output at cut $cut is not a prefix"
done
# Cut after the first frame's end: at least its 1000 records come out.
first=$(head -n 1000 all.jsonl | zstd -q -c | wc -c)
head -c $((first + 10)) part.zst > cut.zst
run jsonl-cat --plain cut.zst; expect_rc 1
[ "$(printf '%s\n' "$out" | wc -l)" -ge 1000 ] || fail "records of the complete first frame were lost"
