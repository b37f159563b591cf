# Shell helpers for CLI cases that need the OpenAI-compatible test server (openai_server.py).
# Source it from a case (tests/cli/<tool>/<case>.sh, run by tests/cli/run-case.sh):
#
#   source "$DELIB_SRC/tests/servers/server.sh"
#   start_server NAME [openai_server.py ARGS...]
#
# starts a server on a free 127.0.0.1 port and sets ${NAME}_url (base URL ending in /v1),
# ${NAME}_log (its --log file: one JSON line per successful completion) and ${NAME}_port.
# Servers are stopped when the case exits (the EXIT trap also removes run-case.sh's $work).
# server_stats NAME prints the server's /stats JSON. (A port nothing listens on, for a server that
# is down: free_port, from tests/cli/lib.sh.)

_delib_servers=()

_delib_stop_servers() {
  local pid
  for pid in "${_delib_servers[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap '_delib_stop_servers; rm -rf "$work"' EXIT

start_server() {
  local name=$1; shift
  local dir="$work/.server-$name"
  mkdir -p "$dir"
  "$DELIB_PYTHON" "$DELIB_SRC/tests/servers/openai_server.py" --port-file "$dir/port" \
    --log "$dir/log.jsonl" --max-lifetime 600 "$@" >/dev/null 2>"$dir/stderr" &
  local pid=$!
  _delib_servers+=("$pid")
  local i
  for i in $(seq 1 600); do
    [ -s "$dir/port" ] && break
    kill -0 "$pid" 2>/dev/null || fail "test server $name exited: $(cat "$dir/stderr")"
    sleep 0.1
  done
  [ -s "$dir/port" ] || fail "test server $name did not start in 60 s"
  local port; port=$(cat "$dir/port")
  printf -v "${name}_port" '%s' "$port"
  printf -v "${name}_url" '%s' "http://127.0.0.1:$port/v1"
  printf -v "${name}_log" '%s' "$dir/log.jsonl"
  : >>"$dir/log.jsonl"
}

server_stats() {
  local port_var="${1}_port"
  "$DELIB_PYTHON" -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:${!port_var}/stats').read().decode())"
}
