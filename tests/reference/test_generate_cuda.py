#!/usr/bin/env python3
# label: gpu
"""test_generate_reference.py with delib decoding on CUDA (gen-check --device cuda, f32): greedy
ids identical to transformers' generate on the CPU and per-token log-probs within 1e-4, for
every family there (sliding windows, soft-caps, LongRoPE's re-prefill, MoE), with continuous
batching. Checks that the CUDA decode path (device sampling, the KV cache, masks) computes what
the CPU path does, whatever its speed.

Exit 77 (skipped) without a CUDA device. --dry-run: the same on the CPU (plumbing only).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_generate_reference as ref  # noqa: E402

if __name__ == "__main__":
    dry = "--dry-run" in sys.argv
    if not dry and not torch.cuda.is_available():
        print("no CUDA device: skipped")
        sys.exit(77)
    sys.exit(ref.main(extra=["--device", "cpu" if dry else "cuda"]))
