"""Greedy decoding of delib's engine (tools/gen-check) against transformers' generate.

Tiny random Llama, Qwen3, Gemma 2 and Gemma 3 (sliding layers with a window of 6 that the
sequences outgrow, soft-capping), Qwen3-MoE and Phi-3 (partial rotary, LongRoPE switching from its short to its
long factors during generation) models are saved with save_pretrained; a batch of prompts of
different lengths is decoded greedily by delib with continuous batching (fewer slots than
prompts) and by transformers one prompt at a time (no padding: the exact reference). The
generated ids must be identical, and delib's per-token log-probabilities must match
log_softmax of transformers' raw logits (output_logits=True) of the chosen tokens.

Phi-3 with LongRoPE (original_max_position_embeddings 16): when a sequence first reaches 17
tokens, HF's Phi3ForCausalLM.prepare_inputs_for_generation drops the KV cache and recomputes the
whole sequence with the long factors, and delib's engine re-prefills the row likewise. The
reference is HF's real Phi-3 generate(); every prompt but the 17-token one (prefilled past the
switch already) crosses it, the 16-token one at its first decode step. That the switch matters
is checked too: generate() with the generic prepare_inputs_for_generation (cached short-factor
keys kept, what delib did before) must differ from delib on some prompt.
"""
import json
import os
import subprocess
import sys
import tempfile
import types

import torch
import transformers

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

BIN = os.environ.get("DELIB_BIN", "build/bin")
TMP = os.environ.get("DELIB_TMP") or tempfile.gettempdir()

checks = Checks()
check = checks.that


# The kinds of model checked, by transformers config class (scripts/model-table.py reads this
# to list the families whose generation is reference-tested).
KIND_CONFIGS = {"llama": "LlamaConfig", "qwen2": "Qwen2Config", "qwen3": "Qwen3Config",
                "mistral": "MistralConfig", "phi3": "Phi3Config",
                "gemma2": "Gemma2Config", "gemma3": "Gemma3TextConfig", "qwen3moe": "Qwen3MoeConfig"}


def make_model(kind, path):
    torch.manual_seed(0)
    common = dict(vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  rms_norm_eps=1e-6, initializer_range=0.2, tie_word_embeddings=False)
    if kind == "llama":
        cfg = transformers.LlamaConfig(**common)
    elif kind == "phi3":
        # original_max_position_embeddings 16: prompts of 1..16 tokens + 24 generated cross it.
        cfg = transformers.Phi3Config(partial_rotary_factor=0.5, original_max_position_embeddings=16,
                                      rope_scaling={"type": "longrope",
                                                    "short_factor": [1.0, 1.2, 1.7, 2.5],
                                                    "long_factor": [1.1, 2.0, 4.5, 9.0]},
                                      pad_token_id=None, bos_token_id=None, eos_token_id=None,
                                      **common)
    elif kind == "qwen2":
        cfg = transformers.Qwen2Config(**common)
    elif kind == "mistral":
        cfg = transformers.MistralConfig(sliding_window=8, **common)  # outgrown by the sequences
    elif kind == "gemma2":
        # A window of 6 on layers 0 and 2 (prompts up to 17 + 24 tokens slide past it), caps
        # small enough to change the scores and the logits.
        cfg = transformers.Gemma2Config(head_dim=16, query_pre_attn_scalar=12, sliding_window=6,
                                        attn_logit_softcapping=2.0, final_logit_softcapping=5.0,
                                        pad_token_id=None, bos_token_id=None, eos_token_id=None,
                                        **{**common, "num_hidden_layers": 3})
    elif kind == "gemma3":
        cfg = transformers.Gemma3TextConfig(
            head_dim=16, query_pre_attn_scalar=12, sliding_window=6, final_logit_softcapping=5.0,
            layer_types=["sliding_attention", "full_attention", "sliding_attention"],
            rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e6},
                             "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}},
            pad_token_id=None, bos_token_id=None, eos_token_id=None,
            **{**common, "num_hidden_layers": 3})
    elif kind == "qwen3moe":
        cfg = transformers.Qwen3MoeConfig(head_dim=16, num_experts=4, num_experts_per_tok=2,
                                          moe_intermediate_size=32, norm_topk_prob=True, **common)
    else:
        cfg = transformers.Qwen3Config(head_dim=16, **common)
    assert type(cfg).__name__ == KIND_CONFIGS[kind], f"{kind}: KIND_CONFIGS says {KIND_CONFIGS[kind]}"
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    model.save_pretrained(path, safe_serialization=True)
    return model


def generate(model, p, max_new):
    with torch.no_grad():
        return model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                              do_sample=False, max_new_tokens=max_new, min_new_tokens=max_new,
                              return_dict_in_generate=True, output_logits=True)


def main(extra=()):
    """extra: more gen-check arguments (test_generate_cuda.py: --device cuda)."""
    work = tempfile.mkdtemp(prefix="gen-ref-", dir=TMP if os.path.isdir(TMP) else None)
    gen = torch.Generator().manual_seed(1)
    lengths = [3, 11, 5, 17, 1, 8, 2, 16]
    prompts = [torch.randint(0, 320, (n,), generator=gen).tolist() for n in lengths]
    max_new = 24
    with open(os.path.join(work, "prompts.jsonl"), "w") as f:
        for i, p in enumerate(prompts):
            f.write(json.dumps({"id": f"p{i}", "prompt_ids": p}) + "\n")
    for kind in KIND_CONFIGS:
        mdir = os.path.join(work, kind)
        model = make_model(kind, mdir)
        out_path = os.path.join(work, kind + ".out.jsonl")
        cmd = [os.path.join(BIN, "gen-check"), "--model", mdir, "--temperature", "0",
               "--max-tokens", str(max_new), "--batch-size", "3", "--logprobs", "--plain",
               "-o", out_path, os.path.join(work, "prompts.jsonl")] + list(extra)
        r = subprocess.run(cmd, capture_output=True, text=True)
        check(r.returncode == 0, f"{kind}: gen-check exit {r.returncode}: {r.stderr}")
        if r.returncode != 0:
            continue
        got = [json.loads(l) for l in open(out_path)]
        kept_cache_differs = 0
        unwindowed_differs = 0
        worst = 0.0
        unwindowed = None
        if kind.startswith("gemma"):
            # The same weights with every layer full attention: must differ from delib
            # somewhere, or the test could not tell a windowed cache from an unwindowed one.
            cfg = type(model.config).from_dict({**model.config.to_dict(),
                                                 "layer_types": ["full_attention"] * 3})
            unwindowed = transformers.AutoModelForCausalLM.from_config(cfg).eval()
            unwindowed.load_state_dict(model.state_dict())
            unwindowed.generation_config.eos_token_id = None
            unwindowed.generation_config.pad_token_id = 0
        phi3_prepare = model.prepare_inputs_for_generation
        generic_prepare = types.MethodType(transformers.GenerationMixin.prepare_inputs_for_generation, model)
        for i, p in enumerate(prompts):
            if kind == "phi3":
                # What generate() gives when the cache is kept across the switch.
                model.prepare_inputs_for_generation = generic_prepare
                kept = generate(model, p, max_new)
                kept_ids = kept.sequences[0, len(p):].tolist()
                kept_lp = [torch.log_softmax(kept.logits[t][0].double(), -1)[kept_ids[t]].item()
                           for t in range(len(kept_ids))]
                kept_cache_differs += (kept_ids != got[i]["ids"] or
                                       max(abs(a - b) for a, b in zip(got[i]["logprobs"], kept_lp)) >= 1e-4)
                model.prepare_inputs_for_generation = phi3_prepare  # the real one: the reference
            o = generate(model, p, max_new)
            ref = o.sequences[0, len(p):].tolist()
            if unwindowed is not None:
                unwindowed_differs += generate(unwindowed, p, max_new).sequences[0, len(p):].tolist() != got[i]["ids"]
            ids = got[i]["ids"]
            check(ids == ref, f"{kind} prompt {i} (len {len(p)}): delib {ids} != transformers {ref}")
            check(got[i]["finish_reason"] == "length", f"{kind} prompt {i}: finish_reason {got[i]['finish_reason']}")
            lp_ref = [torch.log_softmax(o.logits[t][0].double(), -1)[ref[t]].item() for t in range(len(ref))]
            diff = max(abs(a - b) for a, b in zip(got[i]["logprobs"], lp_ref))
            check(diff < 1e-4, f"{kind} prompt {i}: logprob maxdiff {diff}")
            worst = max(worst, diff)
        print(f"{kind}: {len(prompts)} prompts compared, log-prob maxdiff {worst:.2e}")
        if unwindowed is not None:
            print(f"{kind}: generate() without the sliding window differs from delib on "
                  f"{unwindowed_differs} of {len(prompts)} prompts")
            check(unwindowed_differs > 0, f"{kind}: the sliding window changes nothing")
        if kind == "phi3":
            print(f"phi3: generate() keeping the cache across the LongRoPE switch differs from "
                  f"delib (tokens or log-probs >= 1e-4) on {kept_cache_differs} of {len(prompts)} prompts")
            check(kept_cache_differs > 0, "phi3: the LongRoPE switch changes nothing: the test cannot "
                  "tell a recomputed cache from a kept one")
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
