"""CPU decoding throughput: delib's engine (tools/gen-check) vs transformers' generate.

Same model (a random ~20M-parameter Llama saved with save_pretrained), same prompts, batch
size, prompt and generation lengths, same thread count, same run, alternating the two
(best of --repeats each). Greedy (do_sample=False) and sampled (temperature 1, top-p 0.9) decoding.
tokens/s = generated tokens / wall seconds of the generate call (model loading excluded).

  python tests/bench/generate_bench.py --bin build/bin [--append tests/bench/RESULTS.md]
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import tempfile
import time

import torch
import transformers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("DELIB_BIN", "build/bin"))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--requests", type=int, default=8, help="prompts (> batch exercises continuous batching)")
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--append", default="", help="append a results section to this markdown file")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    work = tempfile.mkdtemp(prefix="gen-bench-")
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=32000, hidden_size=256, intermediate_size=1024,
                                   num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4,
                                   max_position_embeddings=2048, tie_word_embeddings=False)
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    nparams = sum(p.numel() for p in model.parameters())
    mdir = os.path.join(work, "model")
    model.save_pretrained(mdir, safe_serialization=True)

    gen = torch.Generator().manual_seed(1)
    prompts = torch.randint(1, 32000, (a.requests, a.prompt_len), generator=gen)
    inp = os.path.join(work, "prompts.jsonl")
    with open(inp, "w") as f:
        for i in range(a.requests):
            f.write(json.dumps({"id": f"p{i}", "prompt_ids": prompts[i].tolist()}) + "\n")

    modes = {"greedy": dict(do_sample=False), "sample": dict(do_sample=True, temperature=1.0, top_p=0.9, top_k=0)}
    flags = {"greedy": ["--temperature", "0"], "sample": ["--temperature", "1", "--top-p", "0.9"]}
    results = {}
    for mode in modes:
        hf_best, dl_best = 0.0, 0.0
        for _ in range(a.repeats):
            # transformers: batches of a.batch prompts (all the same length: no padding).
            t0 = time.perf_counter()
            n = 0
            with torch.inference_mode():
                for s in range(0, a.requests, a.batch):
                    x = prompts[s:s + a.batch]
                    o = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=a.new_tokens,
                                       min_new_tokens=a.new_tokens, **modes[mode])
                    n += (o.shape[1] - x.shape[1]) * x.shape[0]
            hf_best = max(hf_best, n / (time.perf_counter() - t0))
            stats = os.path.join(work, "stats.json")
            cmd = [os.path.join(a.bin, "gen-check"), "--model", mdir, "--batch-size", str(a.batch),
                   "--max-tokens", str(a.new_tokens), "--threads", str(a.threads), "--plain",
                   "--stats", stats, "-o", os.devnull, inp] + flags[mode]
            subprocess.run(cmd, check=True)
            st = json.load(open(stats))
            assert st["generated_tokens"] == a.requests * a.new_tokens, st
            dl_best = max(dl_best, st["generated_tokens_per_second"])
        results[mode] = (hf_best, dl_best, st)
        print(f"{mode}: transformers {hf_best:.1f} tok/s, delib {dl_best:.1f} tok/s, "
              f"speed-up {dl_best / hf_best:.2f}x  (delib stats: {json.dumps(st)})")

    if a.append:
        cpu = "unknown CPU"
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        lines = [f"\n## generate: CPU decoding, delib engine vs transformers generate ({now})\n",
                 f"Machine: {cpu}, {os.cpu_count()} cores (shared with other jobs), {a.threads} threads, "
                 f"torch {torch.__version__}, transformers {transformers.__version__}, {platform.python_version()}.",
                 f"Model: random Llama, {nparams / 1e6:.1f}M params (V 32000, C 256, 4 layers, 8 heads / 4 kv), f32.",
                 f"Workload: {a.requests} prompts x {a.prompt_len} tokens, {a.new_tokens} new tokens each, "
                 f"batch {a.batch}, best of {a.repeats}. Command: `python tests/bench/generate_bench.py`.\n",
                 "| mode | transformers tok/s | delib tok/s | speed-up |", "|---|---|---|---|"]
        for mode, (hf, dl, _) in results.items():
            lines.append(f"| {mode} | {hf:.1f} | {dl:.1f} | {dl / hf:.2f}x |")
        with open(a.append, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
