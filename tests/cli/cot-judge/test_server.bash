# Sourced by the cot-judge cases that talk to the test server (tests/servers/openai_server.py).
# (Not a case itself: run-case.sh runs *.sh only.)
trap 'for p in */server.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; cd /; rm -rf "$work"' EXIT
# start_server DIR [FLAGS...]: the test server in the background, its request log DIR/log.jsonl,
# its pid in DIR/server.pid; its URL in $url.
start_server() {
  local dir=$1; shift
  mkdir -p "$dir"
  "$DELIB_PYTHON" "$DELIB_SRC/tests/servers/openai_server.py" --port-file "$dir/port" --log "$dir/log.jsonl" \
    --max-lifetime 600 "$@" >/dev/null 2>"$dir/stderr" &
  echo $! > "$dir/server.pid"
  for _ in $(seq 600); do [ -s "$dir/port" ] && break; sleep 0.1; done
  [ -s "$dir/port" ] || fail "test server did not start: $(cat "$dir/stderr")"
  url="http://127.0.0.1:$(cat "$dir/port")/v1"
}
