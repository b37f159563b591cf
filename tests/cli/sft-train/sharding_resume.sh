# Resuming a sharded run (2 Gloo processes, grad-opt and full): each rank reloads its own part
# of the master weights and AdamW state (shard-rank-R-of-2.safetensors, written by each rank
# into the checkpoint before it is published), so steps 3-4 after a resume from checkpoint 2
# equal, bit for bit, the steps 3-4 of the run that never stopped (losses, gradient norms,
# final weights). On another world size (2 -> 3, 3 -> 2) the parts are resharded on load and
# the steps equal the uninterrupted run's up to float reduction order. A missing part, a part
# of another model and a checkpoint of another strategy are refused on every rank, naming the
# file and field, and nothing in the checkpoint changes.
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
  for r in 0 1; do
    [ -f $s-resumed/checkpoint-00000002/shard-rank-$r-of-2.safetensors ] || fail "$s: no part of rank $r"
  done
  [ ! -e $s-resumed/checkpoint-00000002/optimizer.pt ] || fail "$s: a sharded checkpoint has an optimizer.pt"
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

# Resharding: the 2-process full checkpoint at step 2 resumed on 3 processes (global batch 6
# either way), and a 3-process one resumed on 2; steps 3-4 equal the uninterrupted runs'.
# closeto A B: losses and gradient norms of steps 3-4 of A's rank 0 equal B's (rel. 1e-6).
closeto() {
  A=$1 B=$2 py <<'PY' || fail "$1 differs from $2"
import json, os
a = [json.loads(l) for l in open(os.environ["A"] + ".0.jsonl")]
b = [json.loads(l) for l in open(os.environ["B"] + ".0.jsonl")][2:]
assert [r["step"] for r in a] == [3, 4] and [r["step"] for r in b] == [3, 4], (a, b)
for x, y in zip(a, b):
    assert x["tokens"] == y["tokens"], (x, y)
    for k in ("loss", "grad_norm"):
        assert abs(x[k] - y[k]) <= 1e-6 * abs(y[k]), (k, x[k], y[k])
print(os.environ["A"], "= steps 3-4 of", os.environ["B"])
PY
}
mkdir to3
cp -r full-straight/checkpoint-00000002 to3/
echo checkpoint-00000002 > to3/latest
launch to3 3 2 --sharding full --out to3 --resume to3
ok to3.0 to3.1 to3.2
grep -q 'resharded from 2 to 3 processes' to3.0.err || fail "no resharding note: $(cat to3.0.err)"
closeto to3 full-straight
launch three-straight 3 2 --sharding full --save-every 2 --out three-straight
ok three-straight.0 three-straight.1 three-straight.2
mkdir to2
cp -r three-straight/checkpoint-00000002 to2/
echo checkpoint-00000002 > to2/latest
launch to2 2 3 --sharding full --out to2 --resume to2
ok to2.0 to2.1
closeto to2 three-straight
# grad-opt reshards too (2 -> 3).
mkdir g3
cp -r grad-opt-straight/checkpoint-00000002 g3/
echo checkpoint-00000002 > g3/latest
launch g3 3 2 --sharding grad-opt --out g3 --resume g3
ok g3.0 g3.1 g3.2
closeto g3 grad-opt-straight

# Refusals leave the checkpoint as it was (same files, same bytes).
sums() { (cd "$1" && find . -type f | sort | xargs sha256sum); }
# A missing part: every rank stops, naming it.
rm full-resumed/checkpoint-00000004/shard-rank-1-of-2.safetensors
before=$(sums full-resumed)
launch missing 2 3 --sharding full --out full-resumed --resume full-resumed
for r in 0 1; do
  [ "$(cat missing.$r.rc)" = 3 ] || fail "rank $r: exit $(cat missing.$r.rc), expected 3: $(cat missing.$r.err)"
  grep -q 'shard-rank-1-of-2.safetensors:.*missing: a sharded checkpoint has one part per rank' missing.$r.err \
    || fail "$(cat missing.$r.err)"
done
[ "$(sums full-resumed)" = "$before" ] || fail "a refused resume changed the checkpoint"
# A part of another model (its units differ): refused naming the file and the field.
py <<'PY'
import json
from safetensors import safe_open
from safetensors.torch import save_file
p = "to2/checkpoint-00000004/shard-rank-1-of-2.safetensors"
with safe_open(p, "pt") as f:
    meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
units = json.loads(meta["units"])
units[1][1] += 1
meta["units"] = json.dumps(units)
save_file(tensors, p, metadata=meta)
PY
before=$(sums to2)
launch foreign 2 3 --sharding full --out to2 --resume to2
for r in 0 1; do
  [ "$(cat foreign.$r.rc)" = 2 ] || fail "rank $r: exit $(cat foreign.$r.rc), expected 2: $(cat foreign.$r.err)"
  grep -q "shard-rank-1-of-2.safetensors:.*__metadata__ field 'units'\[1\] is .*the model's unit is .*another model" foreign.$r.err \
    || fail "$(cat foreign.$r.err)"
done
[ "$(sums to2)" = "$before" ] || fail "a refused resume changed the checkpoint"
# Another strategy: the trainer state's options.sharding.
before=$(sums g3)
launch strategy 3 2 --sharding full --out g3 --resume g3
for r in 0 1 2; do
  [ "$(cat strategy.$r.rc)" = 2 ] || fail "rank $r: exit $(cat strategy.$r.rc), expected 2: $(cat strategy.$r.err)"
  grep -q 'trainer_state.json:.*cannot resume: sharding was "grad-opt" in the checkpointed run, now "full"' strategy.$r.err \
    || fail "$(cat strategy.$r.err)"
done
[ "$(sums g3)" = "$before" ] || fail "a refused resume changed the checkpoint"
