# --sharding grad-opt (gradients and AdamW state 1/N per process, ZeRO-2) and full (parameters
# too, gathered a unit at a time, ZeRO-3) on 1, 2 and 3 Gloo processes equal one unsharded
# process with the same global batch of 6: same losses and gradient norms (rel. 1e-6, f32) and
# the same final weights. 13 records make the third step's global batch a single example, so
# some ranks have none (they run zero-weighted micro-batches to keep their gathers and
# reduce-scatters in step; a rank out of step would hang, and run_ranks would time out). The
# 1-process runs go through a Gloo process group of one (WORLD_SIZE=1 under a launcher).
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 12
common=(--model model --plain --max-length 256 --max-steps 4 --lr 3e-3 --weight-decay 0.1 --seed 3 --threads 1 data.jsonl)
run sft-train "${common[@]}" --batch-size 6 --out ref
expect_rc 0
printf '%s\n' "$out" > ref.jsonl

# name, processes, batch per process, strategy: each run's global batch is 6.
for spec in "g1 1 6 grad-opt" "g2 2 3 grad-opt" "g3 3 2 grad-opt" "f1 1 6 full" "f2 2 3 full" "f3 3 2 full"; do
  read -r name world batch strategy <<<"$spec"
  run_ranks $name $world sft-train "${common[@]}" --batch-size $batch --out $name --sharding $strategy
  ranks_ok $name $world
done

py <<'PY' || fail "a sharded run differs from one unsharded process"
import json
from safetensors.torch import load_file
ref = [json.loads(l) for l in open("ref.jsonl")]
w_ref = load_file("ref/checkpoint-00000004/model.safetensors")
for name in ("g1", "g2", "g3", "f1", "f2", "f3"):
    rows = [json.loads(l) for l in open(f"{name}.0.jsonl")]
    assert len(rows) == len(ref) == 4, (name, len(rows))
    for a, b in zip(ref, rows):
        assert a["tokens"] == b["tokens"] and a["target_tokens"] == b["target_tokens"], (name, a, b)
        for k in ("loss", "grad_norm"):
            assert abs(a[k] - b[k]) <= 1e-6 * abs(a[k]), (name, k, a[k], b[k])
    w = load_file(f"{name}/checkpoint-00000004/model.safetensors")
    assert w.keys() == w_ref.keys()
    d = max((w[k] - w_ref[k]).abs().max().item() for k in w)
    loss_d = max(abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(ref, rows))
    print(f"{name}: max relative loss difference {loss_d:.2e}, max weight difference {d:.2e}")
    assert d < 1e-5, (name, d)
PY

# The run identity records the strategy: resuming the grad-opt run unsharded is refused
# (its optimizer.pt is rank 0's part only). Resuming sharded runs: sharding_resume.sh.
run sft-train "${common[@]}" --batch-size 6 --out g1 --resume g1
expect_rc 2
expect_err_glob "*cannot resume: sharding was \"grad-opt\" in the checkpointed run, now \"none\"*"

# Tied embeddings (the embedding unit also serves the LM head) with activation checkpointing
# (each layer gathered again for its recomputation): full on 2 processes = 1 unsharded process.
py <<'PY'
import json, torch
from transformers import Qwen3Config, Qwen3ForCausalLM
cfg = json.load(open("model/config.json"))
cfg["tie_word_embeddings"] = True
c = Qwen3Config(**{k: v for k, v in cfg.items() if k not in ("architectures", "transformers_version", "model_type")})
torch.manual_seed(1)
Qwen3ForCausalLM(c).save_pretrained("model", safe_serialization=True)
PY
grep -q '"tie_word_embeddings": true' model/config.json || fail "the tied model was not written"
common=(--model model --plain --max-length 256 --max-steps 3 --lr 3e-3 --seed 3 --threads 1 data.jsonl)
run sft-train "${common[@]}" --batch-size 6 --out tref
expect_rc 0
printf '%s\n' "$out" > tref.jsonl
run_ranks tfull 2 sft-train "${common[@]}" --batch-size 3 --out tfull --sharding full --checkpoint-activations
ranks_ok tfull 2
py <<'PY' || fail "tied + checkpointing: full differs from one unsharded process"
import json
from safetensors.torch import load_file
a = [json.loads(l) for l in open("tref.jsonl")]
b = [json.loads(l) for l in open("tfull.0.jsonl")]
assert len(a) == len(b) == 3
for x, y in zip(a, b):
    for k in ("loss", "grad_norm"):
        assert abs(x[k] - y[k]) <= 1e-6 * abs(x[k]), (k, x[k], y[k])
w1, w2 = load_file("tref/checkpoint-00000003/model.safetensors"), load_file("tfull/checkpoint-00000003/model.safetensors")
assert "lm_head.weight" not in w2, "a tied model saved an lm_head"
d = max((w1[k] - w2[k]).abs().max().item() for k in w1)
assert d < 1e-5, d
print("tied, checkpointed: max weight difference", d)
PY
