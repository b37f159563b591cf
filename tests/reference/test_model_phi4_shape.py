#!/usr/bin/env python3
# label: slow
"""A random Phi-3-family checkpoint of Phi-4-mini's shape, as transformers writes it, loads and
generates in delib.

Phi-4-mini-instruct's config.json (vocab 200064, hidden 3072, 24 query / 8 key-value heads of
128, intermediate 8192, partial_rotary_factor 0.75, LongRoPE with 48 short/long factors and
original_max_position_embeddings 4096 of 131072, tied embeddings, sliding_window 262144,
bfloat16) with 2 of its 32 layers: every tensor has its real shape, the checkpoint is bf16 in
sharded safetensors with model.safetensors.index.json (save_pretrained, max_shard_size 500MB).
Checked: delib's logits of a 2 x 16 batch against transformers' (both f32 from the bf16
weights), greedy generation (gen-check, 12 tokens for 2 prompts) against transformers'
generate, and a bf16 load that generates as many tokens.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, Phi3Config

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

BIN = os.environ.get("DELIB_BIN", "build/bin")
TMP = os.environ.get("DELIB_TMP") or tempfile.gettempdir()
os.makedirs(TMP, exist_ok=True)

checks = Checks()
check = checks.that


def phi4_mini_config(layers):
    # Smooth stand-ins for the published factor lists (48 = 128 * 0.75 / 2 numbers each).
    short = [round(1.0 + 0.5 * (i / 47) ** 2, 4) for i in range(48)]
    long = [round(1.0 + 29.0 * (i / 47) ** 3, 4) for i in range(48)]
    return Phi3Config(vocab_size=200064, hidden_size=3072, intermediate_size=8192,
                      num_hidden_layers=layers, num_attention_heads=24, num_key_value_heads=8,
                      max_position_embeddings=131072, original_max_position_embeddings=4096,
                      partial_rotary_factor=0.75, rope_theta=10000.0, rms_norm_eps=1e-5,
                      rope_scaling={"type": "longrope", "short_factor": short, "long_factor": long},
                      sliding_window=262144, tie_word_embeddings=True, bos_token_id=199999,
                      eos_token_id=199999, pad_token_id=199999, initializer_range=0.02)


def run(cmd):
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
    return time.time() - t


def main():
    work = tempfile.mkdtemp(prefix="phi4-shape-", dir=TMP)
    mdir = os.path.join(work, "model")
    t0 = time.time()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(phi4_mini_config(2), dtype=torch.bfloat16).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 199999
    model.save_pretrained(mdir, max_shard_size="500MB")
    shards = sorted(f for f in os.listdir(mdir) if f.endswith(".safetensors"))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"built and saved {n_params / 1e6:.0f}M parameters (bf16) in {len(shards)} shards "
          f"in {time.time() - t0:.1f} s")
    check(len(shards) > 1 and os.path.exists(os.path.join(mdir, "model.safetensors.index.json")),
          f"sharded checkpoint: {shards}")
    model = model.float()

    # Logits of a 2 x 16 batch, f32.
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 200064, (2, 16), generator=g)
    inp, out = os.path.join(work, "ids.json"), os.path.join(work, "logits.safetensors")
    with open(inp, "w") as f:
        json.dump({"input_ids": ids.tolist()}, f)
    dt = run([os.path.join(BIN, "model-check"), "--model", mdir, "--input", inp, "-o", out])
    with torch.no_grad():
        ref = model(input_ids=ids).logits
    d = (ref - load_file(out)["logits"]).abs().max().item()
    print(f"logits (2 x 16 x 200064) maxdiff {d:.3g} (|logits| max {ref.abs().max().item():.3g}), "
          f"model-check {dt:.1f} s")
    check(d < 1e-3, f"logits maxdiff {d}")

    # Greedy generation, f32 and bf16.
    prompts = [torch.randint(0, 200064, (n,), generator=g).tolist() for n in (5, 9)]
    pfile = os.path.join(work, "prompts.jsonl")
    with open(pfile, "w") as f:
        for i, p in enumerate(prompts):
            f.write(json.dumps({"id": f"p{i}", "prompt_ids": p}) + "\n")
    max_new = 12
    refs = []
    for p in prompts:
        with torch.no_grad():
            o = model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                               do_sample=False, max_new_tokens=max_new, min_new_tokens=max_new)
        refs.append(o[0, len(p):].tolist())
    for dtype in ("f32", "bf16"):
        gout = os.path.join(work, f"gen-{dtype}.jsonl")
        dt = run([os.path.join(BIN, "gen-check"), "--model", mdir, "--dtype", dtype, "--temperature", "0",
                  "--max-tokens", str(max_new), "--plain", "-o", gout, pfile])
        got = [json.loads(l)["ids"] for l in open(gout)]
        same = sum(a == b for r, o in zip(refs, got) for a, b in zip(r, o))
        print(f"greedy {dtype}: {same} of {len(prompts) * max_new} tokens as transformers f32, "
              f"gen-check {dt:.1f} s")
        check(all(len(o) == max_new for o in got), f"{dtype}: {max_new} tokens per prompt")
        if dtype == "f32":
            check(got == refs, f"f32 greedy: delib {got} != transformers {refs}")
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
