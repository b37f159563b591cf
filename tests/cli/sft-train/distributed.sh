# Two Gloo processes (torchrun-style environment) equal one process with the same global
# batch: same losses and gradient norms (to float rounding), same final weights.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 9
common=(--model model --plain --max-length 256 --max-steps 4 --lr 3e-3 --seed 3 --threads 1 data.jsonl)
run sft-train "${common[@]}" --batch-size 4 --out one
expect_rc 0
printf '%s\n' "$out" > one.jsonl
port=$("$DELIB_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2
RANK=0 LOCAL_RANK=0 sft-train "${common[@]}" --batch-size 2 --out two >two.jsonl 2>two0.err &
pid0=$!
RANK=1 LOCAL_RANK=1 sft-train "${common[@]}" --batch-size 2 --out two >two1.jsonl 2>two1.err &
pid1=$!
wait $pid0 || fail "rank 0 failed: $(cat two0.err)"
wait $pid1 || fail "rank 1 failed: $(cat two1.err)"
unset MASTER_ADDR MASTER_PORT WORLD_SIZE
[ ! -s two1.jsonl ] || fail "rank 1 wrote metrics: $(cat two1.jsonl)"
# Only rank 0 writes the output directory: exactly the files of the one-process run (no
# staging directory left, nothing of rank 1's).
[ "$(cd two && find . | sort)" = "$(cd one && find . | sort)" ] \
  || fail "two/ differs from one/: $(diff <(cd one && find . | sort) <(cd two && find . | sort))"
"$DELIB_PYTHON" - <<'PY' || fail "2 processes differ from 1"
import json, torch
from safetensors.torch import load_file
one = [json.loads(l) for l in open("one.jsonl")]
two = [json.loads(l) for l in open("two.jsonl")]
assert len(one) == len(two) == 4, (len(one), len(two))
for a, b in zip(one, two):
    assert a["tokens"] == b["tokens"] and a["target_tokens"] == b["target_tokens"], (a, b)
    for k in ("loss", "grad_norm"):
        assert abs(a[k] - b[k]) <= 1e-5 * max(1.0, abs(a[k])), (k, a[k], b[k])
w1 = load_file("one/checkpoint-00000004/model.safetensors")
w2 = load_file("two/checkpoint-00000004/model.safetensors")
assert w1.keys() == w2.keys()
d = max((w1[k] - w2[k]).abs().max().item() for k in w1)
assert d < 1e-5, d
print("max weight difference", d)
PY
