#!/usr/bin/env python3
# label: slow
"""Random checkpoints of real shapes of the Gemma 2, Gemma 3 and Qwen3-MoE families, as
transformers writes them, load and generate in delib (issue #19).

  gemma2:   gemma-2-2b's shape (hidden 2304, 8 query / 4 key-value heads of 256, intermediate
            9216, query_pre_attn_scalar 256, caps 50 / 30, window 4096) with 2 of its 26 layers
            (one sliding, one full) and Gemma 3's vocabulary of 262144: 0.76B parameters;
  gemma3:   gemma-3-1b's shape (hidden 1152, 4 query / 1 key-value heads of 256, intermediate
            6912, window 512, RoPE bases 1e6 / 1e4, vocab 262144) with 6 of its 26 layers (5
            sliding, 1 full: its pattern): 0.46B;
  qwen3moe: Qwen3-30B-A3B's shapes (hidden 2048, 32 query / 4 key-value heads of 128, experts
            of 768, top 8, vocab 151936, untied) with 16 of its 128 experts and 2 of its 48
            layers: 0.81B.

Each is built by transformers from its config, saved bf16 in sharded safetensors with
model.safetensors.index.json (max_shard_size 500MB); the reference (logits of a 2 x 16 batch
and greedy generate of 12 tokens for 2 prompts, f32 from the bf16 weights) is computed and the
transformers model freed before delib runs, so that memory stays under ~4 GB. Checked: delib's
f32 logits, f32 greedy ids equal to transformers', and a bf16 load that generates.
"""
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

BIN = os.environ.get("DELIB_BIN", "build/bin")
TMP = os.environ.get("DELIB_TMP") or tempfile.gettempdir()
os.makedirs(TMP, exist_ok=True)

checks = Checks()
check = checks.that


def configs():
    from transformers import Gemma2Config, Gemma3TextConfig, Qwen3MoeConfig
    return [
        ("gemma2", Gemma2Config(vocab_size=262144, hidden_size=2304, intermediate_size=9216,
                                num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=4,
                                head_dim=256, query_pre_attn_scalar=256, sliding_window=4096,
                                max_position_embeddings=8192, attn_logit_softcapping=50.0,
                                final_logit_softcapping=30.0, pad_token_id=0, bos_token_id=2,
                                eos_token_id=1)),
        ("gemma3", Gemma3TextConfig(vocab_size=262144, hidden_size=1152, intermediate_size=6912,
                                    num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=1,
                                    head_dim=256, query_pre_attn_scalar=256, sliding_window=512,
                                    max_position_embeddings=32768, pad_token_id=0, bos_token_id=2,
                                    eos_token_id=1)),
        ("qwen3moe", Qwen3MoeConfig(vocab_size=151936, hidden_size=2048, intermediate_size=6144,
                                    num_hidden_layers=2, num_attention_heads=32, num_key_value_heads=4,
                                    head_dim=128, num_experts=16, num_experts_per_tok=8,
                                    moe_intermediate_size=768, norm_topk_prob=True,
                                    max_position_embeddings=40960, rope_theta=1000000.0,
                                    tie_word_embeddings=False, bos_token_id=None, eos_token_id=None)),
    ]


def run(cmd):
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
    return time.time() - t


def check_family(name, cfg, work):
    t_start = time.time()
    mdir = os.path.join(work, name)
    V = cfg.vocab_size
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    model.save_pretrained(mdir, max_shard_size="500MB")
    shards = sorted(f for f in os.listdir(mdir) if f.endswith(".safetensors"))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {type(model).__name__}, {n_params / 1e6:.0f}M parameters (bf16) in {len(shards)} shards")
    check(len(shards) > 1 and os.path.exists(os.path.join(mdir, "model.safetensors.index.json")),
          f"{name}: sharded checkpoint: {shards}")
    # The reference reloads the saved checkpoint in f32 (not model.float(): Gemma's embed_scale
    # buffer, made at init in the init dtype, would keep bf16's rounding of sqrt(hidden)).
    del model
    gc.collect()
    model = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, V, (2, 16), generator=g)
    prompts = [torch.randint(0, V, (n,), generator=g).tolist() for n in (5, 9)]
    max_new = 12
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        refs = []
        for p in prompts:
            o = model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                               do_sample=False, max_new_tokens=max_new, min_new_tokens=max_new)
            refs.append(o[0, len(p):].tolist())
    del model
    gc.collect()

    inp, out = os.path.join(work, "ids.json"), os.path.join(work, f"{name}-logits.safetensors")
    with open(inp, "w") as f:
        json.dump({"input_ids": ids.tolist()}, f)
    dt = run([os.path.join(BIN, "model-check"), "--model", mdir, "--input", inp, "-o", out])
    d = (ref - load_file(out)["logits"]).abs().max().item()
    print(f"  logits (2 x 16 x {V}) maxdiff {d:.3g} (|logits| max {ref.abs().max().item():.3g}), "
          f"model-check {dt:.1f} s")
    check(d < 1e-3, f"{name}: logits maxdiff {d}")

    pfile = os.path.join(work, "prompts.jsonl")
    with open(pfile, "w") as f:
        for i, p in enumerate(prompts):
            f.write(json.dumps({"id": f"p{i}", "prompt_ids": p}) + "\n")
    for dtype in ("f32", "bf16"):
        gout = os.path.join(work, f"{name}-gen-{dtype}.jsonl")
        dt = run([os.path.join(BIN, "gen-check"), "--model", mdir, "--dtype", dtype, "--temperature", "0",
                  "--max-tokens", str(max_new), "--plain", "-o", gout, pfile])
        got = [json.loads(l)["ids"] for l in open(gout)]
        same = sum(a == b for r, o in zip(refs, got) for a, b in zip(r, o))
        print(f"  greedy {dtype}: {same} of {len(prompts) * max_new} tokens as transformers f32, "
              f"gen-check {dt:.1f} s")
        check(all(len(o) == max_new for o in got), f"{name} {dtype}: {max_new} tokens per prompt")
        if dtype == "f32":
            check(got == refs, f"{name} f32 greedy: delib {got} != transformers {refs}")
    shutil.rmtree(mdir, ignore_errors=True)
    print(f"  {name}: {time.time() - t_start:.0f} s")


def main():
    work = tempfile.mkdtemp(prefix="family-shape-", dir=TMP)
    only = sys.argv[1:]
    for name, cfg in configs():
        if not only or name in only:
            check_family(name, cfg, work)
    shutil.rmtree(work, ignore_errors=True)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
