# --loss dapo and dr-grpo with two Gloo processes (1 prompt each per step) equal one process with
# 2 prompts: their normalisers (all tokens of the batch for DAPO, sequences x --max-tokens for
# Dr. GRPO) are counted over every process, so the averaged gradient is the global batch's. The
# --stop strings give the completions different lengths (so the two processes' token counts
# differ and a per-process token mean would weigh them differently).
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 1 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/rl-train/prompts.py" prompts.jsonl 6
common=(--model model --group-size 4 --lr 1e-2 --max-tokens 12 --seed 1 --threads 1 --rule-reward e=1
        --stop a --stop o --steps 3 --plain prompts.jsonl)
for loss in dapo dr-grpo; do
  run rl-train "${common[@]}" --loss $loss --prompts-per-step 2 --out "one-$loss"
  expect_rc 0
  run_ranks two-$loss 2 rl-train "${common[@]}" --loss $loss --prompts-per-step 1 --out "two-$loss"
  ranks_ok two-$loss 2
  py "$loss" <<'PY' || fail "$loss: 2 processes differ from 1"
import json, sys
from safetensors.torch import load_file
loss = sys.argv[1]
w1 = load_file(f"one-{loss}/checkpoint-00000003/model.safetensors")
w2 = load_file(f"two-{loss}/checkpoint-00000003/model.safetensors")
d = max((w1[k] - w2[k]).abs().max().item() for k in w1)
assert d < 1e-4, d
w0 = load_file("model/model.safetensors")
moved = max((w1[k] - w0[k]).abs().max().item() for k in w1 if k in w0)
assert moved > 1e-3, moved   # the runs trained
print(loss, "max weight difference", d)
PY
done
