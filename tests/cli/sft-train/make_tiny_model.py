"""Writes a tiny randomly initialised Qwen3 model directory for sft-train tests:
a byte-level BPE tokenizer (trained here on a few sentences, ChatML special tokens, ChatML
chat template) and a 2-layer Qwen3ForCausalLM in f32 safetensors.

usage: make_tiny_model.py OUT_DIR [SEED] [MAX_POSITIONS]
(MAX_POSITIONS: max_position_embeddings, default 512; the local engine caps its context there)
"""
import json
import os
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import Qwen3Config, Qwen3ForCausalLM

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
          "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

CORPUS = [
    "The policy allows general information about chemistry but not synthesis routes.",
    "I can't help with that. If you are in danger, please contact local emergency services.",
    "Here is a short summary of the article you asked about.",
    "The user asks for medical advice; the spec says to give general information and a disclaimer.",
    "Sure! The capital of France is Paris.",
    "<think> reasoning about the request and the relevant policy </think>",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?'\"()[]{}<>/\\-_=+*&^%$#@~`|",
]


def main():
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    max_positions = int(sys.argv[3]) if len(sys.argv) > 3 else 512
    os.makedirs(out, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    tok.save(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"chat_template": CHATML, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                   "bos_token": None, "tokenizer_class": "PreTrainedTokenizerFast",
                   "model_max_length": 4096}, f, indent=1)
    torch.manual_seed(seed)
    cfg = Qwen3Config(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      head_dim=8, max_position_embeddings=max_positions, tie_word_embeddings=False,
                      torch_dtype="float32")
    model = Qwen3ForCausalLM(cfg)
    model.save_pretrained(out, safe_serialization=True)


if __name__ == "__main__":
    main()
