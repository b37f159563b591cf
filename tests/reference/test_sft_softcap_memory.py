"""sft-train on Gemma (final_logit_softcapping) keeps the chunked loss: no full-vocabulary logits.

Gemma 2/3's logits are cap * tanh(h W^T / cap). Before the cap was applied inside the chunked
loss kernel (lib/src/kernels/chunked_loss.cpp), sft-train computed the capped (N, V) logits at
once for Gemma and autograd kept several (N, V) tensors (the tanh output, the log-softmax) for
backward: 3-4 full logits tensors, gigabytes per sequence at Gemma's 256k vocabulary. Now the
loss holds one chunk of min(N, --loss-chunk) rows.

A tiny Gemma 2 (vocabulary 256000, hidden 64, 2 layers; the tokenizer of
tests/cli/sft-train/make_tiny_model.py, whose ids are the first 384 of the vocabulary) takes
one optimizer step on one sequence of N ~ --long target tokens and on one of ~30. The peak
resident memory of sft-train (ru_maxrss of the child) minus the short run's is what the long
sequence's loss costs; L = N x V x 4 bytes is one f32 logits tensor. With --loss-chunk c the
loss holds about 2 c/N L (the forward's chunk and logsumexp's temporary; the backward's chunk
and its 64-row block), so the check is extra < min(2, 3 c/N) L; the old code, which built the
capped logits whole, needed 3.4 L whatever the chunk. Default: N 256, c 64 (bound 0.75 L), two
sft-train runs. The figures of the report: `--long 512 --chunks 1024,128` (measured 1.43 L
and 0.05-0.11 L; the old binary 3.41 L), which also checks that the step-1 loss does not depend
on the chunk.
`--bin DIR` runs another build's sft-train (e.g. the old one), `--no-check` prints only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import torch
from transformers import AutoTokenizer, Gemma2Config, Gemma2ForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
from harness import Checks, tmpdir  # noqa: E402

VOCAB = 256000
check = Checks()


def make_model(model_dir):
    subprocess.run([sys.executable, os.path.join(HERE, "..", "cli", "sft-train", "make_tiny_model.py"),
                    model_dir, "1", "1024"], check=True, capture_output=True)
    tok = AutoTokenizer.from_pretrained(model_dir)
    for f in os.listdir(model_dir):  # the tokenizer stays, the Qwen3 weights go
        if f.endswith(".safetensors") or f in ("config.json", "model.safetensors.index.json"):
            os.remove(os.path.join(model_dir, f))
    cfg = Gemma2Config(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                       max_position_embeddings=1024, sliding_window=256, query_pre_attn_scalar=16,
                       attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                       pad_token_id=tok.pad_token_id, bos_token_id=None, eos_token_id=None)
    torch.manual_seed(0)
    Gemma2ForCausalLM(cfg).float().save_pretrained(model_dir)
    return tok


def record(tok, targets):
    """A record whose assistant turn is about `targets` tokens."""
    words = "the policy allows general information about chemistry but not synthesis routes ".split()
    answer, i = [], 0
    while len(tok(" ".join(answer), add_special_tokens=False)["input_ids"]) < targets - 8:
        answer.append(words[i % len(words)])
        i += 1
    return {"messages": [{"role": "user", "content": "Tell me about chemistry."}],
            "reasoning": "Fine.", "answer": " ".join(answer)}


def run(binary, model_dir, data, out_dir, chunk):
    """One sft-train step; returns (peak resident set of that process in bytes, step-1 loss)."""
    cmd = [os.path.join(binary, "sft-train"), "--model", model_dir, "--plain", "--padding", "--no-shuffle",
           "--batch-size", "1", "--max-steps", "1", "--lr", "1e-4", "--schedule", "constant",
           "--threads", "2", "--max-length", "1024", "--loss-chunk", str(chunk), "--out", out_dir, data]
    out_path, err_path = out_dir + ".stdout", out_dir + ".stderr"
    with open(os.devnull) as devnull, open(out_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen(cmd, stdin=devnull, stdout=out, stderr=err)
        # the child's own rusage (RUSAGE_CHILDREN would be the maximum over every child so far)
        _, status, ru = os.wait4(p.pid, 0)
    code = p.returncode = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"sft-train exited {code}: {open(err_path).read()[-2000:]}")
    metrics = json.loads(open(out_path).read().splitlines()[0])
    return ru.ru_maxrss * 1024, metrics["loss"]


def main(tmp):
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("DELIB_BIN", os.path.join(HERE, "..", "..", "build", "bin")))
    ap.add_argument("--no-check", action="store_true", help="print the figures only (e.g. for an old build)")
    ap.add_argument("--long", type=int, default=256, help="target tokens of the long sequence")
    ap.add_argument("--chunks", default="64", help="--loss-chunk values to run, comma-separated")
    a = ap.parse_args()
    model_dir = os.path.join(tmp, "gemma2")
    t0 = time.time()
    tok = make_model(model_dir)
    print(f"model written in {time.time() - t0:.1f} s")
    files, targets = {}, {}
    for name, n in (("short", 32), ("long", a.long)):
        rec = record(tok, n)
        targets[name] = len(tok(rec["reasoning"] + rec["answer"], add_special_tokens=False)["input_ids"]) + 8
        files[name] = os.path.join(tmp, name + ".jsonl")
        with open(files[name], "w") as f:
            f.write(json.dumps(rec) + "\n")
    L = targets["long"] * VOCAB * 4
    print(f"one f32 logits tensor of the long sequence: L = ~{targets['long']} x {VOCAB} x 4 B = {L / 2**20:.0f} MiB")
    # the short sequence (~30 rows) is one chunk either way: its run is the baseline of both
    rss_short, _ = run(a.bin, model_dir, files["short"], os.path.join(tmp, "o-short"), 1024)
    losses = []
    for chunk in map(int, a.chunks.split(",")):
        bound = min(2.0, 3.0 * chunk / targets["long"])
        t0 = time.time()
        rss_long, loss = run(a.bin, model_dir, files["long"], os.path.join(tmp, f"o-l{chunk}"), chunk)
        extra = rss_long - rss_short
        print(f"--loss-chunk {chunk}: peak RSS short {rss_short / 2**20:.0f} MiB, long {rss_long / 2**20:.0f} MiB, "
              f"extra {extra / 2**20:.0f} MiB = {extra / L:.2f} L (bound {bound:.2f} L); step-1 loss {loss:.6f}; "
              f"{time.time() - t0:.1f} s")
        if not a.no_check:
            check(f"loss-chunk {chunk}: extra peak memory < {bound:.2f} L", extra < bound * L,
                  f"{extra / L:.2f} L")
        losses.append(loss)
    if len(losses) > 1:
        check("the step-1 loss does not depend on --loss-chunk",
              max(losses) - min(losses) <= 1e-5 * max(1.0, abs(losses[0])), f"{losses}")


if __name__ == "__main__":
    tmp = tmpdir("softcap-mem-")
    try:
        main(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # ~0.5 GB of checkpoints
    check.finish()
