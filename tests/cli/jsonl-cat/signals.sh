# SIGINT/SIGTERM: the records read so far are written (zstd frame closed), exit 130/143.
for sig in INT TERM; do
  mkfifo fifo.$sig
  (printf '{"id":1}\n{"id":2}\n'; sleep 30) > fifo.$sig &
  feeder=$!
  jsonl-cat --zstd -o out.$sig.zst fifo.$sig &
  pid=$!
  sleep 1
  kill -$sig $pid
  set +e; wait $pid; st=$?; set -e
  kill $feeder 2>/dev/null || true
  want=$([ $sig = INT ] && echo 130 || echo 143)
  [ "$st" = "$want" ] || fail "SIG$sig: exit $st, expected $want"
  [ "$(zstd -dc out.$sig.zst)" = '{"id":1}
{"id":2}' ] || fail "SIG$sig: records lost or frame not closed"
done
