"""sft-train's loss and gradient norm against transformers for the families whose loss is not
the plain next-token cross-entropy of hidden states and the LM head (issue #19):

  qwen3moe-aux: Qwen3-MoE with output_router_logits, whose loss (Qwen3MoeForCausalLM.forward)
                adds router_aux_loss_coef * load_balancing_loss_func(router logits,
                attention_mask); a coefficient of 0.5 so that it shows;
  gemma2-cap:   Gemma 2 with final_logit_softcapping 3 (and attention soft-capping 2), whose
                logits are cap * tanh(logits / cap) before the softmax.

The batch is test_sft_reference.py's (three ChatML conversations, padded, one micro-batch), the
tokenizer that of tests/cli/sft-train/make_tiny_model.py; the reference is HF's own forward
with labels (its loss includes the aux term), mean over the target tokens.
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Gemma2Config, Qwen3MoeConfig

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_sft_reference import RECORDS, chatml  # noqa: E402

BIN = os.environ.get("DELIB_BIN", os.path.join(HERE, "..", "..", "build", "bin"))
check = Checks()


def batch(tok):
    """test_sft_reference's rows: ids, attention mask and labels as delib's contract builds them."""
    rows, labels = [], []
    for r in RECORDS:
        prefix, target, tail = chatml(r["messages"], r["reasoning"], r["answer"])
        ids, lab = [], []

        def add(text, special, is_target):
            t = tok(text, add_special_tokens=False, split_special_tokens=not special)["input_ids"]
            ids.extend(t)
            lab.extend(t if is_target else [-100] * len(t))

        for m in r["messages"]:
            add(f"<|im_start|>{m['role']}\n", True, False)
            add(m["content"], False, False)
            add("<|im_end|>\n", True, False)
        add("<|im_start|>assistant\n", True, False)
        add("<think>\n", True, True)
        add(r["reasoning"], False, True)
        add("\n</think>\n\n", True, True)
        add(r["answer"], False, True)
        add("<|im_end|>", True, True)
        add(tail, True, False)
        rows.append(ids)
        labels.append(lab)
    T = max(map(len, rows))
    pad = tok.pad_token_id
    input_ids = torch.tensor([r + [pad] * (T - len(r)) for r in rows])
    attn = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
    lab = torch.tensor([l + [-100] * (T - len(l)) for l in labels])
    return input_ids, attn, lab


def family_model(kind, vocab, pad):
    common = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                  max_position_embeddings=512, pad_token_id=pad, bos_token_id=None, eos_token_id=None)
    if kind == "qwen3moe-aux":
        cfg = Qwen3MoeConfig(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                             norm_topk_prob=True, output_router_logits=True, router_aux_loss_coef=0.5,
                             **common)
    else:
        cfg = Gemma2Config(sliding_window=8, query_pre_attn_scalar=8, attn_logit_softcapping=2.0,
                           final_logit_softcapping=3.0, **common)
    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_((1.0 if name.endswith("norm.weight") else 0.0) + 0.1 * torch.randn_like(p))
    return model


def run(kind, tmp):
    model_dir = os.path.join(tmp, kind)
    subprocess.run([sys.executable, os.path.join(HERE, "..", "cli", "sft-train", "make_tiny_model.py"),
                    model_dir, "7"], check=True, capture_output=True)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = family_model(kind, len(tok), tok.pad_token_id)
    for f in os.listdir(model_dir):  # the tokenizer stays, the Qwen3 weights go
        if f.endswith(".safetensors") or f in ("config.json", "model.safetensors.index.json"):
            os.remove(os.path.join(model_dir, f))
    model.save_pretrained(model_dir)
    data = os.path.join(tmp, "data.jsonl")
    with open(data, "w") as f:
        for r in RECORDS:
            f.write(json.dumps(r) + "\n")
    out = subprocess.run([os.path.join(BIN, "sft-train"), "--model", model_dir, "--plain", "--padding",
                          "--no-shuffle", "--batch-size", "3", "--max-steps", "1", "--lr", "1e-3",
                          "--max-grad-norm", "0", "--schedule", "constant", "--threads", "1",
                          "--out", os.path.join(tmp, kind + "-out"), data],
                         capture_output=True, text=True)
    if out.returncode != 0:
        check(f"{kind}: sft-train runs", False, out.stderr)
        return
    metrics = json.loads(out.stdout.splitlines()[0])
    input_ids, attn, lab = batch(tok)
    model.train()
    res = model(input_ids=input_ids, attention_mask=attn, labels=lab)
    res.loss.backward()
    gnorm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters())).item()
    aux = getattr(res, "aux_loss", None)
    extra = f", of which aux {model.config.router_aux_loss_coef} x {aux.item():.6f}" if aux is not None else ""
    print(f"{kind}: loss {metrics['loss']:.6f} vs transformers {res.loss.item():.6f}{extra}; "
          f"grad norm {metrics['grad_norm']:.6f} vs {gnorm:.6f}")
    check(f"{kind}: loss", abs(metrics["loss"] - res.loss.item()) <= 1e-5 * max(1, res.loss.item()),
          f"{metrics['loss']} vs {res.loss.item()}")
    check(f"{kind}: grad norm", abs(metrics["grad_norm"] - gnorm) <= 1e-4 * gnorm,
          f"{metrics['grad_norm']} vs {gnorm}")


def main():
    tmp = tempfile.mkdtemp(prefix="family-sft-")
    for kind in ("qwen3moe-aux", "gemma2-cap"):
        run(kind, tmp)


if __name__ == "__main__":
    main()
    check.finish()
