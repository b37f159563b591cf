"""CPU decoding throughput: delib's engine (tools/gen-check) vs transformers' generate.

Same random model (written with save_pretrained), same prompts, batch size, prompt and
generation lengths, same thread count, in the same run. The two engines alternate for
--rounds rounds (which one goes first alternates too), and every round's figures are kept:
the result is the median and the spread (min-max) over rounds, never the best round.
Greedy (do_sample=False) and sampled (temperature 1, top-p 0.9) decoding.
tokens/s = generated tokens / wall seconds of the generate call (model loading excluded).
Speed-up = delib tok/s / transformers tok/s (> 1: delib is faster).

Shapes:
  llama-20m   random Llama, 20.3M parameters (V 32000, C 256, 4 layers): the engine's own
              overheads dominate; this is where per-step costs show.
  qwen3-0.6b  random Qwen3 of Qwen3-0.6B's shape (V 151936, C 1024, 28 layers, 16 heads / 8 kv,
              head_dim 128, tied embeddings), saved as sharded safetensors: a step reads the
              whole ~2.4 GB (f32) / ~1.2 GB (bf16) of weights, so both engines are bound by
              memory bandwidth and the same matrix kernels.

  python tests/bench/generate_bench.py --bin build/bin [--shape qwen3-0.6b --dtype bf16 --batch 4]
        [--rounds 3] [--append tests/bench/RESULTS.md]
  python tests/bench/generate_bench.py --bin build/bin --prefill [--append ...]
        prefill of 8 requests of 512 tokens: 8 distinct prompts (the reference) vs 4 samples
        each of 2 prompts (what `cot-gen --samples 4` asks; keys/values copied from a live row)
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time

import torch
import transformers

SHAPES = {
    "llama-20m": lambda: transformers.LlamaConfig(
        vocab_size=32000, hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=2048,
        tie_word_embeddings=False),
    "qwen3-0.6b": lambda: transformers.Qwen3Config(
        vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
        rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True),
}
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def spread(xs, fmt="{:.2f}"):
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"


def make_model(shape, dtype, work):
    torch.manual_seed(0)
    cfg = SHAPES[shape]()
    model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=DTYPES[dtype]).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    mdir = os.path.join(work, f"{shape}-{dtype}")
    # Sharded like a real checkpoint (model-0000k-of-0000n.safetensors + index) above 20M params.
    model.save_pretrained(mdir, safe_serialization=True, max_shard_size="500MB")
    return model, mdir, cfg


def write_prompts(path, prompts):
    with open(path, "w") as f:
        for i, p in enumerate(prompts):
            f.write(json.dumps({"id": f"p{i}", "prompt_ids": p}) + "\n")


def gen_check(a, mdir, inp, flags, work, dtype, new_tokens, batch):
    stats = os.path.join(work, "stats.json")
    cmd = [os.path.join(a.bin, "gen-check"), "--model", mdir, "--dtype", dtype, "--batch-size", str(batch),
           "--max-tokens", str(new_tokens), "--threads", str(a.threads), "--plain", "-q",
           "--stats", stats, "-o", os.devnull, inp] + flags
    subprocess.run(cmd, check=True)
    return json.load(open(stats))


def decode(a):
    work = tempfile.mkdtemp(prefix="gen-bench-")
    model, mdir, cfg = make_model(a.shape, a.dtype, work)
    nparams = sum(p.numel() for p in model.parameters())
    shards = sorted(f for f in os.listdir(mdir) if f.endswith(".safetensors"))
    gen = torch.Generator().manual_seed(1)
    prompts = torch.randint(1, cfg.vocab_size, (a.requests, a.prompt_len), generator=gen)
    inp = os.path.join(work, "prompts.jsonl")
    write_prompts(inp, [p.tolist() for p in prompts])

    modes = {"greedy": dict(do_sample=False), "sample": dict(do_sample=True, temperature=1.0, top_p=0.9, top_k=0)}
    flags = {"greedy": ["--temperature", "0"], "sample": ["--temperature", "1", "--top-p", "0.9"]}

    def hf_run(mode):
        t0 = time.perf_counter()
        n = 0
        with torch.inference_mode():
            for s in range(0, a.requests, a.batch):
                x = prompts[s:s + a.batch]
                o = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=a.new_tokens,
                                   min_new_tokens=a.new_tokens, **modes[mode])
                n += (o.shape[1] - x.shape[1]) * x.shape[0]
        return n / (time.perf_counter() - t0)

    def dl_run(mode):
        st = gen_check(a, mdir, inp, flags[mode], work, a.dtype, a.new_tokens, a.batch)
        assert st["generated_tokens"] == a.requests * a.new_tokens, st
        return st["generated_tokens_per_second"]

    # One untimed warm-up of each (first-touch of the weights, allocator, thread pools).
    hf_run("greedy")
    dl_run("greedy")
    results = {}
    for mode in modes:
        hf, dl = [], []
        for r in range(a.rounds):
            order = [("hf", hf_run), ("dl", dl_run)] if r % 2 == 0 else [("dl", dl_run), ("hf", hf_run)]
            for who, fn in order:
                (hf if who == "hf" else dl).append(fn(mode))
        ratios = [d / h for d, h in zip(dl, hf)]
        results[mode] = (hf, dl, ratios)
        print(f"{mode}: transformers {spread(hf, '{:.1f}')} tok/s, delib {spread(dl, '{:.1f}')} tok/s, "
              f"speed-up {spread(ratios)}x over {a.rounds} alternating rounds (load {load()})", flush=True)

    if a.append:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        lines = [f"\n## generate: CPU decoding, {a.shape} {a.dtype}, batch {a.batch}, delib vs transformers ({now})\n",
                 f"Machine: {cpu_name()}, {os.cpu_count()} cores, load average {a.load_before} before / {load()} after, "
                 f"{a.threads} threads, torch {torch.__version__}, transformers {transformers.__version__}, "
                 f"Python {platform.python_version()}.",
                 f"Model: random {a.shape} ({nparams / 1e6:.1f}M parameters, V {cfg.vocab_size}, {a.dtype}, "
                 f"{len(shards)} safetensors shard(s)). Workload: {a.requests} prompts x {a.prompt_len} tokens, "
                 f"{a.new_tokens} new tokens each, batch {a.batch}; {a.rounds} rounds alternating the two engines "
                 f"(after one warm-up each); median (min-max) over rounds. Command: "
                 f"`python tests/bench/generate_bench.py --shape {a.shape} --dtype {a.dtype} --batch {a.batch} "
                 f"--requests {a.requests} --rounds {a.rounds}`.\n",
                 "| mode | transformers tok/s | delib tok/s | speed-up (delib / transformers) |", "|---|---|---|---|"]
        for mode, (hf, dl, ratios) in results.items():
            lines.append(f"| {mode} | {spread(hf, '{:.1f}')} | {spread(dl, '{:.1f}')} | {spread(ratios)}x |")
        with open(a.append, "a") as f:
            f.write("\n".join(lines) + "\n")


def prefill(a):
    """8 requests of 512 prompt tokens, 16 greedy new tokens: 8 distinct prompts vs 2 x 4 samples."""
    work = tempfile.mkdtemp(prefix="prefill-bench-")
    _, mdir, cfg = make_model(a.shape, a.dtype, work)
    gen = torch.Generator().manual_seed(2)
    distinct = torch.randint(1, cfg.vocab_size, (8, 512), generator=gen).tolist()
    shared = [distinct[0]] * 4 + [distinct[1]] * 4
    p_distinct = os.path.join(work, "distinct.jsonl")
    p_shared = os.path.join(work, "shared.jsonl")
    write_prompts(p_distinct, distinct)
    write_prompts(p_shared, shared)
    runs = {"distinct": [], "shared": []}
    gen_check(a, mdir, p_distinct, ["--temperature", "0"], work, a.dtype, 16, 8)  # warm-up
    for r in range(a.rounds):
        for name in (["distinct", "shared"] if r % 2 == 0 else ["shared", "distinct"]):
            runs[name].append(gen_check(a, mdir, p_distinct if name == "distinct" else p_shared,
                                        ["--temperature", "0"], work, a.dtype, 16, 8))
    pre = {k: [s["prefill_seconds"] for s in v] for k, v in runs.items()}
    ratios = [d / s for d, s in zip(pre["distinct"], pre["shared"])]
    copied = runs["shared"][0]["shared_prompt_tokens"]
    print(f"prefill: distinct {spread(pre['distinct'], '{:.3f}')} s, 2x4 samples {spread(pre['shared'], '{:.3f}')} s "
          f"({copied} of 4096 prompt tokens copied), speed-up {spread(ratios)}x (load {load()})")
    if a.append:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        lines = [f"\n## generate: prefill shared by the samples of one prompt, {a.shape} {a.dtype} ({now})\n",
                 f"Machine: {cpu_name()}, {os.cpu_count()} cores, load average {a.load_before} before / {load()} after, "
                 f"{a.threads} threads. gen-check, batch 8, 16 greedy new tokens; 8 requests of 512 prompt tokens, "
                 f"either 8 distinct prompts (the reference: every prompt prefilled) or 4 samples each of 2 prompts; "
                 f"{a.rounds} alternating rounds, median (min-max). Command: "
                 f"`python tests/bench/generate_bench.py --prefill --shape {a.shape} --rounds {a.rounds}`.\n",
                 "| requests | prefill seconds | prompt tokens copied | wall seconds |", "|---|---|---|---|",
                 f"| 8 distinct prompts | {spread(pre['distinct'], '{:.3f}')} | 0 of 4096 | "
                 f"{spread([s['wall_seconds'] for s in runs['distinct']], '{:.3f}')} |",
                 f"| 2 prompts x 4 samples | {spread(pre['shared'], '{:.3f}')} | {copied} of 4096 | "
                 f"{spread([s['wall_seconds'] for s in runs['shared']], '{:.3f}')} |",
                 f"\nSpeed-up of prefill (distinct / shared): {spread(ratios)}x."]
        with open(a.append, "a") as f:
            f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("DELIB_BIN", "build/bin"))
    ap.add_argument("--shape", choices=sorted(SHAPES), default="llama-20m")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--requests", type=int, default=8, help="prompts (> batch exercises continuous batching)")
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefill", action="store_true", help="measure prefill sharing instead of decoding")
    ap.add_argument("--append", default="", help="append a results section to this markdown file")
    a = ap.parse_args()
    a.load_before = load()
    torch.set_num_threads(a.threads)
    (prefill if a.prefill else decode)(a)


if __name__ == "__main__":
    main()
