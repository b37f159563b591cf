# --sharding full loads without any process reading the whole model: each rank reads its part
# of each unit from the safetensors file (one unit at a time, the unit's mapped pages dropped
# after it). A LoRA run (no optimizer state for the frozen base, so loading is what could
# dominate the memory) of a model whose weights are M = 103 MiB in f32 (16 layers with wide
# MLPs, units of 7 MB), 2 Gloo processes, one step: each rank's peak RSS above its RSS before
# loading (its half of the base, M / 2, plus a few gathered units, activations and buffers:
# 1.4 M) stays below 1.7 M. Loading the whole model on every rank and cutting it afterwards
# holds the model plus its file's mapped pages (2.1 M) and fails this. Freed memory is
# returned at once (MALLOC_MMAP_THRESHOLD_), so the RSS counts live bytes.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_wide_model.py" model || fail "wide model"
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 4
MALLOC_MMAP_THRESHOLD_=65536 run_ranks full 2 sft-train --model model --plain --max-length 128 --batch-size 1 \
  --max-steps 1 --threads 1 --lora --lora-rank 4 --sharding full data.jsonl
ranks_ok full 2
py <<'PY' || fail "a rank held about the whole model while loading"
import json, os
M = sum(os.path.getsize(os.path.join("model", f)) for f in os.listdir("model") if f.endswith(".safetensors")) / 2**20
row = json.loads(open("full.0.jsonl").readline())
grown = row["memory_mb"] - row["memory_baseline_mb"]
print(f"model {M:.0f} MiB, rank 0's peak above its baseline {grown:.0f} MiB ({grown / M:.2f} M)")
assert M > 100, M
assert grown < 1.7 * M, (grown, M)
PY
