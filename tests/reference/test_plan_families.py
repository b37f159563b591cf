#!/usr/bin/env python3
"""sft-train --plan's parameter count against transformers for every family whose layers
differ: Llama (Llama-3.1-8B), Qwen3 (Qwen3-8B), Qwen3-MoE (Qwen3-30B-A3B), Gemma 2 (gemma-2-9b)
and Gemma 3 (a gemma3_text config of gemma-3-4b's shapes), real config shapes. transformers
builds each model on the meta device (no memory, a few seconds), and the parameter count it
reports (sum of numel, tied embeddings once) must equal the plan's "parameters:" figure exactly.
For the MoE model the plan's "parameters active per token" must equal the total minus the
(E - k) experts a token does not visit in every MoE layer, counted from transformers' modules;
its plan names the experts, and Gemma 2's the soft-capped eager attention. A second Qwen3-MoE
config with dense layers (mlp_only_layers, decoder_sparse_step) checks layers of two kinds.

The configs' shapes are those of the published config.json files (Llama-3.1-8B: the fixture of
tests/cli/sft-train; the others as published on the Hugging Face hub for those models).
"""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import torch
from transformers import AutoConfig, AutoModelForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import BIN, SRC, Checks, tmpdir  # noqa: E402

SFT = os.path.join(BIN, "sft-train")
check = Checks()

LLAMA = json.load(open(os.path.join(SRC, "tests", "cli", "sft-train", "fixtures", "llama-3.1-8b", "config.json")))
QWEN3 = {
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 12288,
    "max_position_embeddings": 40960, "max_window_layers": 36, "model_type": "qwen3",
    "num_attention_heads": 32, "num_hidden_layers": 36, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
    "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "use_cache": True, "use_sliding_window": False, "vocab_size": 151936,
}
QWEN3_MOE = {
    "architectures": ["Qwen3MoeForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151645, "decoder_sparse_step": 1, "head_dim": 128,
    "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 6144,
    "max_position_embeddings": 40960, "max_window_layers": 48, "mlp_only_layers": [],
    "model_type": "qwen3_moe", "moe_intermediate_size": 768, "norm_topk_prob": True,
    "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8, "num_hidden_layers": 48,
    "num_key_value_heads": 4, "output_router_logits": False, "rms_norm_eps": 1e-06, "rope_scaling": None,
    "rope_theta": 1000000.0, "router_aux_loss_coef": 0.001, "sliding_window": None,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
    "use_sliding_window": False, "vocab_size": 151936,
}
GEMMA2 = {
    "architectures": ["Gemma2ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "attn_logit_softcapping": 50.0, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
    "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
    "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 3584, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 8192, "model_type": "gemma2",
    "num_attention_heads": 16, "num_hidden_layers": 42, "num_key_value_heads": 8, "pad_token_id": 0,
    "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096,
    "torch_dtype": "float32", "use_cache": True, "vocab_size": 256000,
}
GEMMA3 = {
    "architectures": ["Gemma3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "attn_logit_softcapping": None, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
    "final_logit_softcapping": None, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 2560, "initializer_range": 0.02, "intermediate_size": 10240,
    "max_position_embeddings": 131072, "model_type": "gemma3_text", "num_attention_heads": 8,
    "num_hidden_layers": 34, "num_key_value_heads": 4, "pad_token_id": 0, "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000.0,
    "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "rope_theta": 1000000.0, "sliding_window": 1024,
    "sliding_window_pattern": 6, "torch_dtype": "bfloat16", "use_cache": True, "vocab_size": 262208,
}
# Layers of two kinds: every second layer sparse, and layer 5 dense as well.
QWEN3_MOE_MIXED = dict(copy.deepcopy(QWEN3_MOE), num_hidden_layers=8, decoder_sparse_step=2, mlp_only_layers=[5])


def plan(tmp, name, config, *extra):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f)
    r = subprocess.run([SFT, "--plan", "--model", d, "--device", "cuda", "--batch-size", "1", "--max-length", "4096",
                        *extra], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"FAIL {name}: sft-train --plan exit {r.returncode}\n{r.stderr}")
    return r.stdout


def reference(config):
    cfg = AutoConfig.for_model(**config)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    total = sum(p.numel() for p in model.parameters())  # shared (tied) parameters once
    # Parameters of the experts a token does not visit: per MoE layer, (E - k) / E of its experts.
    idle = 0
    for name, module in model.named_modules():
        if name.endswith("mlp.experts"):
            experts = sum(p.numel() for p in module.parameters())
            idle += experts * (config["num_experts"] - config["num_experts_per_tok"]) // config["num_experts"]
    return total, idle


def main():
    tmp = tmpdir("plan-families-")
    for name, config in (("llama-3.1-8b", LLAMA), ("qwen3-8b", QWEN3), ("qwen3-30b-a3b", QWEN3_MOE),
                         ("gemma-2-9b", GEMMA2), ("gemma-3-4b-text", GEMMA3), ("qwen3-moe-mixed", QWEN3_MOE_MIXED)):
        out = plan(tmp, name, config)
        planned = int(re.search(r"^parameters: (\d+) ", out, re.M).group(1))
        total, idle = reference(config)
        print(f"{name}: plan {planned}, transformers {total}")
        check(f"{name}: parameters", planned == total, (planned, total))
        moe = re.search(r"^experts: .*: (\d+) of the model's parameters active per token", out, re.M)
        if "num_experts" in config:
            check(f"{name}: names its experts", moe is not None, out)
            if moe:
                print(f"  active per token: plan {moe.group(1)}, transformers {total - idle}")
                check(f"{name}: active parameters", int(moe.group(1)) == total - idle, (moe.group(1), total - idle))
        else:
            check(f"{name}: no experts line", moe is None, out)
        softcap = "attention: soft-capped scores" in out
        check(f"{name}: soft-capped attention named when there is one", softcap == bool(config.get("attn_logit_softcapping")), out)
    check.finish()


if __name__ == "__main__":
    main()
