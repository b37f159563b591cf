# Resuming a sharded run (2 Gloo processes, grad-opt and full): each rank reloads its own part
# of the AdamW state (rank 0: optimizer.pt, rank R: optimizer-rank-R-of-2.pt), so steps 3-4
# after a resume from checkpoint 2 equal, bit for bit, the steps 3-4 of the run that never
# stopped (losses, gradient norms, final weights). Another world size, or a missing part, is
# refused on every rank.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 12
common=(--model model --plain --max-length 256 --max-steps 4 --lr 3e-3 --weight-decay 0.1 --seed 3 --threads 1 data.jsonl)

# launch NAME WORLD BATCH [FLAGS...]: WORLD processes in a torchrun-style environment; the
# exit status of each rank in NAME.R.rc.
launch() {
  local name=$1 world=$2 batch=$3; shift 3
  local port pids=() r
  port=$("$DELIB_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  for ((r = 0; r < world; r++)); do
    MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=$world RANK=$r LOCAL_RANK=$r \
      sft-train "${common[@]}" --batch-size "$batch" "$@" >"$name.$r.jsonl" 2>"$name.$r.err" &
    pids+=($!)
  done
  for ((r = 0; r < world; r++)); do
    set +e; wait "${pids[$r]}"; echo $? > "$name.$r.rc"; set -e
  done
}
ok() { for r in "$@"; do [ "$(cat "$r.rc")" = 0 ] || fail "$r failed: $(cat "$r.err")"; done; }

for s in grad-opt full; do
  launch $s-straight 2 3 --sharding $s --save-every 2 --out $s-straight
  ok $s-straight.0 $s-straight.1
  mkdir $s-resumed
  cp -r $s-straight/checkpoint-00000002 $s-resumed/
  echo checkpoint-00000002 > $s-resumed/latest
  [ -f $s-resumed/checkpoint-00000002/optimizer-rank-1-of-2.pt ] || fail "$s: no optimizer part of rank 1"
  launch $s-resumed 2 3 --sharding $s --out $s-resumed --resume $s-resumed
  ok $s-resumed.0 $s-resumed.1
  S=$s py <<'PY' || fail "$s: the resumed run differs from the straight one"
import json, os
from safetensors.torch import load_file
s = os.environ["S"]
straight = [json.loads(l) for l in open(f"{s}-straight.0.jsonl")]
resumed = [json.loads(l) for l in open(f"{s}-resumed.0.jsonl")]
assert [r["step"] for r in resumed] == [3, 4], resumed
for a, b in zip(straight[2:], resumed):
    for k in ("loss", "grad_norm", "lr", "tokens"):
        assert a[k] == b[k], (k, a[k], b[k])
w1 = load_file(f"{s}-straight/checkpoint-00000004/model.safetensors")
w2 = load_file(f"{s}-resumed/checkpoint-00000004/model.safetensors")
assert all((w1[k] == w2[k]).all() for k in w1), "weights differ"
print(s, "resumed bit for bit")
PY
done

# Three processes cannot resume a two-process sharded checkpoint (global batch 6 either way).
launch three 3 2 --sharding full --out full-resumed --resume full-straight
for r in 0 1 2; do
  [ "$(cat three.$r.rc)" = 2 ] || fail "rank $r of 3: exit $(cat three.$r.rc), expected 2: $(cat three.$r.err)"
  grep -q 'cannot resume: world_size was 2 in the checkpointed run, now 3' three.$r.err || fail "$(cat three.$r.err)"
done
# A missing part (a kill while saving): every rank stops, naming it.
rm full-resumed/checkpoint-00000004/optimizer-rank-1-of-2.pt
launch missing 2 3 --sharding full --out full-resumed --resume full-resumed
for r in 0 1; do
  [ "$(cat missing.$r.rc)" = 3 ] || fail "rank $r: exit $(cat missing.$r.rc), expected 3: $(cat missing.$r.err)"
  grep -q 'optimizer-rank-1-of-2.pt:.*missing: a sharded checkpoint has one optimizer part per rank' missing.$r.err \
    || fail "$(cat missing.$r.err)"
done
