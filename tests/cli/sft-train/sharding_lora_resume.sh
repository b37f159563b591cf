# Resuming a sharded LoRA run (2 Gloo processes, grad-opt and full; with full the frozen base is
# sharded too): each rank reloads its part of the adapters' master weights and AdamW state
# (shard-rank-R-of-2.safetensors) and, with full, reads its part of the base from the base
# model, so steps 3-4 after a resume from checkpoint 2 equal, bit for bit, the steps 3-4 of the
# run that never stopped (losses, gradient norms, the PEFT adapter and the merged model of the
# last checkpoint). On 3 processes (the same global batch of 6) the 2-process parts are
# resharded on load and the steps equal the uninterrupted run's up to float reduction order.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 12
common=(--model model --plain --max-length 256 --max-steps 4 --lr 3e-3 --weight-decay 0.1 --seed 3 --threads 1
        --lora --lora-rank 4 data.jsonl)

# ranks NAME WORLD [FLAGS...]: sft-train on WORLD processes (run_ranks), a global batch of 6;
# every rank must succeed.
ranks() { run_ranks "$1" "$2" sft-train "${common[@]}" --batch-size $((6 / $2)) "${@:3}"; ranks_ok "$1" "$2"; }
# resume_from RUN STEP DIR: DIR/ holds a copy of RUN's checkpoint STEP as its latest.
resume_from() {
  mkdir "$3"
  cp -r "$1/checkpoint-0000000$2" "$3/"
  echo "checkpoint-0000000$2" > "$3/latest"
}

for s in grad-opt full; do
  ranks $s-straight 2 --sharding $s --save-every 2 --out $s-straight
  resume_from $s-straight 2 $s-resumed
  for r in 0 1; do
    [ -f $s-resumed/checkpoint-00000002/shard-rank-$r-of-2.safetensors ] || fail "$s: no part of rank $r"
  done
  ranks $s-resumed 2 --sharding $s --out $s-resumed --resume $s-resumed
  grep -q 'resuming from' $s-resumed.0.err || fail "$s: did not resume: $(cat $s-resumed.0.err)"
  S=$s py <<'PY' || fail "$s: the resumed LoRA run differs from the straight one"
import json, os
from safetensors.torch import load_file
s = os.environ["S"]
straight = [json.loads(l) for l in open(f"{s}-straight.0.jsonl")]
resumed = [json.loads(l) for l in open(f"{s}-resumed.0.jsonl")]
assert [r["step"] for r in straight] == [1, 2, 3, 4], straight
assert [r["step"] for r in resumed] == [3, 4], resumed
for a, b in zip(straight[2:], resumed):
    for k in ("loss", "grad_norm", "lr", "tokens"):
        assert a[k] == b[k], (k, a[k], b[k])   # bitwise
for f in ("adapter/adapter_model.safetensors", "model.safetensors"):
    w1 = load_file(f"{s}-straight/checkpoint-00000004/{f}")
    w2 = load_file(f"{s}-resumed/checkpoint-00000004/{f}")
    assert w1.keys() == w2.keys() and all((w1[k] == w2[k]).all() for k in w1), f"{f} differs"
print(s, "+ LoRA resumed bit for bit")
PY
done

# full + LoRA: the 2-process checkpoint at step 2 resumed on 3 processes.
resume_from full-straight 2 to3
ranks to3 3 --sharding full --out to3 --resume to3
grep -q 'resharded from 2 to 3 processes' to3.0.err || fail "no resharding note: $(cat to3.0.err)"
py <<'PY' || fail "the LoRA run resumed on 3 processes differs from the 2-process one"
import json
from safetensors.torch import load_file
a = [json.loads(l) for l in open("to3.0.jsonl")]
b = [json.loads(l) for l in open("full-straight.0.jsonl")][2:]
assert [r["step"] for r in a] == [3, 4] and [r["step"] for r in b] == [3, 4], (a, b)
for x, y in zip(a, b):
    assert x["tokens"] == y["tokens"], (x, y)
    for k in ("loss", "grad_norm"):
        assert abs(x[k] - y[k]) <= 1e-6 * abs(y[k]), (k, x[k], y[k])
w1 = load_file("to3/checkpoint-00000004/adapter/adapter_model.safetensors")
w2 = load_file("full-straight/checkpoint-00000004/adapter/adapter_model.safetensors")
d = max((w1[k] - w2[k]).abs().max().item() for k in w1)
assert d < 1e-6, d
print("2 -> 3 processes: steps 3-4 equal, adapter max difference", d)
PY
