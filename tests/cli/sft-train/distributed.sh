# Two Gloo processes (torchrun-style environment) equal one process with the same global
# batch: same losses and gradient norms (to float rounding), same final weights.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 9
common=(--model model --plain --max-length 256 --max-steps 4 --lr 3e-3 --seed 3 --threads 1 data.jsonl)
run sft-train "${common[@]}" --batch-size 4 --out one
expect_rc 0
printf '%s\n' "$out" > one.jsonl
run_ranks two 2 sft-train "${common[@]}" --batch-size 2 --out two
ranks_ok two 2
# Only rank 0 writes the output directory: exactly the files of the one-process run (no
# staging directory left, nothing of rank 1's).
[ "$(cd two && find . | sort)" = "$(cd one && find . | sort)" ] \
  || fail "two/ differs from one/: $(diff <(cd one && find . | sort) <(cd two && find . | sort))"
"$DELIB_PYTHON" - <<'PY' || fail "2 processes differ from 1"
import json, torch
from safetensors.torch import load_file
one = [json.loads(l) for l in open("one.jsonl")]
two = [json.loads(l) for l in open("two.0.jsonl")]
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
