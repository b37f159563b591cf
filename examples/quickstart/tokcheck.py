#!/usr/bin/env python3
"""Tokenizer agreement: delib's `tokenize` and Hugging Face `transformers` must give identical ids.

Usage: tokcheck.py BIN MODEL_DIR CORPUS.jsonl [N]   (python with `transformers`, e.g. delib's venv)

For the first N corpus records (default 300) it checks (1) the rendered chat of the prompt
messages (delib's chat template rendering + encoding vs apply_chat_template + encode) and (2) the
full training text (prompt chat + `<think>` reasoning + answer) encoded by both from the same
string. Also checks that every fused level token and every nonce is a single token."""
import json
import subprocess
import sys
import tempfile

from transformers import AutoTokenizer

bin_, model, corpus = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 300
tok = AutoTokenizer.from_pretrained(model)
recs = []
with open(corpus) as f:
    for line in f:
        r = json.loads(line)
        msgs = r.get("messages") or [{"role": "user", "content": r["prompt"]}]
        chat = tok.apply_chat_template(msgs, tokenize=False)
        full = (tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) +
                f"<think>\n{r['reasoning']}\n</think>\n\n{r['answer']}<|im_end|>\n")
        recs.append({"id": str(len(recs)), "messages": msgs, "chat": chat, "full": full})
        if len(recs) >= n:
            break


def delib_ids(field):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    args = [f"{bin_}/tokenize", "--tokenizer", model, "--plain", "-q", f.name]
    if field:
        args[4:4] = ["--field", field, "--parse-special"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [json.loads(l)["ids"] for l in out.splitlines() if l.strip()]


bad = 0
for what, field in (("rendered chat", None), ("full training text", "full")):
    got = delib_ids(field)
    assert len(got) == len(recs), (what, len(got), len(recs))
    for r, ids in zip(recs, got):
        ref = tok.encode(r["chat"] if field is None else r[field], add_special_tokens=False)
        if ids != ref:
            bad += 1
            print(f"MISMATCH ({what}) record {r['id']}:\n delib {ids[:40]}\n hf    {ref[:40]}")
sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import world  # noqa: E402
for c, (_, _, levels) in world.CATEGORIES.items():
    for lv, _, _ in levels:
        for a in world.ACTIONS:
            t = f" **{c}.{lv}** ({a}):"
            if len(tok.encode(t, add_special_tokens=False)) != 1:
                bad += 1
                print(f"not one token: {t!r}")
for k in range(16 ** world.NONCE_DIGITS):
    t = " %0*x" % (world.NONCE_DIGITS, k)
    if len(tok.encode(t, add_special_tokens=False)) != 1 or \
            len(tok.encode(t + ">>>", add_special_tokens=False)) != 2:
        bad += 1
        print(f"nonce not one token: {t!r}")
print(json.dumps({"records": len(recs), "mismatches": bad}))
sys.exit(1 if bad else 0)
