#!/usr/bin/env python3
# label: slow
# The HTTP backend against the test server running a real (tiny, random) transformers Qwen3
# with the real Qwen3 tokenizer on CPU: samples are reproducible through the per-sample seed.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import SPEC, SHARED, Server, Suite, check, read_jsonl, run, tmpdir, write_jsonl  # noqa: E402

D = tmpdir("http-model-")


def prompts(n):
    cats = ["illicit", "self-harm", "harassment", "medical"]
    return [{"id": f"m{i:03d}", "prompt": f"question {i}", "category": cats[i % 4]} for i in range(n)]


def gen(server, inp, out, *extra):
    return run("cot-gen", "--spec", SPEC, "--backend", "openai", "--base-url", server.url,
               "--model", "tiny", inp, "-o", out, *extra, check=0)


def test_real_transformers_model_reproducible():
    tok = os.path.join(SHARED, "data", "tokenizers", "qwen3")
    check(os.path.isfile(os.path.join(tok, "tokenizer.json.zst")), f"missing shared test data {tok} (set DELIB_SHARED)")
    inp = os.path.join(D, "model.jsonl")
    write_jsonl(inp, prompts(2))
    with Server("--mode", "model", "--tokenizer", tok) as s:
        a = os.path.join(D, "model-a.jsonl")
        b = os.path.join(D, "model-b.jsonl")
        extra = ["--samples", "2", "--max-tokens", "8"]
        t0 = time.time()
        gen(s, inp, a, *extra, "--concurrency", "4")
        gen(s, inp, b, *extra, "--concurrency", "1")
        print(f"  two runs against the model: {time.time() - t0:.1f}s")
        log = s.log()
    ra, rb = read_jsonl(a), read_jsonl(b)
    check(len(ra) == 4 and ra == rb, "a server that honours seeds must reproduce the samples")
    texts = {e["content"] for e in log}
    for r in ra:
        check(r["answer"] in {t.strip() for t in texts} or not r["format_ok"], r)
        check(r["format_ok"] is False or r["reasoning"], r)
    seeds = [e["request"]["seed"] for e in log]
    check(len(set(seeds)) == 4, f"each sample needs its own seed: {seeds}")


if __name__ == "__main__":
    s = Suite()
    s.run(test_real_transformers_model_reproducible)
    s.finish()
