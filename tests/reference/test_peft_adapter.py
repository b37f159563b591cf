"""sft-train --lora writes its adapters in PEFT's format, and --lora-init reads PEFT's, checked
against peft itself on a tiny random Qwen3 built with transformers (make_tiny_model.py):

  1. peft.PeftModel.from_pretrained(base, CKPT/adapter) gives the logits of delib's merged
     model CKPT (max difference printed), and they differ from the base model's (the adapter is
     not a no-op); adapter_config.json carries the fields PEFT and vLLM read;
  2. an adapter written by peft (random A and B, every linear target) read by --lora-init: the
     step-1 loss equals the step-1 loss of --lora on peft's merge_and_unload() of it (where the
     fresh adapter is zero, so that loss is the adapted model's);
  3. a Phi-3 (fused qkv_proj / gate_up_proj) adapter: delib's --lora q_proj,gate_proj lands on
     the fused layers, and peft reads it with the same logits.

peft is a test reference only (pip install peft into the test venv); without it this test
fails, it never skips.
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from transformers import AutoModelForCausalLM

try:
    import peft
except ImportError:
    print("FAIL: peft is not installed in the test venv (pip install peft); this test needs it")
    sys.exit(1)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(HERE, "..", "cli", "sft-train")
BIN = os.environ.get("DELIB_BIN", os.path.join(HERE, "..", "..", "build", "bin"))
check = Checks()


def sft(tmp, *args):
    out = subprocess.run([os.path.join(BIN, "sft-train"), "--plain", "--no-shuffle", "--batch-size", "4",
                          "--threads", "1", "--seed", "3", "--schedule", "constant", *args],
                         capture_output=True, text=True, cwd=tmp)
    if out.returncode != 0:
        raise SystemExit(f"FAIL sft-train {' '.join(args)}: exit {out.returncode}\n{out.stderr}")
    return [json.loads(l) for l in out.stdout.splitlines()]


IDS = torch.tensor([[5, 17, 99, 3, 250, 42, 7, 8, 120, 33, 64, 1]])


def logits(model):
    with torch.no_grad():
        return model(IDS).logits


def main():
    tmp = tempfile.mkdtemp(prefix="peft-ref-")
    subprocess.run([sys.executable, os.path.join(CLI, "make_tiny_model.py"), os.path.join(tmp, "model"), "5"],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, os.path.join(CLI, "data.py"), os.path.join(tmp, "data.jsonl"), "8"],
                   check=True, capture_output=True)

    # 1. delib's adapter read by peft.
    targets = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    sft(tmp, "--model", "model", "--lora", "--lora-rank", "4", "--lora-alpha", "12", "--lora-targets", targets,
        "--lr", "2e-2", "--max-steps", "2", "--out", "out", "data.jsonl")
    ckpt = os.path.join(tmp, "out", "checkpoint-00000002")
    adir = os.path.join(ckpt, "adapter")
    cfg = json.load(open(os.path.join(adir, "adapter_config.json")))
    want = {"peft_type": "LORA", "r": 4, "lora_alpha": 12, "task_type": "CAUSAL_LM", "bias": "none",
            "fan_in_fan_out": False, "inference_mode": True, "lora_dropout": 0.0, "use_dora": False,
            "use_rslora": False, "base_model_name_or_path": "model",
            "target_modules": sorted(targets.split(","))}
    for k, v in want.items():
        check(f"adapter_config {k}", cfg.get(k) == v, f"{cfg.get(k)!r} != {v!r}")
    base = AutoModelForCausalLM.from_pretrained(os.path.join(tmp, "model"), torch_dtype=torch.float32)
    base_logits = logits(base)
    pm = peft.PeftModel.from_pretrained(base, adir)
    pm.eval()
    merged = AutoModelForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float32)
    lp, lm = logits(pm), logits(merged)
    diff = (lp - lm).abs().max().item()
    moved = (lp - base_logits).abs().max().item()
    print(f"peft-loaded adapter vs delib's merged model: max logit difference {diff:.3g} "
          f"(the adapter moves logits by up to {moved:.3g})")
    check("peft logits == merged logits", diff < 1e-5, diff)
    check("the adapter is not a no-op", moved > 1e-3, moved)
    from safetensors import safe_open
    with safe_open(os.path.join(adir, "adapter_model.safetensors"), "pt") as f:
        keys = set(f.keys())
    check("tensor names", "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight" in keys
          and len(keys) == 2 * 7 * 2, sorted(keys)[:4])

    # 2. peft's adapter read by delib (--lora-init).
    base = AutoModelForCausalLM.from_pretrained(os.path.join(tmp, "model"), torch_dtype=torch.float32)
    torch.manual_seed(11)
    lc = peft.LoraConfig(r=3, lora_alpha=7, target_modules=targets.split(","), task_type="CAUSAL_LM",
                         lora_dropout=0.0, init_lora_weights=False)  # B random too: a non-zero delta
    pm = peft.get_peft_model(base, lc)
    pm.save_pretrained(os.path.join(tmp, "peft_adapter"))
    pm.merge_and_unload().save_pretrained(os.path.join(tmp, "peft_merged"))
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        os.link(os.path.join(tmp, "model", f), os.path.join(tmp, "peft_merged", f))
    a = sft(tmp, "--model", "model", "--lora-init", "peft_adapter", "--lr", "1e-3", "--max-steps", "1", "data.jsonl")
    b = sft(tmp, "--model", "peft_merged", "--lora", "--lr", "1e-3", "--max-steps", "1", "data.jsonl")
    c = sft(tmp, "--model", "model", "--lora", "--lr", "1e-3", "--max-steps", "1", "data.jsonl")
    print(f"--lora-init peft adapter: step-1 loss {a[0]['loss']:.7f}; --lora on peft's merged model "
          f"{b[0]['loss']:.7f}; base {c[0]['loss']:.7f}")
    check("--lora-init loss == merged loss", abs(a[0]["loss"] - b[0]["loss"]) < 1e-5 * abs(b[0]["loss"]),
          (a[0]["loss"], b[0]["loss"]))
    check("the peft adapter changes the loss", abs(a[0]["loss"] - c[0]["loss"]) > 1e-3, (a[0]["loss"], c[0]["loss"]))

    # 3. Phi-3: fused projections.
    from transformers import Phi3Config, Phi3ForCausalLM
    torch.manual_seed(2)
    pc = Phi3Config(vocab_size=384, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                    pad_token_id=0, bos_token_id=1, eos_token_id=2)
    phi_dir = os.path.join(tmp, "phi")
    Phi3ForCausalLM(pc).save_pretrained(phi_dir)
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        os.link(os.path.join(tmp, "model", f), os.path.join(phi_dir, f))
    sft(tmp, "--model", "phi", "--lora", "--lora-rank", "2", "--lora-targets", "q_proj,gate_proj,down_proj",
        "--lr", "2e-2", "--max-steps", "2", "--out", "phi_out", "data.jsonl")
    ckpt = os.path.join(tmp, "phi_out", "checkpoint-00000002")
    cfg = json.load(open(os.path.join(ckpt, "adapter", "adapter_config.json")))
    check("phi3 target_modules", cfg["target_modules"] == ["down_proj", "gate_up_proj", "qkv_proj"], cfg["target_modules"])
    base = AutoModelForCausalLM.from_pretrained(phi_dir, torch_dtype=torch.float32)
    pm = peft.PeftModel.from_pretrained(base, os.path.join(ckpt, "adapter"))
    pm.eval()
    merged = AutoModelForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float32)
    diff = (logits(pm) - logits(merged)).abs().max().item()
    print(f"phi3 (fused qkv_proj, gate_up_proj): peft vs merged max logit difference {diff:.3g}")
    check("phi3 peft logits == merged logits", diff < 1e-5, diff)

    check.finish()


if __name__ == "__main__":
    main()
