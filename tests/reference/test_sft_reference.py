"""sft-train's loss and gradients against a transformers reference on the same batch and
weights (tiny random Qwen3, ChatML template, padded batch):

  1. the step-1 loss (mean NLL over assistant target tokens) equals the transformers loss;
  2. the step-1 gradient norm equals the reference gradient norm;
  3. the weights after one AdamW step equal torch.optim.AdamW applied to the reference
     gradients, element by element (so every gradient's sign and size agree);
  4. the token ids and loss mask: the reference builds them from the text transformers'
     ChatML rendering would give plus delib's <think> block, tokenized as one string.
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("DELIB_BIN", os.path.join(HERE, "..", "..", "build", "bin"))
check = Checks()


RECORDS = [
    {"messages": [{"role": "user", "content": "Tell me about chemistry, please."}],
     "reasoning": "The user asks about chemistry. The policy allows it.",
     "answer": "Sure! Here is a short summary about chemistry."},
    {"messages": [{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "What is the capital of France?"}],
     "reasoning": "Simple fact.", "answer": "Paris."},
    {"messages": [{"role": "user", "content": "Write a poem about the weather"},
                  {"role": "assistant", "content": "Rain again."},
                  {"role": "user", "content": "Another one <|im_end|> please"}],
     "reasoning": "A second poem; the user text contains control-token text, kept literal.",
     "answer": "Sun at last, the weather is kind."},
]


def chatml(messages, reasoning, answer):
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    prefix = text + "<|im_start|>assistant\n"
    return prefix, f"<think>\n{reasoning}\n</think>\n\n{answer}<|im_end|>", "\n"


def main():
    tmp = tempfile.mkdtemp(prefix="sft-ref-")
    model_dir = os.path.join(tmp, "model")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "cli", "sft-train", "make_tiny_model.py"),
                    model_dir, "7"], check=True, capture_output=True)
    data = os.path.join(tmp, "data.jsonl")
    with open(data, "w") as f:
        for r in RECORDS:
            f.write(json.dumps(r) + "\n")
    lr, eps = 1e-3, 1e-6
    out = subprocess.run([os.path.join(BIN, "sft-train"), "--model", model_dir, "--plain", "--padding",
                          "--no-shuffle", "--batch-size", "3", "--max-steps", "1", "--lr", str(lr),
                          "--eps", str(eps), "--max-grad-norm", "0", "--schedule", "constant",
                          "--threads", "1", "--loss-chunk", "5", "--out", os.path.join(tmp, "out"), data],
                         capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr)
        check("sft-train runs", False, out.stderr)
        return
    metrics = json.loads(out.stdout.splitlines()[0])

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
    model.train()
    rows, labels = [], []
    for r in RECORDS:
        # The user's "<|im_end|>" must stay literal text (delib encodes contents with
        # parse_special=false): tokenize the conversation part by part like delib's contract.
        prefix, target, tail = chatml(r["messages"], r["reasoning"], r["answer"])
        ids, lab = [], []

        def add(text, special, is_target):
            if special:
                t = tok(text, add_special_tokens=False)["input_ids"]
            else:
                t = tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
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
    logits = model(input_ids=input_ids, attention_mask=attn).logits
    shift_logits, shift_labels = logits[:, :-1].reshape(-1, logits.size(-1)), lab[:, 1:].reshape(-1)
    n_targets = int((shift_labels != -100).sum())
    loss = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100,
                                             reduction="sum") / n_targets
    loss.backward()
    gnorm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters())).item()

    check("target token count", metrics["target_tokens"] == n_targets,
          f"{metrics['target_tokens']} vs {n_targets}")
    check("tokens", metrics["tokens"] == int(attn.sum()), f"{metrics['tokens']} vs {int(attn.sum())}")
    check("loss", abs(metrics["loss"] - loss.item()) <= 1e-5 * max(1, loss.item()),
          f"{metrics['loss']} vs {loss.item()}")
    check("grad norm", abs(metrics["grad_norm"] - gnorm) <= 1e-4 * gnorm, f"{metrics['grad_norm']} vs {gnorm}")

    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), eps=eps, weight_decay=0.0)
    opt.step()
    trained = AutoModelForCausalLM.from_pretrained(os.path.join(tmp, "out", "checkpoint-00000001"),
                                                   torch_dtype=torch.float32)
    ref = dict(model.named_parameters())
    worst = max((p - ref[n]).abs().max().item() for n, p in trained.named_parameters())
    check("weights after one AdamW step", worst < 1e-6, f"max diff {worst}")
    print(f"loss {metrics['loss']:.6f} vs {loss.item():.6f}; grad norm {metrics['grad_norm']:.6f} vs "
          f"{gnorm:.6f}; max weight diff {worst:.3g}")


if __name__ == "__main__":
    main()
    check.finish()
