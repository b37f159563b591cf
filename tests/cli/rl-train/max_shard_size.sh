# rl-train --max-shard-size: checkpoints (full fine-tuning and the merged model of --lora) are
# written as transformers' save_pretrained(max_shard_size=...) writes them, model-0000k-of-
# 0000N.safetensors plus model.safetensors.index.json, no shard above the size unless it holds
# one tensor that is; transformers loads them with the logits of the same run saved whole
# (the same numbers: difference 0); rl-train --resume continues from a sharded checkpoint.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 9 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 4
common=(--model model --prompts-per-step 2 --group-size 2 --max-tokens 4 --lr 1e-2 --seed 3 --threads 1
        --rule-reward e=1 --plain -q prompts.jsonl)
run rl-train "${common[@]}" --steps 1 --out whole
expect_rc 0
run rl-train "${common[@]}" --steps 1 --out sharded --max-shard-size 20KB
expect_rc 0
run rl-train "${common[@]}" --steps 1 --out lora --lora --lora-rank 2 --max-shard-size 20KiB
expect_rc 0
py <<'PY' || fail "sharded rl-train checkpoints"
import json, os
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM
def shards(d, limit):
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    n = len(files)
    assert "model.safetensors" not in files and n > 2, files
    assert files == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)], files
    index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    total, names = 0, []
    for f in files:
        with safe_open(os.path.join(d, f), "pt") as sf:
            keys = list(sf.keys())
            size = sum(sf.get_tensor(k).numel() * 4 for k in keys)
        assert size <= limit or len(keys) == 1, (f, size, keys)
        assert all(index["weight_map"][k] == f for k in keys)
        names += keys
        total += size
    assert index["metadata"]["total_size"] == total and sorted(names) == sorted(index["weight_map"])
    return n
n = shards("sharded/checkpoint-00000001", 20000)
nl = shards("lora/checkpoint-00000001", 20480)
ids = torch.tensor([[5, 17, 99, 3, 250, 42, 7, 8]])
with torch.no_grad():
    a = AutoModelForCausalLM.from_pretrained("whole/checkpoint-00000001", dtype=torch.float32)(ids).logits
    b = AutoModelForCausalLM.from_pretrained("sharded/checkpoint-00000001", dtype=torch.float32)(ids).logits
    AutoModelForCausalLM.from_pretrained("lora/checkpoint-00000001", dtype=torch.float32)(ids)
d = (a - b).abs().max().item()
assert d == 0.0, d
print(f"{n} shards (full), {nl} (lora, merged); transformers logits sharded vs whole: max difference {d}")
PY
run rl-train "${common[@]}" --steps 2 --out sharded --resume sharded --max-shard-size 20KB
expect_rc 0
[ -f sharded/checkpoint-00000002/model.safetensors.index.json ] || fail "the resumed run's checkpoint: $(ls sharded/*)"
run rl-train "${common[@]}" --steps 1 --out x --max-shard-size 20XB
expect_rc 2
expect_err_glob "*--max-shard-size*"
