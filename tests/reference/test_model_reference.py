#!/usr/bin/env python3
# Reference test for the model area: tiny random Llama / Qwen2 / Qwen3 / Mistral / Phi-3 /
# Gemma 2 / Gemma 3 / Qwen3-MoE models
# built with transformers (from a config, no download) are saved, loaded by delib's model-check
# tool, and compared: logits (f32, 1e-4) on plain, right-padded and packed-document inputs, the
# next-token loss, and the gradient of EVERY parameter (as llm.c's test_gpt2 does, printing
# maxdiff). A delib-saved model must load in transformers with the same logits.
# One row of CASES per family and per RoPE type (docs/adding-a-model.md).
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from transformers import (AutoModelForCausalLM, Gemma2Config, Gemma3TextConfig, LlamaConfig,
                          MistralConfig, Phi3Config, Qwen2Config, Qwen3Config, Qwen3MoeConfig)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

BIN = os.environ.get("DELIB_BIN", "build/bin")
TMP = os.environ.get("DELIB_TMP") or tempfile.gettempdir()
os.makedirs(TMP, exist_ok=True)
TOOL = os.path.join(BIN, "model-check")

LOGIT_TOL = 1e-4
LOSS_TOL = 1e-5
GRAD_TOL = 1e-4   # absolute, on gradients of magnitude ~1e-2..1

checks = Checks()
check = checks.that


SMALL = dict(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
             rms_norm_eps=1e-6)

CASES = [
    ("llama3-rope", LlamaConfig, dict(rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                    "original_max_position_embeddings": 8},
                                      rope_theta=500000.0, tie_word_embeddings=False)),
    ("llama-tied", LlamaConfig, dict(tie_word_embeddings=True)),
    ("llama-bias", LlamaConfig, dict(attention_bias=True)),  # q/k/v and o_proj biases
    ("qwen2", Qwen2Config, dict(tie_word_embeddings=False, rope_theta=1000000.0)),
    ("qwen2-tied", Qwen2Config, dict(tie_word_embeddings=True)),
    ("qwen3", Qwen3Config, dict(head_dim=32, tie_word_embeddings=False)),  # head_dim != 64/4
    ("mistral", MistralConfig, dict(tie_word_embeddings=False)),
    # YaRN (Qwen3's long-context setting; ramp between dims 0 and 3 of 16) and YaRN with
    # DeepSeek-style mscale / mscale_all_dim, explicit betas and no truncation.
    ("qwen3-yarn", Qwen3Config, dict(head_dim=32, rope_theta=1000000.0,
                                     rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                                   "original_max_position_embeddings": 64})),
    ("llama-yarn-mscale", LlamaConfig, dict(rope_scaling={"rope_type": "yarn", "factor": 8.0,
                                                          "original_max_position_embeddings": 32,
                                                          "mscale": 0.707, "mscale_all_dim": 1.0,
                                                          "beta_fast": 16.0, "beta_slow": 2.0,
                                                          "truncate": False})),
    # Dynamic NTK past max_position_embeddings 8: the 13-token batch, the 10-token padded row.
    ("llama-dynamic", LlamaConfig, dict(max_position_embeddings=8,
                                        rope_scaling={"rope_type": "dynamic", "factor": 2.0})),
    # Phi-3: fused qkv_proj / gate_up_proj, a sliding window shorter than the inputs, and a
    # pad token that occurs in the input (its embedding row gets no gradient, as in HF).
    ("phi3", Phi3Config, dict(tie_word_embeddings=False, sliding_window=6, pad_token_id=7,
                              bos_token_id=None, eos_token_id=None)),
    # Phi-4-mini's RoPE: partial rotary (8 of 16 features), LongRoPE with its short factors up
    # to original_max_position_embeddings (8) and its long factors past it (the 13-token batch),
    # attention factor sqrt(1 + ln(512/8) / ln 8); tied embeddings.
    ("phi3-longrope", Phi3Config, dict(tie_word_embeddings=True, partial_rotary_factor=0.5,
                                       original_max_position_embeddings=8, pad_token_id=7,
                                       bos_token_id=None, eos_token_id=None,
                                       rope_scaling={"type": "longrope",
                                                     "short_factor": [1.0, 1.2, 1.7, 2.5],
                                                     "long_factor": [1.1, 2.0, 4.5, 9.0]})),
    # Gemma 2: sandwich norms, (1 + w) norms, sqrt(hidden) embedding scale, GeLU-tanh,
    # query_pre_attn_scalar 24 (not head_dim 32), attention and final soft-capping at caps small
    # enough to bite, a sliding window of 6 (shorter than the inputs) on layer 0 and full
    # attention on layer 1 (the default alternation), tied embeddings, pad token 0 in the input.
    ("gemma2", Gemma2Config, dict(head_dim=32, query_pre_attn_scalar=24, sliding_window=6,
                                  attn_logit_softcapping=2.0, final_logit_softcapping=3.0)),
    # Gemma 2 untied, with attention biases, explicit layer_types (full then sliding) and
    # HF's default caps 50 / 30.
    ("gemma2-untied", Gemma2Config, dict(tie_word_embeddings=False, attention_bias=True,
                                         sliding_window=5,
                                         layer_types=["full_attention", "sliding_attention"])),
    # Gemma 3 text: q/k norms, a sliding layer with its own RoPE base (10000, no scaling) and a
    # full layer with linear scaling on base 1e6, final soft-capping, no attention capping.
    ("gemma3", Gemma3TextConfig, dict(head_dim=32, query_pre_attn_scalar=24, sliding_window=6,
                                      final_logit_softcapping=3.0,
                                      layer_types=["sliding_attention", "full_attention"],
                                      rope_parameters={
                                          "full_attention": {"rope_type": "linear", "factor": 4.0,
                                                             "rope_theta": 1000000.0},
                                          "sliding_attention": {"rope_type": "default",
                                                                "rope_theta": 10000.0}})),
    # Qwen3-MoE: 4 experts, top 2, unnormalised top-k probabilities, every layer sparse.
    ("qwen3moe", Qwen3MoeConfig, dict(head_dim=16, num_experts=4, num_experts_per_tok=2,
                                      moe_intermediate_size=32, norm_topk_prob=False)),
    # Qwen3-MoE with the load-balancing loss in the loss (output_router_logits, coefficient 0.5
    # so its gradient is not lost in rounding), normalised top-k, a dense layer 0
    # (decoder_sparse_step 2) and tied embeddings.
    ("qwen3moe-aux", Qwen3MoeConfig, dict(head_dim=16, num_experts=6, num_experts_per_tok=3,
                                          moe_intermediate_size=24, norm_topk_prob=True,
                                          decoder_sparse_step=2, output_router_logits=True,
                                          router_aux_loss_coef=0.5, tie_word_embeddings=True)),
]


# Rows also checked with a transformers-v4 style config.json (step 5).
CLASSIC_LAYOUT = ("llama3-rope", "phi3-longrope", "gemma3")


def to_classic_layout(model_dir, out_dir):
    """A copy of model_dir whose config.json has rope_theta and rope_scaling (with "type", as
    older files) at the top level instead of v5's rope_parameters, and torch_dtype."""
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(model_dir, out_dir)
    path = os.path.join(out_dir, "config.json")
    with open(path) as f:
        c = json.load(f)
    rp = dict(c.pop("rope_parameters"))
    if "full_attention" in rp:  # Gemma 3: rope_theta, rope_local_base_freq, rope_scaling
        c["rope_local_base_freq"] = rp["sliding_attention"]["rope_theta"]
        rp = dict(rp["full_attention"])
    c["rope_theta"] = rp.pop("rope_theta")
    rp.pop("partial_rotary_factor", None)  # top level in these files
    if c.get("model_type") == "phi3":
        rp.pop("original_max_position_embeddings", None)  # top level too
        rp["type"] = rp.pop("rope_type")
    c["rope_scaling"] = rp
    c["torch_dtype"] = c.pop("dtype", "float32")
    with open(path, "w") as f:
        json.dump(c, f, indent=1)


def run_tool(model_dir, inputs, tag, grads=False, extra=()):
    inp = os.path.join(TMP, f"model-ref-{tag}.json")
    out = os.path.join(TMP, f"model-ref-{tag}.safetensors")
    with open(inp, "w") as f:
        json.dump(inputs, f)
    cmd = [TOOL, "--model", model_dir, "--input", inp, "-o", out] + (["--grads"] if grads else []) + list(extra)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
    return load_file(out)


def maxdiff(a, b):
    return (a.float() - b.float()).abs().max().item()


def make_model(cls, kwargs, seed):
    cfg = cls(**{**SMALL, **kwargs})
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float()
    # HF init leaves norms at 1 and biases at 0; randomise everything so every parameter is
    # exercised, at a scale where the logits are O(1).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
    return model


# RoPE types whose frequencies depend on the sequence length.
LENGTH_DEPENDENT = ("longrope", "dynamic")


def rope_type(model):
    rp = getattr(model.config, "rope_parameters", None) or {}
    return rp.get("rope_type", "default")


def padded_rows_reference(model, ids, mask, labels):
    """Each right-padded row alone: logits of the valid tokens (in row order) and the batch's
    loss (mean over every row's valid next-token labels); gradients accumulate in the model."""
    n = (labels[:, 1:] != -100).sum().item()
    logits, loss = [], 0.0
    for b in range(ids.shape[0]):
        L = int(mask[b].sum())
        out = model(input_ids=ids[b:b + 1, :L], labels=labels[b:b + 1, :L])
        nb = (labels[b, 1:L] != -100).sum().item()
        (out.loss * nb / n).backward()
        logits.append(out.logits[0])
        loss += out.loss.item() * nb / n
    return torch.cat(logits, 0), loss


def delib_grad(name, p, got):
    """delib's gradient of HF parameter `name`. transformers 5 holds a MoE layer's experts as
    3-D tensors (experts.gate_up_proj (E, 2I, C), experts.down_proj (E, C, I)); delib, like the
    checkpoints, one MLP per expert (experts.E.gate_proj.weight, ...). An expert no token
    reached has no gradient in delib, zero in HF."""
    if name.endswith(".mlp.experts.gate_up_proj") or name.endswith(".mlp.experts.down_proj"):
        base = name.rsplit(".", 1)[0]
        parts = []
        for e in range(p.shape[0]):
            def g(leaf, shape):
                t = got.get(f"grad.{base}.{e}.{leaf}.weight")
                return t if t is not None else torch.zeros(shape)
            if name.endswith("gate_up_proj"):
                half = (p.shape[1] // 2, p.shape[2])
                parts.append(torch.cat([g("gate_proj", half), g("up_proj", half)], 0))
            else:
                parts.append(g("down_proj", tuple(p.shape[1:])))
        return torch.stack(parts, 0)
    return got.get("grad." + name)


def grads_match(model, got, label):
    worst, worst_name = 0.0, ""
    n = 0
    for name, p in model.named_parameters():
        key = "grad." + name
        if delib_grad(name, p, got) is not None:
            got = {**got, key: delib_grad(name, p, got)}
        if key not in got:
            check(False, f"{label}: no gradient for {name}")
            continue
        d = maxdiff(p.grad, got[key])
        scale = max(1.0, p.grad.abs().max().item())
        n += 1
        if d / scale > worst:
            worst, worst_name = d / scale, name
        check(d <= GRAD_TOL * scale, f"{label}: grad {name} maxdiff {d:.3g}")
    print(f"  {label}: {n} parameter gradients, worst maxdiff {worst:.3g} ({worst_name})")


def padded_batch(V, g):
    """(ids, mask, labels): 3 right-padded rows of 10 tokens (6, 10 and 3 valid)."""
    ids = torch.randint(0, V, (3, 10), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    mask[2, 3:] = 0
    return ids, mask, ids.masked_fill(mask == 0, -100)


def packed_docs(V, g):
    """(docs, model-check input): documents of 4, 7 and 5 tokens packed in one row, with doc_ids
    and positions restarting at each document."""
    docs = [torch.randint(0, V, (1, n), generator=g) for n in (4, 7, 5)]
    packed = torch.cat(docs, 1)
    doc_ids = torch.cat([torch.full((1, d.shape[1]), i) for i, d in enumerate(docs)], 1)
    positions = torch.cat([torch.arange(d.shape[1]).view(1, -1) for d in docs], 1)
    return docs, {"input_ids": packed.tolist(), "doc_ids": doc_ids.tolist(), "positions": positions.tolist()}


def main():
    if not os.path.exists(TOOL):
        print(f"model-check not built at {TOOL}")
        print("0 passed, 1 failed")
        return 1
    for ci, (label, cls, kwargs) in enumerate(CASES):
        print(f"{label}:")
        model = make_model(cls, kwargs, seed=100 + ci)
        model_dir = os.path.join(TMP, f"model-ref-{label}")
        model.save_pretrained(model_dir)
        V = model.config.vocab_size
        g = torch.Generator().manual_seed(ci)

        # 1. Plain batch: logits, loss, every gradient (also with activation checkpointing).
        ids = torch.randint(0, V, (2, 13), generator=g)
        if model.config.pad_token_id is not None:
            ids[0, 4] = ids[1, 9] = model.config.pad_token_id  # HF: no embedding gradient
        model.zero_grad()
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        aux = getattr(model.config, "output_router_logits", False)
        if aux:
            print(f"  HF aux_loss {out.aux_loss.item():.6f} (x {model.config.router_aux_loss_coef} in the loss)")
        for ckpt in (False, True):
            if ckpt and aux:
                # Router logits are not collected under activation checkpointing: a clear error.
                try:
                    run_tool(model_dir, {"input_ids": ids.tolist(), "labels": ids.tolist()},
                             f"{label}-plain", grads=True, extra=["--checkpoint"])
                    check(False, f"{label}: --checkpoint with output_router_logits did not fail")
                except RuntimeError as e:
                    check("checkpointing" in str(e), f"{label}: checkpoint error: {e}")
                continue
            got = run_tool(model_dir, {"input_ids": ids.tolist(), "labels": ids.tolist()},
                           f"{label}-plain", grads=True, extra=["--checkpoint"] if ckpt else [])
            if aux:
                d = abs(out.aux_loss.item() - got["aux_loss"].item())
                print(f"  aux_loss {got['aux_loss'].item():.6f}, diff {d:.3g}")
                check(d < LOSS_TOL, f"{label}: aux_loss diff {d}")
            tag = f"plain{'+checkpoint' if ckpt else ''}"
            d = maxdiff(out.logits, got["logits"])
            print(f"  {tag}: logits maxdiff {d:.3g}, loss {out.loss.item():.6f} vs {got['loss'].item():.6f}")
            check(d < LOGIT_TOL, f"{label} {tag}: logits maxdiff {d}")
            check(abs(out.loss.item() - got["loss"].item()) < LOSS_TOL, f"{label} {tag}: loss")
            grads_match(model, got, f"{tag}")

        # 2. Right-padded batch with attention_mask: valid logits, loss and gradients.
        ids, mask, labels = padded_batch(V, g)
        model.zero_grad()
        got = run_tool(model_dir, {"input_ids": ids.tolist(), "attention_mask": mask.tolist(),
                                   "labels": labels.tolist()}, f"{label}-pad", grads=True)
        valid = mask.bool()
        if rope_type(model) in LENGTH_DEPENDENT:
            # delib reads the sequence length of these RoPE types per row (its valid tokens),
            # HF per call (the padded batch): the reference is each row on its own, the loss
            # the mean over all rows' valid labels as in the batch.
            ref_logits, ref_loss = padded_rows_reference(model, ids, mask, labels)
        else:
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            out.loss.backward()
            ref_logits, ref_loss = out.logits[valid], out.loss.item()
        d = maxdiff(ref_logits, got["logits"][valid])
        print(f"  padded: logits maxdiff {d:.3g}")
        check(d < LOGIT_TOL, f"{label} padded: logits maxdiff {d}")
        check(abs(ref_loss - got["loss"].item()) < LOSS_TOL, f"{label} padded: loss")
        grads_match(model, got, "padded")

        # 3. Packed documents (doc_ids, positions restarting) == each document on its own.
        docs, inputs = packed_docs(V, g)
        got = run_tool(model_dir, inputs, f"{label}-docs")
        with torch.no_grad():
            ref = torch.cat([model(input_ids=d).logits for d in docs], 1)
        d = maxdiff(ref, got["logits"])
        print(f"  packed docs: logits maxdiff {d:.3g}")
        check(d < LOGIT_TOL, f"{label} packed docs: logits maxdiff {d}")

        # 4. delib's save() output loads in transformers with the same logits.
        saved = os.path.join(TMP, f"model-ref-{label}-saved")
        ids = torch.randint(0, V, (2, 9), generator=g)
        got = run_tool(model_dir, {"input_ids": ids.tolist()}, f"{label}-save", extra=["--save", saved])
        back = AutoModelForCausalLM.from_pretrained(saved, attn_implementation="eager").float()
        with torch.no_grad():
            a = model(input_ids=ids).logits
            b = back(input_ids=ids).logits
        d = maxdiff(a, b)
        print(f"  delib-saved model in transformers: logits maxdiff {d:.3g}")
        check(d < LOGIT_TOL, f"{label} saved: transformers logits maxdiff {d}")
        check(maxdiff(a, got["logits"]) < LOGIT_TOL, f"{label} saved: delib logits")
        check(type(back).__name__ == type(model).__name__, f"{label} saved: class {type(back).__name__}")

        # 5. The classic config.json layout that released checkpoints ship (Llama 3.1,
        # Phi-4-mini): rope_theta and rope_scaling at the top level, not rope_parameters.
        if label in CLASSIC_LAYOUT:
            classic = os.path.join(TMP, f"model-ref-{label}-classic")
            to_classic_layout(model_dir, classic)
            got = run_tool(classic, {"input_ids": ids.tolist()}, f"{label}-classic")
            d = maxdiff(a, got["logits"])
            print(f"  classic config.json layout: logits maxdiff {d:.3g}")
            check(d < LOGIT_TOL, f"{label} classic layout: logits maxdiff {d}")

    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
