#!/usr/bin/env python3
# label: gpu
"""The model area on CUDA against transformers: the families of test_model_reference.py whose
attention paths differ (GQA with RoPE scaling, Qwen3's q/k norms, Mistral, Phi-3's fused
projections, Gemma 2's soft-capped eager attention, Gemma 3's sliding/global layers,
Qwen3-MoE), run by model-check --device cuda in f32 and compared with transformers in f32 on the
CPU: logits (1e-4) and every parameter's gradient on a plain batch (also with activation
checkpointing), on a right-padded batch with an attention mask, and logits on packed documents.
The padded and packed inputs take the masked path that repeats k and v to the query heads on
CUDA (model.cpp AttentionImpl::forward), which the CPU tests cannot reach.

Exit 77 (skipped) without a CUDA device. --dry-run: the same steps on the CPU (plumbing only).
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_model_reference as ref  # noqa: E402

FAMILIES = ("llama3-rope", "qwen3", "mistral", "phi3", "gemma2", "gemma3", "qwen3moe")


def main():
    dry = "--dry-run" in sys.argv
    if not dry and not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 77
    dev = ["--device", "cpu" if dry else "cuda"]
    check = ref.check
    cases = [c for c in ref.CASES if c[0] in FAMILIES]
    check(len(cases) == len(FAMILIES), f"families missing from test_model_reference.CASES: {FAMILIES}")
    for ci, (label, cls, kwargs) in enumerate(cases):
        print(f"{label}:")
        model = ref.make_model(cls, kwargs, seed=300 + ci)
        model_dir = os.path.join(ref.TMP, f"model-cuda-{label}")
        model.save_pretrained(model_dir)
        V = model.config.vocab_size
        g = torch.Generator().manual_seed(50 + ci)

        ids = torch.randint(0, V, (2, 13), generator=g)
        model.zero_grad()
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        for ckpt in (False, True):
            tag = f"plain{'+checkpoint' if ckpt else ''}"
            got = ref.run_tool(model_dir, {"input_ids": ids.tolist(), "labels": ids.tolist()}, f"cuda-{label}-plain",
                               grads=True, extra=dev + (["--checkpoint"] if ckpt else []))
            d = ref.maxdiff(out.logits, got["logits"])
            print(f"  {tag}: logits maxdiff {d:.3g}, loss {out.loss.item():.6f} vs {got['loss'].item():.6f}")
            check(d < ref.LOGIT_TOL, f"{label} {tag}: logits maxdiff {d}")
            check(abs(out.loss.item() - got["loss"].item()) < ref.LOSS_TOL, f"{label} {tag}: loss")
            ref.grads_match(model, got, tag)

        ids, mask, labels = ref.padded_batch(V, g)
        model.zero_grad()
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        got = ref.run_tool(model_dir, {"input_ids": ids.tolist(), "attention_mask": mask.tolist(),
                                       "labels": labels.tolist()}, f"cuda-{label}-pad", grads=True, extra=dev)
        valid = mask.bool()
        d = ref.maxdiff(out.logits[valid], got["logits"][valid])
        print(f"  padded: logits maxdiff {d:.3g}")
        check(d < ref.LOGIT_TOL, f"{label} padded: logits maxdiff {d}")
        check(abs(out.loss.item() - got["loss"].item()) < ref.LOSS_TOL, f"{label} padded: loss")
        ref.grads_match(model, got, "padded")

        docs, inputs = ref.packed_docs(V, g)
        got = ref.run_tool(model_dir, inputs, f"cuda-{label}-docs", extra=dev)
        with torch.no_grad():
            want = torch.cat([model(input_ids=x).logits for x in docs], 1)
        d = ref.maxdiff(want, got["logits"])
        print(f"  packed docs: logits maxdiff {d:.3g}")
        check(d < ref.LOGIT_TOL, f"{label} packed docs: logits maxdiff {d}")
    return ref.checks.summary()


if __name__ == "__main__":
    sys.exit(main())
