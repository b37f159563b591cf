# label: slow
"""sft-train --plan against measured peaks on a random ~150M-parameter Llama (the issue's
"150-300M" check; minutes of CPU, hence slow): 16 layers, hidden 768, vocab 32000, f32, rows of
one length (every row full, as the plan assumes), 2 steps on the CPU with one thread and
malloc's mmap threshold pinned (freed tensors leave the RSS: the plan counts live bytes). For
one process (--sharding none) and for 2 Gloo processes with none, grad-opt and full, the peak
RSS above the baseline (metrics memory_mb - memory_baseline_mb, rank 0) is within 15% of the
planned peak; full holds less than grad-opt, which holds less than none.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile

import torch
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.path.join(HERE, "..", "cli", "sft-train")
BIN = os.environ.get("DELIB_BIN", os.path.join(HERE, "..", "..", "build", "bin"))
SFT = os.path.join(BIN, "sft-train")
check = Checks()


def make(tmp):
    subprocess.run([sys.executable, os.path.join(CLI, "make_tiny_model.py"), os.path.join(tmp, "model"), "0"],
                   check=True, capture_output=True)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=16,
                      num_attention_heads=12, num_key_value_heads=4, head_dim=64, max_position_embeddings=1024,
                      tie_word_embeddings=False, torch_dtype="float32")
    LlamaForCausalLM(cfg).save_pretrained(os.path.join(tmp, "model"), safe_serialization=True)
    tok = Tokenizer.from_file(os.path.join(tmp, "model", "tokenizer.json"))
    text, target = "Q:", " " + " ".join(["the policy allows general information"] * 40)
    n = len(tok.encode(text).ids) + len(tok.encode(target).ids) + 1
    with open(os.path.join(tmp, "data.jsonl"), "w") as f:
        for i in range(8):
            f.write(json.dumps({"id": f"r{i}", "text": text, "target": target}) + "\n")
    return n


def planned(tmp, opts, world, sharding):
    out = subprocess.run([SFT, "--plan", *opts, "--world-size", str(world), "--sharding", sharding], cwd=tmp,
                         capture_output=True, text=True, check=True).stdout
    return int(next(l for l in out.splitlines() if l.startswith("  peak ")).split()[-3])


def measured(tmp, opts, world, sharding):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    procs = []
    for r in range(world):
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        if world > 1:
            env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(r),
                       LOCAL_RANK=str(r))
        procs.append(subprocess.Popen([SFT, *opts, "--sharding", sharding, "--padding", "--plain", "--max-steps", "2",
                                       "--lr", "1e-4", "--threads", "1", "data.jsonl"], env=env, cwd=tmp,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate() for p in procs]
    for r, p in enumerate(procs):
        if p.returncode != 0:
            raise SystemExit(f"FAIL {sharding} on {world}: rank {r} exit {p.returncode}\n{outs[r][1]}")
    rows = [json.loads(l) for l in outs[0][0].splitlines()]
    return int((max(r["memory_mb"] for r in rows) - rows[0]["memory_baseline_mb"]) * 2**20)


def main():
    tmp = tempfile.mkdtemp(prefix="plan-large-")
    T = make(tmp)
    opts = ["--model", "model", "--device", "cpu", "--batch-size", "1", "--max-length", str(T)]
    params = subprocess.run([SFT, "--plan", *opts], cwd=tmp, capture_output=True, text=True, check=True).stdout
    print(next(l for l in params.splitlines() if l.startswith("parameters:")))
    m = {}
    for world, sharding in ((1, "none"), (2, "none"), (2, "grad-opt"), (2, "full")):
        p, got = planned(tmp, opts, world, sharding), measured(tmp, opts, world, sharding)
        m[(world, sharding)] = got
        print(f"{world} x {sharding}: planned {p / 1e6:.0f} MB, measured {got / 1e6:.0f} MB, ratio {got / p:.3f}")
        check(f"{world} x {sharding} within 15%", abs(got - p) <= 0.15 * p, (got, p))
    check("full < grad-opt < none", m[(2, "full")] < m[(2, "grad-opt")] < m[(2, "none")], m)
    print(f"full / none on 2 processes: {m[(2, 'full')] / m[(2, 'none')]:.2f}")
    check.finish()


if __name__ == "__main__":
    main()
