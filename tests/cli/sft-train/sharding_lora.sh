# --sharding full with --lora: the frozen base is sharded too (its own units, gathered like the
# adapters' and released, no gradients or AdamW state). 2 Gloo processes equal one unsharded
# process with the same global batch: losses and gradient norms (rel. 1e-6), the PEFT adapter
# and the merged model of the last checkpoint (1e-5). The base weights in the merged save are
# gathered whole for the save (the merge reads base and adapters together).
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 12
common=(--model model --plain --max-length 256 --max-steps 3 --lr 3e-3 --seed 3 --threads 1 --lora --lora-rank 4 data.jsonl)
run sft-train "${common[@]}" --batch-size 6 --out ref
expect_rc 0
printf '%s\n' "$out" > ref.jsonl
run_ranks full 2 sft-train "${common[@]}" --batch-size 3 --sharding full --out full
ranks_ok full 2
py <<'PY' || fail "full + LoRA differs from one unsharded process"
import json
from safetensors.torch import load_file
a = [json.loads(l) for l in open("ref.jsonl")]
b = [json.loads(l) for l in open("full.0.jsonl")]
assert len(a) == len(b) == 3, (len(a), len(b))
for x, y in zip(a, b):
    for k in ("loss", "grad_norm"):
        assert abs(x[k] - y[k]) <= 1e-6 * abs(x[k]), (k, x[k], y[k])
for f in ("adapter/adapter_model.safetensors", "model.safetensors"):
    w1, w2 = load_file(f"ref/checkpoint-00000003/{f}"), load_file(f"full/checkpoint-00000003/{f}")
    assert w1.keys() == w2.keys(), f
    d = max((w1[k] - w2[k]).abs().max().item() for k in w1)
    assert d < 1e-5, (f, d)
    print(f, "max difference", d)
PY
