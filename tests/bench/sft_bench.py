"""sft-train step time on CPU against the equivalent PyTorch/transformers training step.

Same model (a random Qwen3 written here, f32), same padded batch, same optimizer (AdamW),
same clipping, same thread count; the first 2 steps are warm-up. Prints a Markdown section;
--append adds it to tests/bench/RESULTS.md.

usage: sft_bench.py [--bin DIR] [--threads N] [--steps N] [--rounds N] [--append]
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("DELIB_BIN", os.path.join(HERE, "..", "..", "build", "bin")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--append", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tmp = tempfile.mkdtemp(prefix="sft-bench-")
    model_dir = os.path.join(tmp, "model")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "cli", "sft-train", "make_tiny_model.py"),
                    model_dir, "0"], check=True, capture_output=True)
    # Scale the tiny model up to something a CPU step takes a while on (~20M parameters).
    tok = AutoTokenizer.from_pretrained(model_dir)
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                      num_attention_heads=8, num_key_value_heads=4, head_dim=32,
                      max_position_embeddings=1024, tie_word_embeddings=False)
    torch.manual_seed(0)
    Qwen3ForCausalLM(cfg).save_pretrained(model_dir)
    B, steps = 8, a.steps
    records = []
    for i in range(B):
        words = " ".join(f"word{j % 50} policy{i}" for j in range(40 + 5 * i))
        records.append({"messages": [{"role": "user", "content": f"Question {i}: {words}"}],
                        "reasoning": f"Thinking about {words[:200]}", "answer": f"Answer {i}: {words[:300]}"})
    data = os.path.join(tmp, "data.jsonl")
    with open(data, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")

    # transformers: the same padded batch through the same template text, loss on the target.
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    texts = []
    for r in records:
        texts.append(f"<|im_start|>user\n{r['messages'][0]['content']}<|im_end|>\n<|im_start|>assistant\n"
                     f"<think>\n{r['reasoning']}\n</think>\n\n{r['answer']}<|im_end|>\n")
    enc = tok(texts, padding=True, return_tensors="pt", add_special_tokens=False)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)

    def delib_round():
        # One epoch = one step over the 8 records; --epochs steps; the first 2 are warm-up.
        out = subprocess.run([os.path.join(a.bin, "sft-train"), "--model", model_dir, "--plain", "--padding",
                              "--no-shuffle", "--batch-size", str(B), "--epochs", str(steps), "--max-length", "2048",
                              "--lr", "1e-4", "--threads", str(a.threads), data], capture_output=True, text=True,
                             check=True)
        rows = [json.loads(l) for l in out.stdout.splitlines()]
        return statistics.median(r["step_time_s"] for r in rows[2:]), rows[0]["tokens"]

    def torch_round():
        times = []
        for s in range(steps):
            t0 = time.perf_counter()
            opt.zero_grad()
            loss = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if s >= 2:
                times.append(time.perf_counter() - t0)
        return statistics.median(times)

    # Rounds alternate which implementation goes first; every round is kept (median and spread,
    # never the best round).
    load_before = " ".join(open("/proc/loadavg").read().split()[:3])
    dts, pts = [], []
    tokens = 0
    for r in range(a.rounds):
        if r % 2 == 0:
            d, tokens = delib_round()
            p = torch_round()
        else:
            p = torch_round()
            d, tokens = delib_round()
        dts.append(d)
        pts.append(p)
        print(f"round {r}: delib {d:.3f} s/step, transformers {p:.3f} s/step, speed-up {p / d:.2f}x", flush=True)
    load_after = " ".join(open("/proc/loadavg").read().split()[:3])
    ratios = [p / d for d, p in zip(dts, pts)]

    def spread(xs, f="{:.3f}"):
        return f"{f.format(statistics.median(xs))} ({f.format(min(xs))}-{f.format(max(xs))})"

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    n_params = sum(x.numel() for x in model.parameters())
    section = (f"\n## sft-train (train area): CPU step time vs transformers "
               f"({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)\n\n"
               f"{cpu}, {os.cpu_count()} cores, load average {load_before} before / {load_after} after, "
               f"{a.threads} threads, torch {torch.__version__}, transformers {transformers.__version__}. "
               f"Random Qwen3 ({n_params / 1e6:.1f}M parameters, f32), padded batch of {B} chat records "
               f"({tokens} tokens), AdamW + clipping. Each round: median step time of {steps - 2} steps after "
               f"2 warm-up steps, for each implementation; {a.rounds} rounds alternating which goes first; "
               f"median (min-max) over rounds. Command: `python tests/bench/sft_bench.py --rounds {a.rounds}`.\n\n"
               f"| implementation | step time (s) | tokens/s (median) |\n|---|---|---|\n"
               f"| delib sft-train | {spread(dts)} | {tokens / statistics.median(dts):.0f} |\n"
               f"| transformers + torch.optim.AdamW | {spread(pts)} | {tokens / statistics.median(pts):.0f} |\n\n"
               f"Speed-up (transformers time / delib time, per round): **{spread(ratios, '{:.2f}')}x** "
               f"(target >= 1.0x, i.e. delib's step no slower).\n")
    print(section)
    if a.append:
        with open(os.path.join(HERE, "RESULTS.md"), "a") as f:
            f.write(section)


if __name__ == "__main__":
    main()
