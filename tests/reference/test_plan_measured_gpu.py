#!/usr/bin/env python3
# label: gpu
"""sft-train --plan against the CUDA caching allocator's peak for the families whose layers keep
other activations than Llama's: Gemma 2 (soft-capped attention run eagerly: (B, H, T, T) scores
kept per layer; (1 + w) sandwich norms) and Qwen3-MoE (the per-expert loop over the k experts
each token visits), with a Llama of similar size as the control. Random models built with
transformers, trained by sft-train on CUDA for 2 steps in its default precision there (f32
master weights, bf16 autocast), full fine-tuning, rows of one length (every row full, as the
plan assumes). The measured peak (metrics: memory_mb - memory_baseline_mb, the allocator's
allocated bytes) must be within 15% of the planned peak; each ratio is printed.

Exit 77 (skipped) without a CUDA device. --dry-run: the same steps on the CPU with smaller
models, no ratio checked (plumbing only).
"""
import json
import os
import subprocess
import sys

import torch
from tokenizers import Tokenizer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import BIN, SRC, Checks, tmpdir  # noqa: E402

SFT = os.path.join(BIN, "sft-train")
MAKE_TOKENIZER = os.path.join(SRC, "tests", "cli", "sft-train", "make_tiny_model.py")
check = Checks()


def configs(dry):
    from transformers import Gemma2Config, LlamaConfig, Qwen3MoeConfig
    C = 256 if dry else 1024
    L = 2 if dry else 6
    return [
        ("llama", LlamaConfig(vocab_size=16000, hidden_size=C, intermediate_size=C * 11 // 4, num_hidden_layers=L,
                              num_attention_heads=16, num_key_value_heads=4, head_dim=C // 16,
                              max_position_embeddings=4096, tie_word_embeddings=False)),
        ("gemma2", Gemma2Config(vocab_size=16000, hidden_size=C, intermediate_size=C * 4, num_hidden_layers=L,
                                num_attention_heads=8, num_key_value_heads=4, head_dim=C // 8,
                                query_pre_attn_scalar=C // 8, sliding_window=512, max_position_embeddings=4096,
                                attn_logit_softcapping=50.0, final_logit_softcapping=30.0, pad_token_id=0,
                                bos_token_id=2, eos_token_id=1)),
        ("qwen3_moe", Qwen3MoeConfig(vocab_size=16000, hidden_size=C, intermediate_size=C * 11 // 4,
                                     moe_intermediate_size=C // 2, num_experts=32, num_experts_per_tok=4,
                                     norm_topk_prob=True, num_hidden_layers=L, num_attention_heads=16,
                                     num_key_value_heads=4, head_dim=C // 16, max_position_embeddings=4096,
                                     tie_word_embeddings=False)),
    ]


def main():
    dry = "--dry-run" in sys.argv
    if not dry and not torch.cuda.is_available():
        print("no CUDA device: skipped")
        sys.exit(77)
    from transformers import AutoModelForCausalLM
    device = "cpu" if dry else "cuda"
    tmp = tmpdir("plan-gpu-")
    tok_dir = os.path.join(tmp, "tok")
    subprocess.run([sys.executable, MAKE_TOKENIZER, tok_dir, "0"], check=True, capture_output=True)
    tok = Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
    # Identical raw records: with --padding every row is full (T tokens).
    text, target = "Q:", " " + " ".join(["the policy allows general information"] * (20 if dry else 180))
    T = len(tok.encode(text).ids) + len(tok.encode(target).ids) + 1
    data = os.path.join(tmp, "data.jsonl")
    with open(data, "w") as f:
        for i in range(8):
            f.write(json.dumps({"id": f"r{i}", "text": text, "target": target}) + "\n")
    print(f"rows of {T} tokens, batch 4, device {device}")
    for name, cfg in configs(dry):
        d = os.path.join(tmp, name)
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(cfg).save_pretrained(d, safe_serialization=True)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            if os.path.exists(os.path.join(tok_dir, f)):
                with open(os.path.join(tok_dir, f), "rb") as src, open(os.path.join(d, f), "wb") as dst:
                    dst.write(src.read())
        opts = ["--model", d, "--device", device, "--batch-size", "4", "--max-length", str(T)]
        plan = subprocess.run([SFT, "--plan", *opts], capture_output=True, text=True)
        if plan.returncode != 0:
            check(f"{name}: --plan", False, plan.stderr)
            continue
        planned = int(next(l for l in plan.stdout.splitlines() if l.startswith("  peak ")).split()[-3])
        acts = next(l for l in plan.stdout.splitlines() if l.startswith("  activations, "))
        run = subprocess.run([SFT, *opts, "--padding", "--plain", "--max-steps", "2", "--lr", "1e-4", data],
                             capture_output=True, text=True)
        if run.returncode != 0:
            check(f"{name}: training", False, run.stderr[-2000:])
            continue
        rows = [json.loads(l) for l in run.stdout.splitlines() if l.strip()]
        measured = int((max(r["memory_mb"] for r in rows) - rows[0]["memory_baseline_mb"]) * 2**20)
        print(f"{name}: planned {planned / 1e6:.0f} MB, measured {measured / 1e6:.0f} MB, "
              f"ratio {measured / planned:.3f} ({acts.split()[1]} layers, {' '.join(acts.split()[4:6])} per layer)")
        if not dry:
            check(f"{name}: within 15% of the plan", abs(measured - planned) <= 0.15 * planned, (measured, planned))
    check.finish()


if __name__ == "__main__":
    main()
