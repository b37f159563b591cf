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

# ranks NAME WORLD [FLAGS...]: sft-train on WORLD processes (run_ranks), a global batch of 6.
ranks() { run_ranks "$1" "$2" sft-train "${common[@]}" --batch-size $((6 / $2)) "${@:3}"; }

for s in grad-opt full; do
  ranks $s-straight 2 --sharding $s --save-every 2 --out $s-straight
  ranks_ok $s-straight 2
  mkdir $s-resumed
  cp -r $s-straight/checkpoint-00000002 $s-resumed/
  echo checkpoint-00000002 > $s-resumed/latest
  for r in 0 1; do
    [ -f $s-resumed/checkpoint-00000002/shard-rank-$r-of-2.safetensors ] || fail "$s: no part of rank $r"
  done
  [ ! -e $s-resumed/checkpoint-00000002/optimizer.pt ] || fail "$s: a sharded checkpoint has an optimizer.pt"
  ranks $s-resumed 2 --sharding $s --out $s-resumed --resume $s-resumed
  ranks_ok $s-resumed 2
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
ranks to3 3 --sharding full --out to3 --resume to3
ranks_ok to3 3
grep -q 'resharded from 2 to 3 processes' to3.0.err || fail "no resharding note: $(cat to3.0.err)"
closeto to3 full-straight
ranks three-straight 3 --sharding full --save-every 2 --out three-straight
ranks_ok three-straight 3
mkdir to2
cp -r three-straight/checkpoint-00000002 to2/
echo checkpoint-00000002 > to2/latest
ranks to2 2 --sharding full --out to2 --resume to2
ranks_ok to2 2
closeto to2 three-straight
# grad-opt reshards too (2 -> 3).
mkdir g3
cp -r grad-opt-straight/checkpoint-00000002 g3/
echo checkpoint-00000002 > g3/latest
ranks g3 3 --sharding grad-opt --out g3 --resume g3
ranks_ok g3 3
closeto g3 grad-opt-straight

# Refusals leave the checkpoint as it was (same files, same bytes).
sums() { (cd "$1" && find . -type f | sort | xargs sha256sum); }
# A missing part: every rank stops, naming it.
rm full-resumed/checkpoint-00000004/shard-rank-1-of-2.safetensors
before=$(sums full-resumed)
ranks missing 2 --sharding full --out full-resumed --resume full-resumed
ranks_rc missing 2 3
ranks_grep missing 2 'shard-rank-1-of-2.safetensors:.*missing: a sharded checkpoint has one part per rank'
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
ranks foreign 2 --sharding full --out to2 --resume to2
ranks_rc foreign 2 2
ranks_grep foreign 2 "shard-rank-1-of-2.safetensors:.*__metadata__ field 'units'\[1\] is .*the model's unit is .*another model"
[ "$(sums to2)" = "$before" ] || fail "a refused resume changed the checkpoint"
# Another strategy: the trainer state's options.sharding.
before=$(sums g3)
ranks strategy 3 --sharding full --out g3 --resume g3
ranks_rc strategy 3 2
ranks_grep strategy 3 'trainer_state.json:.*cannot resume: sharding was "grad-opt" in the checkpointed run, now "full"'
[ "$(sums g3)" = "$before" ] || fail "a refused resume changed the checkpoint"
