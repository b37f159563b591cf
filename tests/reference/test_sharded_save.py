"""sft-train --max-shard-size: a checkpoint above the size is saved as transformers'
save_pretrained(max_shard_size=...) saves it, model-0000k-of-0000N.safetensors plus
model.safetensors.index.json, and

  1. transformers loads it with the logits of the same run saved unsharded (max difference
     printed; the weights are the same numbers, so it is 0);
  2. the index has transformers' form (metadata.total_size = the bytes of all tensors,
     weight_map naming every tensor once) and no shard is above the size unless it holds one
     tensor that is;
  3. delib loads it back: sft-train --model SHARDED trains from it with the same step-1 loss
     as from the unsharded save;
  4. the split is huggingface_hub's split_torch_state_dict_into_shards on the same tensors,
     with the size read as transformers reads it ("20KB" = 20000 bytes, "20KiB" = 20480).
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(HERE, "..", "cli", "sft-train")
BIN = os.environ.get("DELIB_BIN", os.path.join(HERE, "..", "..", "build", "bin"))
check = Checks()


def sft(tmp, *args):
    out = subprocess.run([os.path.join(BIN, "sft-train"), "--plain", "--no-shuffle", "--batch-size", "4",
                          "--threads", "1", "--seed", "3", "--max-steps", "1", "--lr", "1e-2", *args],
                         capture_output=True, text=True, cwd=tmp)
    if out.returncode != 0:
        raise SystemExit(f"FAIL sft-train {' '.join(args)}: exit {out.returncode}\n{out.stderr}")
    return [json.loads(l) for l in out.stdout.splitlines()]


def main():
    tmp = tempfile.mkdtemp(prefix="shard-ref-")
    subprocess.run([sys.executable, os.path.join(CLI, "make_tiny_model.py"), os.path.join(tmp, "model"), "9"],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, os.path.join(CLI, "data.py"), os.path.join(tmp, "data.jsonl"), "6"],
                   check=True, capture_output=True)
    sft(tmp, "--model", "model", "--out", "whole", "data.jsonl")
    sft(tmp, "--model", "model", "--out", "sharded", "--max-shard-size", "20KB", "data.jsonl")
    whole = os.path.join(tmp, "whole", "checkpoint-00000001")
    sharded = os.path.join(tmp, "sharded", "checkpoint-00000001")
    files = sorted(f for f in os.listdir(sharded) if f.endswith(".safetensors"))
    n = len(files)
    check("no model.safetensors", "model.safetensors" not in files, files)
    check("shard names", n > 2 and files == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)], files)
    index = json.load(open(os.path.join(sharded, "model.safetensors.index.json")))
    total, names = 0, []
    for f in files:
        with safe_open(os.path.join(sharded, f), "pt") as sf:
            keys = list(sf.keys())
            size = sum(sf.get_tensor(k).numel() * 4 for k in keys)
            names += keys
            for k in keys:
                check(f"weight_map {k}", index["weight_map"].get(k) == f, index["weight_map"].get(k))
        check(f"{f} size", size <= 20000 or len(keys) == 1, (size, keys))
        total += size
    check("total_size", index["metadata"]["total_size"] == total, (index["metadata"], total))
    check("every tensor once", sorted(names) == sorted(index["weight_map"]) and len(set(names)) == len(names))

    ids = torch.tensor([[5, 17, 99, 3, 250, 42, 7, 8, 120, 33]])
    with torch.no_grad():
        a = AutoModelForCausalLM.from_pretrained(whole, dtype=torch.float32)(ids).logits
        b = AutoModelForCausalLM.from_pretrained(sharded, dtype=torch.float32)(ids).logits
    diff = (a - b).abs().max().item()
    print(f"transformers: sharded ({n} shards of <= 20KB) vs unsharded save, max logit difference {diff:.3g}")
    check("transformers logits", diff == 0.0, diff)

    la = sft(tmp, "--model", whole, "data.jsonl")[0]["loss"]
    lb = sft(tmp, "--model", sharded, "data.jsonl")[0]["loss"]
    print(f"delib from the sharded save: step-1 loss {lb:.7f} (unsharded {la:.7f})")
    check("delib loads it back", la == lb, (la, lb))

    # The split is huggingface_hub's (transformers' save_pretrained) on the same tensors in the
    # same order, with the size read as transformers reads it (20KiB = 20480 bytes).
    from huggingface_hub import split_torch_state_dict_into_shards
    from transformers.utils.hub import convert_file_size_to_int
    with open(os.path.join(whole, "model.safetensors"), "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    header.pop("__metadata__", None)
    order = sorted(header, key=lambda k: header[k]["data_offsets"][0])
    with safe_open(os.path.join(whole, "model.safetensors"), "pt") as sf:
        state = {k: sf.get_tensor(k) for k in order}
    for size in ["20KB", "20KiB", "30000"]:
        out = f"split{size}"
        sft(tmp, "--model", "model", "--out", out, "--max-shard-size", size, "data.jsonl")
        ckpt = os.path.join(tmp, out, "checkpoint-00000001")
        mine = json.load(open(os.path.join(ckpt, "model.safetensors.index.json")))["weight_map"]
        hub = split_torch_state_dict_into_shards(state, max_shard_size=int(size) if size.isdigit() else convert_file_size_to_int(size))
        check(f"split {size} as huggingface_hub", mine == hub.tensor_to_filename,
              (len(set(mine.values())), len(hub.filename_to_tensors)))
    bad = subprocess.run([os.path.join(BIN, "sft-train"), "--model", "model", "--max-shard-size", "5 potatoes",
                          "data.jsonl"], capture_output=True, text=True, cwd=tmp)
    check("a bad size is a usage error", bad.returncode == 2 and "--max-shard-size" in bad.stderr,
          (bad.returncode, bad.stderr))

    check.finish()


if __name__ == "__main__":
    main()
