# Training end to end on a tiny random Qwen3: metrics per step, the loss falls, records longer
# than --max-length are dropped and reported, checkpoints load in transformers.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 6 --long
run sft-train --model model --plain --max-length 256 --batch-size 2 --epochs 4 --lr 1e-2 \
  --warmup-steps 2 --seed 1 --threads 1 --out ckpt --keep-last 2 --save-every 3 data.jsonl
expect_rc 0
[[ "$err" == *"1 of 8 records are longer than --max-length 256 and were dropped"* ]] || fail "no drop report: $err"
# 7 trainable records (6 chat + 1 raw), 2 per step: 4 steps per epoch, 16 steps.
[ "$(printf '%s\n' "$out" | wc -l)" = 16 ] || fail "expected 16 metrics records: $out"
printf '%s\n' "$out" > metrics.jsonl
"$DELIB_PYTHON" - <<'PY' || fail "metrics check failed"
import json
rows = [json.loads(l) for l in open("metrics.jsonl")]
assert [r["step"] for r in rows] == list(range(1, 17)), rows
for k in ["epoch", "loss", "lr", "grad_norm", "tokens", "target_tokens", "tokens_per_s", "memory_mb"]:
    assert all(k in r for r in rows), k
assert rows[0]["lr"] < rows[1]["lr"] == 1e-2, [r["lr"] for r in rows[:3]]       # warm-up
assert rows[-1]["lr"] < rows[2]["lr"]                                           # cosine decay
# the loss falls: each epoch's mean below the one before, the last well below the first
means = [sum(r["loss"] for r in rows if r["epoch"] == e) / 4 for e in range(4)]
assert all(b < a for a, b in zip(means, means[1:])), means
assert means[-1] < 0.7 * means[0], means
PY
[ "$(cat ckpt/latest)" = checkpoint-00000016 ] || fail "latest: $(cat ckpt/latest)"
# --keep-last 2 with --save-every 3: steps 15 and 16 remain.
[ "$(ls -d ckpt/checkpoint-* | xargs -n1 basename | tr '\n' ' ')" = "checkpoint-00000015 checkpoint-00000016 " ] \
  || fail "checkpoints: $(ls ckpt)"
"$DELIB_PYTHON" - <<'PY' || fail "transformers cannot load the checkpoint"
import json, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
m = AutoModelForCausalLM.from_pretrained("ckpt/checkpoint-00000016")
base = AutoModelForCausalLM.from_pretrained("model")
AutoTokenizer.from_pretrained("ckpt/checkpoint-00000016")
diff = max((a - b).abs().max().item() for a, b in zip(m.parameters(), base.parameters()))
assert diff > 1e-3, diff
st = json.load(open("ckpt/checkpoint-00000016/trainer_state.json"))
assert st["format_version"] == 1 and st["step"] == 16 and st["epoch"] == 4, st
PY
