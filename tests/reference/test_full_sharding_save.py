"""sft-train --sharding full on 2 Gloo processes saves a Hugging Face checkpoint that
transformers loads, sharded as save_pretrained(max_shard_size=...) shards it, without any rank
holding the whole model (rank 0 writes it gathering one unit at a time):

  1. model-0000k-of-0000N.safetensors + model.safetensors.index.json, the same names, shapes and
     file split as one unsharded process's save of the same run (--sharding none);
  2. transformers loads it with the logits of that unsharded run's checkpoint (the runs differ
     only in float reduction order, which 2 AdamW steps at lr 1e-2 amplify: max difference
     printed, below 1e-4; the weights are then compared exactly with the ranks' parts);
  3. each rank's part of the master weights and AdamW moments (shard-rank-R-of-2.safetensors)
     holds this rank's range of each unit, and the parts together are the saved weights.
"""
import itertools
import json
import os
import socket
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
ARGS = ["--plain", "--no-shuffle", "--threads", "1", "--seed", "3", "--max-steps", "2", "--lr", "1e-2",
        "--max-shard-size", "20KB", "--model", "model", "data.jsonl"]


def launch(tmp, world, *args):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    procs = []
    for r in range(world):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(r),
                   LOCAL_RANK=str(r))
        procs.append(subprocess.Popen([os.path.join(BIN, "sft-train"), *ARGS, *args], env=env, cwd=tmp,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for r, p in enumerate(procs):
        out, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"FAIL rank {r} of sft-train {' '.join(args)}: exit {p.returncode}\n{err}")


def main():
    tmp = tempfile.mkdtemp(prefix="full-shard-ref-")
    subprocess.run([sys.executable, os.path.join(CLI, "make_tiny_model.py"), os.path.join(tmp, "model"), "9"],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, os.path.join(CLI, "data.py"), os.path.join(tmp, "data.jsonl"), "8"],
                   check=True, capture_output=True)
    out = subprocess.run([os.path.join(BIN, "sft-train"), *ARGS, "--batch-size", "4", "--out", "none"], cwd=tmp,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"FAIL sft-train --sharding none: {out.stderr}")
    launch(tmp, 2, "--batch-size", "2", "--sharding", "full", "--out", "full")
    ref = os.path.join(tmp, "none", "checkpoint-00000002")
    got = os.path.join(tmp, "full", "checkpoint-00000002")
    files = sorted(f for f in os.listdir(got) if f.startswith("model"))
    ref_files = sorted(f for f in os.listdir(ref) if f.startswith("model"))
    n = len(files) - 1
    check("sharded HF files", n > 2 and files == ref_files and "model.safetensors.index.json" in files, files)
    wm = json.load(open(os.path.join(got, "model.safetensors.index.json")))["weight_map"]
    wm_ref = json.load(open(os.path.join(ref, "model.safetensors.index.json")))["weight_map"]
    check("same split as the unsharded save", wm == wm_ref)

    ids = torch.tensor([[5, 17, 99, 3, 250, 42, 7, 8, 120, 33]])
    with torch.no_grad():
        a = AutoModelForCausalLM.from_pretrained(ref, dtype=torch.float32)(ids).logits
        b = AutoModelForCausalLM.from_pretrained(got, dtype=torch.float32)(ids).logits
    diff = (a - b).abs().max().item()
    print(f"transformers: --sharding full on 2 processes ({n} shards) vs one unsharded process, "
          f"max logit difference {diff:.3g}")
    check("transformers logits", diff < 1e-4, diff)

    # The parts: each unit's master weights, flattened in the model's order and padded, cut in
    # two; concatenated they are the saved weights of the unit.
    # Model order: the shards in order, each file's tensors by data offset (CausalLM::save
    # writes the parameters in the model's order).
    weights, order = {}, []
    for f in sorted(set(wm.values())):
        with open(os.path.join(got, f), "rb") as fh:
            header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
        header.pop("__metadata__", None)
        order += sorted(header, key=lambda k: header[k]["data_offsets"][0])
        with safe_open(os.path.join(got, f), "pt") as sf:
            weights.update({k: sf.get_tensor(k) for k in sf.keys()})
    parts = []
    for r in range(2):
        with safe_open(os.path.join(got, f"shard-rank-{r}-of-2.safetensors"), "pt") as sf:
            parts.append(({k: sf.get_tensor(k) for k in sf.keys()}, sf.metadata()))
    units = json.loads(parts[0][1]["units"])
    check("part metadata", parts[1][1]["rank"] == "1" and parts[1][1]["world_size"] == "2" and
          parts[0][1]["adamw_step"] == "2", parts[1][1])
    check("every parameter in a unit", sum(n for _, n in units) == sum(w.numel() for w in weights.values()))

    def unit_of(k):
        if k.startswith("model.layers."):
            return ".".join(k.split(".")[:3])
        return "model.embed_tokens" if k.startswith("model.embed_tokens.") else "head"

    for name, numel in units:
        flat = torch.cat([p[0][name + ".master"] for p in parts])
        check(f"unit {name}: padded to 2 parts", flat.numel() == 2 * ((numel + 1) // 2), flat.numel())
        keys = [k for k in order if unit_of(k) == name]
        # The unit is flattened in the module's parameter order, which for the head (final
        # norm, LM head) may differ from the file's: any order of at most 3 tensors is tried.
        orders = itertools.permutations(keys) if len(keys) <= 3 else [keys]
        ok = any(torch.equal(flat[:numel], torch.cat([weights[k].reshape(-1) for k in o])) for o in orders)
        check(f"unit {name}: the parts are the saved weights", ok)

    check.finish()


if __name__ == "__main__":
    main()
