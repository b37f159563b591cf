# kill -9 of every rank in the middle of a 2-process --sharding full run, then --resume on 2
# processes: the loss curve equals an uninterrupted run's bit for bit (CPU). A checkpoint is
# published only once every rank has written its part into it, so a kill during a save leaves
# the previous checkpoint the latest.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 10
args=(--model model --plain --max-length 256 --batch-size 1 --epochs 4 --lr 3e-3 --seed 5 --threads 1
      --save-every 1 --sharding full data.jsonl)
port() { "$DELIB_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# launch NAME: 2 processes writing into run NAME (metrics of rank 0 in NAME.jsonl).
launch() {
  local p pids=() r
  p=$(port)
  for r in 0 1; do
    MASTER_ADDR=127.0.0.1 MASTER_PORT=$p WORLD_SIZE=2 RANK=$r LOCAL_RANK=$r \
      sft-train "${args[@]}" "${@:2}" >"$1.$r.jsonl" 2>"$1.$r.err" &
    pids+=($!)
  done
  for r in 0 1; do wait "${pids[$r]}" || fail "$1: rank $r failed: $(cat "$1.$r.err")"; done
}
launch ref --out ref
# The same run, both ranks killed with SIGKILL once rank 0 has reported 9 of its 24 steps.
P=$(port) py "${args[@]}" <<'PY' || fail "could not kill the run mid-way"
import os, signal, subprocess, sys, time
args = sys.argv[1:]
procs = []
for r in (0, 1):
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ["P"], WORLD_SIZE="2", RANK=str(r), LOCAL_RANK=str(r))
    procs.append(subprocess.Popen(["sft-train", *args, "--out", "run"], env=env,
                                  stdout=open(f"killed.{r}.jsonl", "w"), stderr=open(f"killed.{r}.err", "w")))
while procs[0].poll() is None:
    with open("killed.0.jsonl") as f:
        if sum(1 for _ in f) >= 9:
            for p in procs:
                os.kill(p.pid, signal.SIGKILL)
            break
    time.sleep(0.002)
for p in procs:
    p.wait()
assert all(p.returncode == -signal.SIGKILL for p in procs), [p.returncode for p in procs]
PY
[ -f run/latest ] || fail "no checkpoint before the kill"
launch resumed --out run --resume run
grep -q 'resuming from' resumed.0.err || fail "did not resume: $(cat resumed.0.err)"
py <<'PY' || fail "the resumed loss curve differs"
import json
from safetensors.torch import load_file
ref = {r["step"]: r for r in map(json.loads, open("ref.0.jsonl"))}
got = {}
for name in ("killed.0.jsonl", "resumed.0.jsonl"):   # resumed steps override
    for line in open(name):
        if line.strip():
            r = json.loads(line)
            got[r["step"]] = r
assert sorted(got) == sorted(ref) and len(ref) == 24, (sorted(got), sorted(ref))
for s in ref:
    for k in ("loss", "grad_norm", "lr"):
        assert got[s][k] == ref[s][k], (s, k, got[s][k], ref[s][k])   # bitwise
w1, w2 = load_file("ref/checkpoint-00000024/model.safetensors"), load_file("run/checkpoint-00000024/model.safetensors")
assert all((w1[k] == w2[k]).all() for k in w1), "final weights differ"
print("steps", len(ref), "identical; final weights identical")
PY
