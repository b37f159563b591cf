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

# free_port: a TCP port on 127.0.0.1 that nothing listens on (bound, then released).
free_port() {
  "$DELIB_PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()"
}

# run_ranks NAME WORLD CMD...: CMD on WORLD processes in a torchrun-style environment
# (MASTER_ADDR=127.0.0.1, MASTER_PORT a free port each call, WORLD_SIZE, RANK = LOCAL_RANK = R),
# started together and waited for: rank R's stdout in NAME.R.jsonl, its stderr in NAME.R.err,
# its exit status in NAME.R.rc. Returns 0 whatever the ranks' statuses (check them with
# ranks_ok or ranks_rc). A rank still running after $RANKS_TIMEOUT s (default 120; 0: no limit)
# is stopped, SIGTERM then SIGKILL 5 s later (a rank blocked in a collective does not see
# SIGTERM): exit 124 or 137. Ranks whose collectives fell out of step wait for each other
# forever; the timeout turns that hang into a failure. CMD is a program (not a function); other
# environment for the ranks goes before the call (`VAR=value run_ranks ...`) or through `env`.
run_ranks() {
  local name=$1 world=$2 port pids=() r rc
  shift 2
  port=$(free_port)
  for ((r = 0; r < world; r++)); do
    MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=$world RANK=$r LOCAL_RANK=$r \
      timeout -k 5 "${RANKS_TIMEOUT:-120}" "$@" >"$name.$r.jsonl" 2>"$name.$r.err" &
    pids+=($!)
  done
  for ((r = 0; r < world; r++)); do
    wait "${pids[$r]}" && rc=0 || rc=$?
    echo "$rc" >"$name.$r.rc"
  done
}

# ranks_rc NAME WORLD STATUS: every rank of `run_ranks NAME WORLD` exited STATUS (else fails
# naming the rank, its status, 124/137 as a hang, and its stderr).
ranks_rc() {
  local r rc
  for ((r = 0; r < $2; r++)); do
    rc=$(cat "$1.$r.rc")
    [ "$rc" = "$3" ] && continue
    case $rc in 124|137) rc="$rc (hung: stopped after ${RANKS_TIMEOUT:-120} s)" ;; esac
    fail "$1: rank $r of $2 exited $rc, expected $3: $(cat "$1.$r.err")"
  done
}

# ranks_ok NAME WORLD: every rank of `run_ranks NAME WORLD` exited 0, and the ranks other than
# rank 0 wrote nothing on stdout (rank 0 alone writes the records and metrics).
ranks_ok() {
  local r
  ranks_rc "$1" "$2" 0
  for ((r = 1; r < $2; r++)); do
    [ ! -s "$1.$r.jsonl" ] || fail "$1: rank $r wrote on stdout: $(head -c 300 "$1.$r.jsonl")"
  done
}

# ranks_grep NAME WORLD REGEX: the stderr of every rank of `run_ranks NAME WORLD` matches REGEX
# (grep's basic regular expression).
ranks_grep() {
  local r
  for ((r = 0; r < $2; r++)); do
    grep -q -- "$3" "$1.$r.err" || fail "$1: rank $r's stderr lacks /$3/: $(cat "$1.$r.err")"
  done
}

# kill_ranks NAME WORLD LINES CMD...: as run_ranks, but once rank 0 has written LINES lines on
# stdout every rank is killed with SIGKILL (a crash in mid-run); fails unless every rank died of
# that signal (a run that ended before it, or a rank that failed on its own). WORLD 0: CMD as one
# plain process (no torchrun environment), its stdout in NAME.0.jsonl, stderr in NAME.0.err.
kill_ranks() {
  py "$@" <<'PY' || fail "$1: could not kill the ranks mid-way"
import os, signal, socket, subprocess, sys, time
name, world, lines, cmd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
procs = []
for r in range(max(world, 1)):
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
               RANK=str(r), LOCAL_RANK=str(r)) if world else None
    procs.append(subprocess.Popen(cmd, env=env, stdout=open(f"{name}.{r}.jsonl", "w"),
                                  stderr=open(f"{name}.{r}.err", "w")))
deadline, killed = time.time() + 300, False
while not killed and procs[0].poll() is None and time.time() < deadline:
    with open(f"{name}.0.jsonl") as f:
        if sum(1 for _ in f) >= lines:
            for p in procs:
                p.kill()
            killed = True
    time.sleep(0.002)
for p in procs:
    if p.poll() is None:
        p.kill()   # past the deadline, or rank 0 ended first
    p.wait()
codes = [p.returncode for p in procs]
assert killed, f"rank 0 did not write {lines} lines (in 300 s): exit statuses {codes}"
assert all(c == -signal.SIGKILL for c in codes), f"exit statuses {codes}: a rank ended before the kill"
PY
}
