#!/usr/bin/env python3
# label: slow
# cot-gen and cot-judge with the local engine (--backend local) on a tiny random Qwen3 saved
# by transformers with the real Qwen3 tokenizer: kill -9 + --resume gives the same bytes as an
# uninterrupted run, and a judge whose output never parses records judge.error, never a score.
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import SHARED, SPEC, Suite, check, read_jsonl, run, tmpdir, tool, write_jsonl  # noqa: E402

D = tmpdir("cotlocal-")
CATS = ["illicit", "self-harm", "harassment", "medical"]


def tiny_model():
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM
    out = os.path.join(D, "tiny-qwen3")
    if os.path.exists(os.path.join(out, "config.json")):
        return out
    os.makedirs(out, exist_ok=True)
    src = os.path.join(SHARED, "data", "tokenizers", "qwen3")
    subprocess.run(["zstd", "-q", "-f", "-d", os.path.join(src, "tokenizer.json.zst"), "-o",
                    os.path.join(out, "tokenizer.json")], check=True)
    with open(os.path.join(src, "tokenizer_config.json"), "rb") as f, \
            open(os.path.join(out, "tokenizer_config.json"), "wb") as g:
        g.write(f.read())
    tok = AutoTokenizer.from_pretrained(out)
    torch.manual_seed(0)
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                      max_position_embeddings=8192, tie_word_embeddings=True,
                      eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"))
    Qwen3ForCausalLM(cfg).save_pretrained(out, safe_serialization=True)
    return out


def prompts(n):
    return [{"id": f"l{i:03d}", "prompt": f"question {i}", "category": CATS[i % 4]} for i in range(n)]


def test_local_resume_byte_identical():
    model = tiny_model()
    inp = os.path.join(D, "in.jsonl")
    write_jsonl(inp, prompts(12))
    args = ["--spec", SPEC, "--backend", "local", "--model", model, "--samples", "2", "--max-tokens", "24",
            "--seed", "4", "--batch-size", "4"]
    full = os.path.join(D, "full.jsonl")
    run("cot-gen", *args, inp, "-o", full, check=0)
    got = read_jsonl(full)
    check([(r["id"], r["sample"]) for r in got] == [(f"l{i:03d}", s) for i in range(12) for s in range(2)])
    check(all(r["provenance"]["backend"].startswith("local") for r in got), got[0]["provenance"])
    part = os.path.join(D, "part.jsonl")
    proc = subprocess.Popen([tool("cot-gen"), *args, "--chunk", "4", inp, "-o", part],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if os.path.exists(part) and open(part, "rb").read().count(b"\n") >= 4:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n = open(part, "rb").read().count(b"\n")
    run("cot-gen", *args, "--chunk", "4", inp, "--resume", part, check=0)
    check(open(part, "rb").read() == open(full, "rb").read(),
          f"resume after kill -9 at {n} records differs from an uninterrupted run")
    # Batch size must not change the samples.
    other = os.path.join(D, "bs1.jsonl")
    run("cot-gen", *args[:-2], "--batch-size", "1", inp, "-o", other, check=0)
    check(open(other, "rb").read() == open(full, "rb").read(), "batch size changed the samples")


def test_local_judge_never_invents_a_score():
    model = tiny_model()
    recs = [{"id": "a", "prompt": "q", "category": "medical", "reasoning": "r", "answer": "x", "sample": 0}]
    inp = os.path.join(D, "judge-in.jsonl")
    write_jsonl(inp, recs)
    out = os.path.join(D, "judge-out.jsonl")
    # Its one record fails to parse: written with judge.error, counted, and a run that judged
    # nothing is not a success (exit 4; cot-judge --max-failures).
    p = run("cot-judge", "--spec", SPEC, "--backend", "local", "--model", model, "--max-tokens", "8",
            "--judge-retries", "1", inp, "-o", out, check=4)
    check("judge: 1 of 1 records failed (parse 1)" in p.stderr and "no record was judged" in p.stderr,
          p.stderr)
    j = read_jsonl(out)[0]["judge"]
    # A random model cannot write the verdict block with the nonce.
    check(j["score"] is None and "did not parse after 2 attempts" in j["error"], j)


if __name__ == "__main__":
    s = Suite()
    s.run(test_local_resume_byte_identical)
    s.run(test_local_judge_never_invents_a_score)
    s.finish()
