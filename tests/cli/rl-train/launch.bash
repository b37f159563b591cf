# Sourced by the rl-train --sharding cases (not a case itself: cases end in .sh).
#
# launch NAME WORLD [ARGS...]: rl-train ARGS on WORLD Gloo processes in a torchrun-style
# environment (a free port each time): rank R's stdout in NAME.R.jsonl, stderr in NAME.R.err,
# exit status in NAME.R.rc. A rank still running after 90 s is stopped (SIGTERM, then SIGKILL 5 s
# later: a rank blocked in a collective does not see SIGTERM; exit 124 or 137): ranks whose
# collectives fell out of step wait for each other forever.
launch() {
  local name=$1 world=$2 port pids=() r
  shift 2
  port=$("$DELIB_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  for ((r = 0; r < world; r++)); do
    MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=$world RANK=$r LOCAL_RANK=$r \
      timeout -k 5 90 rl-train "$@" >"$name.$r.jsonl" 2>"$name.$r.err" &
    pids+=($!)
  done
  for ((r = 0; r < world; r++)); do
    set +e
    wait "${pids[$r]}"
    echo $? >"$name.$r.rc"
    set -e
  done
}

# ok NAME WORLD: every rank of `launch NAME WORLD` exited 0.
ok() {
  local r
  for ((r = 0; r < $2; r++)); do
    [ "$(cat "$1.$r.rc")" = 0 ] || fail "$1: rank $r exited $(cat "$1.$r.rc"): $(cat "$1.$r.err")"
  done
}
