"""Replaces the weights in DIR (a make_tiny_model.py directory: its tokenizer stays) with a random
Qwen3 of M = 103 MiB of f32 weights: 16 layers with wide MLPs (hidden 256, MLP 2048), units of
7 MB. The sharded-loading cases (sft-train and rl-train sharding_load.sh) measure peak RSS in
multiples of M.

usage: make_wide_model.py DIR
"""
import json
import os
import sys

import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

d = sys.argv[1]
cfg = json.load(open(os.path.join(d, "config.json")))
cfg.update(hidden_size=256, intermediate_size=2048, num_hidden_layers=16, head_dim=32)
c = Qwen3Config(**{k: v for k, v in cfg.items() if k not in ("architectures", "transformers_version", "model_type", "layer_types")})
torch.manual_seed(0)
Qwen3ForCausalLM(c).save_pretrained(d, safe_serialization=True)
