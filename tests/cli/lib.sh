# Helpers for CLI golden cases (sourced by run-case.sh).

fail() { echo "FAIL: $*" >&2; exit 1; }

# run CMD...: runs CMD, capturing stdout in $out, stderr in $err, status in $rc.
run() {
  set +e
  "$@" >"$work/.out" 2>"$work/.err"
  rc=$?
  set -e
  out=$(cat "$work/.out")
  err=$(cat "$work/.err")
}

expect_rc() { [ "$rc" = "$1" ] || fail "exit status $rc, expected $1 (stderr: $err)"; }
expect_out() { [ "$out" = "$1" ] || fail "stdout differs:
--- got
$out
--- expected
$1"; }
# expect_err_glob PATTERN: stderr matches the shell glob.
expect_err_glob() { [[ "$err" == $1 ]] || fail "stderr '$err' does not match '$1'"; }
expect_out_has() { [[ "$out" == *"$1"* ]] || fail "stdout lacks '$1': $out"; }

# golden NAME: compares $out with $CASE_DIR/golden/NAME (or writes it with DELIB_UPDATE_GOLDEN=1).
golden() {
  local g="$CASE_DIR/golden/$1"
  if [ "${DELIB_UPDATE_GOLDEN:-0}" = 1 ]; then
    mkdir -p "$(dirname "$g")"; printf '%s\n' "$out" >"$g"; return
  fi
  [ -f "$g" ] || fail "missing golden file $g (run with DELIB_UPDATE_GOLDEN=1)"
  diff -u "$g" <(printf '%s\n' "$out") >&2 || fail "stdout differs from $g"
}

# built_tools CASE: sets the array `tools` to every tool of tools/ that is built in $DELIB_BIN
# (a tool missing from the build is a failure, except a LibTorch tool in a build configured
# with DELIB_WITH_TORCH=OFF, which is named on stderr as not checked by CASE).
built_tools() {
  local torch_off=0 d t
  grep -q '^DELIB_WITH_TORCH:BOOL=OFF' "$DELIB_BIN/../CMakeCache.txt" 2>/dev/null && torch_off=1
  tools=()
  for d in "$DELIB_SRC"/tools/*/; do
    t=$(basename "$d")
    [ -f "$d/CMakeLists.txt" ] || continue
    if [ ! -x "$DELIB_BIN/$t" ] && [ $torch_off = 1 ] && grep -q "delib_tool($t TORCH)" "$d/CMakeLists.txt"; then
      echo "$1: $t is not built (DELIB_WITH_TORCH=OFF): not checked" >&2
      continue
    fi
    [ -x "$DELIB_BIN/$t" ] || fail "tools/$t is not built at $DELIB_BIN/$t"
    tools+=("$t")
  done
  [ ${#tools[@]} -ge 9 ] || fail "only ${#tools[@]} tools found under $DELIB_SRC/tools: ${tools[*]}"
}

# py [ARGS...]: runs the Python script on stdin with $DELIB_PYTHON, the shared helpers of
# tests/cli (judge_log.py) importable, and no __pycache__ written into the source tree.
py() { PYTHONPATH="$DELIB_SRC/tests/cli${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 "$DELIB_PYTHON" - "$@"; }

# start_server DIR [FLAGS...]: the OpenAI-compatible test server (tests/servers/openai_server.py,
# or $SERVER when set) in the background with FLAGS, its request log DIR/log.jsonl, its pid in
# DIR/server.pid (killed when the case exits), its URL in $url.
start_server() {
  local dir=$1; shift
  mkdir -p "$dir"
  trap 'for p in */server.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; cd /; rm -rf "$work"' EXIT
  "$DELIB_PYTHON" "${SERVER:-$DELIB_SRC/tests/servers/openai_server.py}" --port-file "$dir/port" \
    --log "$dir/log.jsonl" --max-lifetime 600 "$@" >/dev/null 2>"$dir/stderr" &
  echo $! > "$dir/server.pid"
  for _ in $(seq 600); do [ -s "$dir/port" ] && break; sleep 0.1; done
  [ -s "$dir/port" ] || fail "test server did not start: $(cat "$dir/stderr")"
  url="http://127.0.0.1:$(cat "$dir/port")/v1"
}

# stop_server DIR: stops the server that start_server DIR started.
stop_server() { kill "$(cat "$1/server.pid")"; rm "$1/server.pid"; }
