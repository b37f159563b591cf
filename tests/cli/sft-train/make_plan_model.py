"""Writes the model and data of the --plan measurement cases: a random ~34M-parameter Llama
(f32, untied, GQA) with make_tiny_model.py's tokenizer, and DATA.jsonl of 12 identical-length
raw records (so that --padding pads nothing and every row is full, as the plan assumes).
Prints the records' token length (the --max-length to use).

usage: make_plan_model.py MODEL_DIR DATA.jsonl   (MODEL_DIR already holds the tokenizer)
"""
import json
import sys

import torch
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM


def main():
    out, data = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=16000, hidden_size=512, intermediate_size=1408, num_hidden_layers=6,
                      num_attention_heads=8, num_key_value_heads=4, head_dim=64,
                      max_position_embeddings=1024, tie_word_embeddings=False, torch_dtype="float32")
    LlamaForCausalLM(cfg).save_pretrained(out, safe_serialization=True)
    tok = Tokenizer.from_file(f"{out}/tokenizer.json")
    text = "Q:"
    target = " " + " ".join(["the policy allows general information"] * 40)
    n = len(tok.encode(text).ids) + len(tok.encode(target).ids) + 1  # + eos
    with open(data, "w") as f:
        for i in range(12):
            f.write(json.dumps({"id": f"r{i}", "text": text, "target": target}) + "\n")
    print(n)


if __name__ == "__main__":
    main()
