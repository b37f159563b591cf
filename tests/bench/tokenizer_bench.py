#!/usr/bin/env python3
# Tokenizer throughput: delib (tests/bench/tokenizer_bench.cpp) against HF `tokenizers` on the
# same documents and tokenizer.json, in the same run: single-thread and all-thread encode MB/s.
#
#   $DELIB_PYTHON tests/bench/tokenizer_bench.py [--build build] [--mb 4] [--rounds 3] [--append]
#
# The documents (~--mb MB) mix English prose (shared docs and the benchmark
# prompt CSVs), C++ source of this repository, and the multilingual/emoji/whitespace corpus of
# tests/reference/test_tokenizer.py, cut into 1-8 KB documents; the pool repeats to reach the
# size (both libraries keep a per-word cache, so this is a warm-cache measurement for both).
# Special-token text is plain text in both (delib's default; HF encode_special_tokens=True).
# --append adds a section to tests/bench/RESULTS.md with the machine and date.
import argparse
import datetime
import glob
import importlib.util
import json
import os
import platform
import random
import subprocess
import sys
import statistics
import time

from tokenizers import Tokenizer

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("DELIB_SHARED", os.path.join(os.path.dirname(SRC), "shared"))


def documents(mb):
    rng = random.Random(7)
    pool = []
    for p in sorted(glob.glob(os.path.join(SHARED, "docs", "*.md")) + glob.glob(os.path.join(SHARED, "data", "bench", "*", "*.csv"))):
        pool.append(open(p, encoding="utf-8", errors="replace").read())
    for p in sorted(glob.glob(os.path.join(SRC, "lib", "src", "*", "*.cpp")))[:40]:
        pool.append(open(p, encoding="utf-8", errors="replace").read())
    spec = importlib.util.spec_from_file_location("tref", os.path.join(SRC, "tests", "reference", "test_tokenizer.py"))
    tref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tref)
    pool.append("\n".join(tref.corpus()))
    docs = []
    for text in pool:
        i = 0
        while i < len(text):
            n = rng.randint(1000, 8000)
            docs.append(text[i:i + n])
            i += n
    out, size = [], 0
    while size < mb * 1e6:
        d = docs[len(out) % len(docs)]
        out.append(d)
        size += len(d.encode("utf-8"))
    return [d for d in out if d]


def hf_bench(tok, docs, repeat):
    tok.encode_special_tokens = True
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    best_st = best_mt = 1e30
    tokens = 0
    for _ in range(repeat):
        t = time.perf_counter()
        tokens = sum(len(tok.encode(d, add_special_tokens=False).ids) for d in docs)
        best_st = min(best_st, time.perf_counter() - t)
    for _ in range(repeat):
        t = time.perf_counter()
        tok.encode_batch(docs, add_special_tokens=False)
        best_mt = min(best_mt, time.perf_counter() - t)
    return {"tokens": tokens, "st_mb_s": nbytes / 1e6 / best_st, "mt_mb_s": nbytes / 1e6 / best_mt}


def build_cpp(build):
    exe = os.path.join(build, "tokenizer_bench")
    src = os.path.join(SRC, "tests", "bench", "tokenizer_bench.cpp")
    lib = os.path.join(build, "lib", "libdelib_core.a")
    if not os.path.exists(exe) or os.path.getmtime(exe) < max(os.path.getmtime(src), os.path.getmtime(lib)):
        cmd = ["c++", "-O2", "-std=c++20", "-I", os.path.join(SRC, "lib", "include"), src, lib, "-o", exe,
               "-lpcre2-8", "-lutf8proc", "-lzstd", "-lxxhash", "-lsimdjson", "-lfmt", "-lcurl", "-lpthread"]
        subprocess.run(cmd, check=True)
    return exe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--mb", type=float, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--append", action="store_true")
    args = ap.parse_args()
    exe = build_cpp(args.build)
    docs = documents(args.mb)
    path = os.path.join(args.build, "tokenizer_bench_docs.bin")
    with open(path, "wb") as f:
        for d in docs:
            b = d.encode("utf-8")
            f.write(str(len(b)).encode() + b"\n" + b)
    rows = []
    med = lambda xs: statistics.median(xs)
    sp = lambda xs, f="{:.1f}": f"{f.format(med(xs))} ({f.format(min(xs))}-{f.format(max(xs))})"
    load_before = " ".join(open("/proc/loadavg").read().split()[:3])
    for name in ["qwen3", "llama3_1", "gptoss"]:
        d = os.path.join(SHARED, "data", "tokenizers", name)
        js = subprocess.run(["zstd", "-dc", os.path.join(d, "tokenizer.json.zst")], check=True,
                            capture_output=True).stdout.decode("utf-8")
        hf_tok = Tokenizer.from_str(js)
        # Rounds alternate which library goes first; each round is one warm-up pass plus one timed
        # pass per mode for each library (--repeat 2), and every round is kept.
        hfs, dls = [], []
        for r in range(args.rounds):
            def run_hf():
                hfs.append(hf_bench(hf_tok, docs, 2))

            def run_dl():
                out = subprocess.run([exe, d, path, "2"], check=True, capture_output=True, text=True).stdout
                dls.append(json.loads(out))
            for fn in ([run_hf, run_dl] if r % 2 == 0 else [run_dl, run_hf]):
                fn()
        same = "yes" if dls[0]["tokens"] == hfs[0]["tokens"] else f"NO ({dls[0]['tokens']} vs {hfs[0]['tokens']})"
        rows.append((name, dls, hfs, same))
        print(name, "delib", [round(x["st_mb_s"], 2) for x in dls], "HF", [round(x["st_mb_s"], 2) for x in hfs], flush=True)
    load_after = " ".join(open("/proc/loadavg").read().split()[:3])
    nbytes = dls[0]["bytes"]
    th = dls[0]["threads"]
    lines = [f"| tokenizer | delib 1 thread MB/s | HF 1 thread MB/s | speed-up | delib {th} threads MB/s | HF {th} threads MB/s | speed-up | same token count |",
             "|---|---|---|---|---|---|---|---|"]
    for name, dls_, hfs_, same in rows:
        st = [dl["st_mb_s"] / hf["st_mb_s"] for dl, hf in zip(dls_, hfs_)]
        mt = [dl["mt_mb_s"] / hf["mt_mb_s"] for dl, hf in zip(dls_, hfs_)]
        lines.append(f"| {name} | {sp([x['st_mb_s'] for x in dls_])} | {sp([x['st_mb_s'] for x in hfs_])} | {sp(st, '{:.2f}')}x | "
                     f"{sp([x['mt_mb_s'] for x in dls_])} | {sp([x['mt_mb_s'] for x in hfs_])} | {sp(mt, '{:.2f}')}x | {same} |")
    import tokenizers
    head = (f"{len(docs)} documents, {nbytes / 1e6:.1f} MB of mixed text (prose, C++, multilingual/emoji corpus); "
            f"{args.rounds} rounds alternating the two libraries, median (min-max) over rounds; load average "
            f"{load_before} before / {load_after} after; tokenizers {tokenizers.__version__}; delib load time "
            + ", ".join(f"{n} {med([x['load_s'] for x in d]):.2f} s" for n, d, _, _ in rows) + ".")
    table = "\n".join(lines)
    print(head)
    print(table)
    if args.append:
        cpu = platform.processor() or ""
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        section = (f"\n## tokenizer: encode throughput vs HF tokenizers ({date})\n\n"
                   f"Machine: {cpu}, {os.cpu_count()} cores. "
                   f"`tests/bench/tokenizer_bench.py --mb {args.mb:g} --rounds {args.rounds}`.\n{head}\n\n{table}\n")
        with open(os.path.join(SRC, "tests", "bench", "RESULTS.md"), "a") as f:
            f.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
