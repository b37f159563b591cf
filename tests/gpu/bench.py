"""GPU benchmarks for tests/gpu/run.sh: SFT throughput + MFU (sft-train) and decoding tokens/s
(gen-check against transformers generate), on one randomly initialised Qwen3 model.

Model: Qwen3 architecture, ~0.5B parameters (hidden 1024, 24 layers, 16 heads / 8 kv, head_dim
64, MLP 3072, vocabulary 151936, tied embeddings), random init, saved in bf16 safetensors; the
tokenizer is the tiny byte-level BPE of tests/cli/sft-train/make_tiny_model.py (its ids are a
subset of the model's vocabulary; throughput does not depend on which ids are used).

MFU = 6 * N * tokens_per_s / peak, N = all parameters (embedding/lm_head included: the lm_head
matmul is 2 V C flops per token forward), peak = 989e12 dense bf16 flop/s (H100 SXM; H200 the
same). Attention's O(T^2) flops are NOT counted (conservative: at T = 2048 they add ~12%).

  python3 tests/gpu/bench.py --bin build/bin --out DIR [--dry-run]
--dry-run: the same steps on CPU with a tiny model (checks the plumbing without a GPU).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
PEAK = 989e12


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def make_model(work, dry):
    mdir = os.path.join(work, "model")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "cli", "sft-train", "make_tiny_model.py"), mdir, "0"],
                   check=True, capture_output=True)
    for f in os.listdir(mdir):  # keep the tokenizer files, replace the model
        if f.endswith(".safetensors") or f in ("config.json", "generation_config.json"):
            os.remove(os.path.join(mdir, f))
    if dry:
        cfg = transformers.Qwen3Config(vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                       num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                       max_position_embeddings=4096, tie_word_embeddings=True)
    else:
        cfg = transformers.Qwen3Config(vocab_size=151936, hidden_size=1024, intermediate_size=3072,
                                       num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=8,
                                       head_dim=64, max_position_embeddings=4096, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = transformers.Qwen3ForCausalLM(cfg).to(torch.bfloat16)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    model.save_pretrained(mdir, safe_serialization=True)
    n = sum(p.numel() for p in model.parameters())
    return mdir, model, n


def sft(a, work, mdir, nparams, dev):
    # Records long enough to fill 2048-token rows when packed; ~500 tokens each.
    words = ["policy", "allows", "general", "information", "request", "reasoning", "answer", "safe", "the",
             "user", "asks", "about", "chemistry", "summary", "article", "Paris", "France", "spec"]
    rng = torch.Generator().manual_seed(1)
    data = os.path.join(work, "sft.jsonl")
    seq = 128 if a.dry_run else 2048
    with open(data, "w") as f:
        for i in range(a.sft_records):
            idx = torch.randint(0, len(words), (seq // 5,), generator=rng).tolist()
            text = " ".join(words[j] for j in idx)
            f.write(json.dumps({"text": text[: len(text) // 3], "target": text[len(text) // 3:]}) + "\n")
    metrics = os.path.join(work, "sft-metrics.jsonl")
    cmd = [os.path.join(a.bin, "sft-train"), "--model", mdir, "--device", dev, "--max-length", str(seq),
           "--batch-size", str(a.sft_batch), "--max-steps", str(a.sft_steps), "--lr", "1e-5",
           # one steady step profiled (the median over the others is unaffected): where the time goes
           "--profile", os.path.join(a.out, "sft-profile.json"), "--profile-steps", f"{min(5, a.sft_steps)}:{min(5, a.sft_steps)}",
           "-o", metrics, data]
    log("+", " ".join(cmd))
    t0 = time.time()
    subprocess.run(cmd, check=True)
    rows = [json.loads(l) for l in open(metrics) if l.strip()]
    steady = rows[2:] if len(rows) > 3 else rows
    tps = statistics.median(r["tokens_per_s"] for r in steady)
    mem = max(r.get("memory_mb", 0) for r in rows)
    return {"seq": seq, "batch": a.sft_batch, "steps": len(rows), "tokens_per_s": tps,
            "mfu": 6 * nparams * tps / PEAK, "memory_mb": mem, "wall_s": time.time() - t0, "cmd": " ".join(cmd[1:])}


def ref_sft(a, model, dev):
    """The same-run reference for the SFT row: transformers forward + backward + torch AdamW on
    the same model, f32 master weights under bf16 autocast (sft-train's default on CUDA), same
    batch and length, rows of random ids with no packing (HF then takes SDPA's flash kernel with
    is_causal and no mask: its fastest path, an optimistic reference for packed rows)."""
    import copy
    m = copy.deepcopy(model).float().to(dev).train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-5)
    seq = 128 if a.dry_run else 2048
    g = torch.Generator().manual_seed(3)
    times = []
    if dev.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for _ in range(a.sft_steps):
        x = torch.randint(1, m.config.vocab_size, (a.sft_batch, seq), generator=g).to(dev)
        t0 = time.perf_counter()
        with torch.autocast(device_type="cuda" if dev.startswith("cuda") else "cpu", dtype=torch.bfloat16,
                            enabled=dev.startswith("cuda")):
            loss = m(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if dev.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    steady = times[2:] if len(times) > 3 else times
    tps = a.sft_batch * seq / statistics.median(steady)
    mem = torch.cuda.max_memory_allocated() / 2**20 if dev.startswith("cuda") else 0
    del m, opt
    if dev.startswith("cuda"):
        torch.cuda.empty_cache()
    return {"tokens_per_s": tps, "memory_mb": mem}


def gpu_apps():
    """The compute processes on the GPU other than this one (nvidia-smi), or None without it. The
    first H200 run timed both decoders 3x slower in its first half than in its second
    (transformers greedy 82 ms/step, sampling 28): a leftover process (e.g. a hung NCCL rank of
    an earlier step spinning on the device) would do that, so the bench records them."""
    try:
        r = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [l.strip() for l in r.stdout.splitlines() if l.strip() and not l.strip().startswith(f"{os.getpid()},")]


def gen(a, work, mdir, model, dev):
    dtype = torch.float32 if a.dry_run else torch.bfloat16
    model = model.to(dev).to(dtype).eval()
    g = torch.Generator().manual_seed(2)
    vocab = model.config.vocab_size
    prompts = torch.randint(1, vocab, (a.gen_batch, a.prompt_len), generator=g)
    inp = os.path.join(work, "prompts.jsonl")
    with open(inp, "w") as f:
        for i in range(a.gen_batch):
            f.write(json.dumps({"id": f"p{i}", "prompt_ids": prompts[i].tolist()}) + "\n")
    out = {"_gpu_apps": gpu_apps()}
    modes = {"greedy": (dict(do_sample=False), ["--temperature", "0"]),
             "sample": (dict(do_sample=True, temperature=1.0, top_p=0.9, top_k=0), ["--temperature", "1", "--top-p", "0.9"])}
    for mode, (hf_kw, flags) in modes.items():
        x = prompts.to(dev)
        with torch.inference_mode():  # warm-up (CUDA context, kernels), then timed
            model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=4, min_new_tokens=4, **hf_kw)
            if dev.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            o = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=a.new_tokens,
                               min_new_tokens=a.new_tokens, **hf_kw)
            if dev.startswith("cuda"):
                torch.cuda.synchronize()
            hf = (o.shape[1] - x.shape[1]) * x.shape[0] / (time.perf_counter() - t0)
        stats = os.path.join(work, f"gen-{mode}.json")
        cmd = [os.path.join(a.bin, "gen-check"), "--model", mdir, "--device", dev,
               "--dtype", "f32" if a.dry_run else "bf16", "--batch-size", str(a.gen_batch),
               "--max-tokens", str(a.new_tokens), "--plain", "--stats", stats, "-o", os.devnull, inp] + flags
        log("+", " ".join(cmd))
        subprocess.run(cmd, check=True)
        st = json.load(open(stats))
        out[mode] = {"hf": hf, "delib": st["generated_tokens_per_second"], "stats": st, "cmd": " ".join(cmd[1:])}
        # Where a decode step's time goes: the same run, shorter, with --stats-sync (the device
        # synchronised at the end of each phase, so each phase's time holds its device work;
        # the timed run above has no such syncs), and for sampling a PyTorch-profiler trace of
        # three steady steps (--profile, its own run so the trace's overhead stays out of the
        # phase times).
        # These extra runs are bounded and may fail without losing the numbers above.
        base = cmd[:cmd.index("--max-tokens")]
        n_sync = min(a.new_tokens, 64)
        sync_stats = os.path.join(work, f"gen-{mode}-sync.json")
        if extra_run(base + ["--max-tokens", str(n_sync), "--plain", "--stats", sync_stats, "--stats-sync", "-o", os.devnull,
                             inp] + flags, out[mode], "sync_error", 45):
            out[mode]["sync_stats"] = json.load(open(sync_stats))
        if mode == "sample":
            n_tr = min(a.new_tokens, 16)
            p0 = max(1, n_tr - 6)
            trace = os.path.join(a.out, "gen-profile.json")
            extra_run(base + ["--max-tokens", str(n_tr), "--plain", "--profile", trace, "--profile-steps", f"{p0}:{p0 + 2}",
                              "-o", os.devnull, inp] + flags, out[mode], "profile_error", 45)
            out[mode]["profile_steps"] = f"{p0}..{p0 + 2}"
        # The same timed run with each decode step replayed from a CUDA graph (experimental).
        graph_stats = os.path.join(work, f"gen-{mode}-graphs.json")
        if extra_run(base + ["--max-tokens", str(a.new_tokens), "--plain", "--stats", graph_stats, "--cuda-graphs",
                             "-o", os.devnull, inp] + flags, out[mode], "graphs_error", 60):
            out[mode]["graphs"] = json.load(open(graph_stats))
    model.to("cpu")
    return out


def extra_run(cmd, rec, key, timeout):
    """Runs a diagnostic gen-check command; on failure or timeout records why under rec[key] and
    returns False (the bench goes on)."""
    log("+", " ".join(cmd))
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        rec[key] = f"timed out after {timeout} s"
        return False
    sys.stderr.write(r.stderr)
    if r.returncode != 0:
        rec[key] = f"exit {r.returncode}: " + " / ".join(r.stderr.strip().splitlines()[-3:])
        return False
    return True


def step_rows(gen_res):
    """Markdown rows: per decode step, the timed run's wall time and host syncs, and the
    --stats-sync run's phases (forward, sample, host bookkeeping), in ms per step."""
    L = ["| mode | decode ms/step (timed run) | host syncs/step | prefill s | forward ms/step | sample ms/step "
         "| host ms/step | forward+sample+host (synced run) |", "|---|---|---|---|---|---|---|---|"]
    for m, g in gen_res.items():
        st, ss = g["stats"], g.get("sync_stats")
        steps = max(1, st["decode_steps"])
        row = (f"| {m} | {1e3 * (st['wall_seconds'] - st['prefill_seconds']) / steps:.2f} | "
               f"{st['syncs_per_decode_step']:.2f} | {st['prefill_seconds']:.2f} |")
        if ss:
            n = max(1, ss["decode_steps"])
            ph = [1e3 * ss[k] / n for k in ("step_forward_seconds", "step_sample_seconds", "step_host_seconds")]
            row += f" {ph[0]:.2f} | {ph[1]:.2f} | {ph[2]:.3f} | {sum(ph):.2f} ({ss['decode_steps']} steps) |"
        else:
            row += f" - | - | - | {g.get('sync_error', '-')} |"
        L.append(row)
    return L


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--only", default="sft,gen")
    a = ap.parse_args()
    dev = "cpu" if a.dry_run else "cuda"
    a.sft_batch, a.sft_steps, a.sft_records = (2, 3, 16) if a.dry_run else (8, 12, 600)
    a.gen_batch, a.prompt_len, a.new_tokens = (4, 16, 8) if a.dry_run else (64, 128, 256)
    work = tempfile.mkdtemp(prefix="gpu-bench-")
    os.makedirs(a.out, exist_ok=True)
    mdir, model, n = make_model(work, a.dry_run)
    res = {"params": n, "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu (dry run)",
           "torch": torch.__version__, "transformers": transformers.__version__}
    if "sft" in a.only:
        try:
            res["sft"] = sft(a, work, mdir, n, dev)
        except Exception as e:  # keep going: the other numbers are still worth having
            res["sft_error"] = repr(e)
        try:
            res["sft_ref"] = ref_sft(a, model, dev)
        except Exception as e:
            res["sft_error"] = res.get("sft_error", "") + f" reference: {e!r}"
    if "gen" in a.only:
        try:
            res["gen"] = gen(a, work, mdir, model, dev)
        except Exception as e:
            res["gen_error"] = repr(e)
    os.makedirs(a.out, exist_ok=True)
    json.dump(res, open(os.path.join(a.out, "bench.json"), "w"), indent=1)
    L = [f"Model: random Qwen3, {n / 1e6:.0f}M parameters (tied embeddings, V {model.config.vocab_size}, "
         f"C {model.config.hidden_size}, {model.config.num_hidden_layers} layers), device {res['device']}, "
         f"torch {res['torch']}, transformers {res['transformers']}.", ""]
    if "sft" in res:
        s = res["sft"]
        L += ["SFT (sft-train, bf16 autocast, packed rows): MFU = 6 * N * tokens/s / 989e12 "
              "(N all parameters, attention T^2 flops not counted).", "",
              "| what | seq | batch | steps | tokens/s (median after 2 warm-up) | MFU | peak memory MB |", "|---|---|---|---|---|---|---|",
              f"| delib sft-train, packed rows | {s['seq']} | {s['batch']} | {s['steps']} | {s['tokens_per_s']:.0f} | {100 * s['mfu']:.1f}% (target >= 45%) | {s['memory_mb']:.0f} |"]
        if "sft_ref" in res:
            r = res["sft_ref"]
            L += [f"| transformers + torch AdamW, same run, unpacked rows (flash, no mask) | {s['seq']} | {s['batch']} | {s['steps']} | "
                  f"{r['tokens_per_s']:.0f} | {100 * 6 * n * r['tokens_per_s'] / PEAK:.1f}% | {r['memory_mb']:.0f} |",
                  "", f"delib / transformers tokens/s: {s['tokens_per_s'] / r['tokens_per_s']:.2f}x"]
        L += ["", f"Command: `sft-train {s['cmd']}`", ""]
        top = os.path.join(a.out, "sft-profile.json.top.txt")
        if os.path.exists(top):
            L += [f"Profile of step {min(5, a.sft_steps)} (`--profile`; largest entries):", "", "```", open(top).read().rstrip(), "```", ""]
    if "sft_error" in res:
        L += [f"SFT: FAILED: {res['sft_error']}", ""]
    if "gen" in res:
        L += [f"Decoding, batch {a.gen_batch}, prompt {a.prompt_len}, {a.new_tokens} new tokens, bf16, same model and batch:", "",
              "| mode | transformers generate tok/s | delib gen-check tok/s | speed-up (target >= 10x) |", "|---|---|---|---|"]
        apps = res["gen"].pop("_gpu_apps", None)
        for m, g in res["gen"].items():
            L.append(f"| {m} | {g['hf']:.0f} | {g['delib']:.0f} | {g['delib'] / g['hf']:.2f}x |")
        L += ["", "The same with `gen-check --cuda-graphs` (experimental: each decode step that samples on the device "
              "replays one captured CUDA graph):", "",
              "| mode | delib gen-check --cuda-graphs tok/s | speed-up vs transformers | steps from a graph |", "|---|---|---|---|"]
        for m, g in res["gen"].items():
            if "graphs" in g:
                gr = g["graphs"]
                L.append(f"| {m} | {gr['generated_tokens_per_second']:.0f} | {gr['generated_tokens_per_second'] / g['hf']:.2f}x | "
                         f"{gr.get('graph_steps', 0)} of {gr['decode_steps']} |")
            else:
                L.append(f"| {m} | FAILED: {g.get('graphs_error', '?')} | - | - |")
        L += ["", "Other processes on the GPU when decoding started (nvidia-smi): " +
              ("not available" if apps is None else "; ".join(apps) if apps else "none")]
        L += ["", "Where a delib decode step's time goes (gen-check --stats; phases from a run with --stats-sync, "
              "which synchronises the device after each phase: forward = inputs up + model + LM head, "
              "sample = choosing the tokens until they are on the host, host = bookkeeping):", ""]
        L += step_rows(res["gen"])
        top = os.path.join(a.out, "gen-profile.json.top.txt")
        if "profile_error" in res["gen"].get("sample", {}):
            L += ["", f"gen-check --profile: FAILED: {res['gen']['sample']['profile_error']}"]
        if os.path.exists(top):
            steps = res["gen"].get("sample", {}).get("profile_steps", "")
            L += ["", f"Profile of sampling decode steps {steps} (gen-check `--profile`; largest entries):", "", "```",
                  open(top).read().rstrip(), "```"]
        L.append("")
    if "gen_error" in res:
        L += [f"Generation: FAILED: {res['gen_error']}", ""]
    with open(os.path.join(a.out, "bench.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L))
    return 0 if "sft_error" not in res and "gen_error" not in res else 1


if __name__ == "__main__":
    sys.exit(main())
