#!/usr/bin/env python3
# The test server's --model-dir mode, which rl-train's server cases rely on, against
# transformers and peft directly: a token-id completion answers vLLM's shape (logprobs.tokens
# "token_id:N", token_logprobs, top_logprobs, text_offset), its sampled ids are what the model
# generates (greedy) and its log-probs the model's raw log-softmax at each position; a LoRA
# adapter loaded with /v1/load_lora_adapter is what PeftModel computes, the base stays the base,
# unloading works, and /update_weights_from_disk serves the new checkpoint.
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import SRC, Server, Suite, check, tmpdir  # noqa: E402

import torch  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

D = tmpdir("rl-server-fixture-")
MODEL = os.path.join(D, "model")
subprocess.run([sys.executable, os.path.join(SRC, "tests", "cli", "sft-train", "make_tiny_model.py"), MODEL, "11"],
               check=True, capture_output=True)
PROMPT = [1, 87, 85, 261, 201, 85, 368, 266]


def post(server, path, body):
    url = f"http://127.0.0.1:{server.port}{path}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            data = r.read().decode()
            return r.status, (json.loads(data) if data.startswith("{") else data)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def complete(server, model, max_tokens=5):
    code, ans = post(server, "/v1/completions", {"model": model, "prompt": PROMPT, "max_tokens": max_tokens,
                                                  "temperature": 0, "logprobs": 1, "return_tokens_as_token_ids": True,
                                                  "seed": 1})
    check(code == 200, f"{code} {ans}")
    lp = ans["choices"][0]["logprobs"]
    check(set(lp) == {"tokens", "token_logprobs", "top_logprobs", "text_offset"}, lp.keys())
    check(all(t.startswith("token_id:") for t in lp["tokens"]), lp["tokens"])
    return [int(t.split(":")[1]) for t in lp["tokens"]], lp["token_logprobs"]


def expect(model, ids, lps):
    """ids must be model's greedy continuation of PROMPT and lps its raw log-softmax of them."""
    with torch.no_grad():
        x = torch.tensor([PROMPT + ids])
        logits = model(input_ids=x).logits[0, len(PROMPT) - 1:-1].double()
        want = torch.log_softmax(logits, -1)
    check(ids == logits.argmax(-1).tolist(), (ids, logits.argmax(-1).tolist()))
    got = torch.tensor(lps, dtype=torch.float64)
    diff = (got - want[torch.arange(len(ids)), torch.tensor(ids)]).abs().max().item()
    check(diff < 1e-5, f"log-prob diff {diff}")


def adapter(path, seed):
    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(MODEL)
    m = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    m.save_pretrained(path)
    return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(MODEL), path).eval()


def test_token_completions_lora_and_reload_match_transformers():
    base = AutoModelForCausalLM.from_pretrained(MODEL).eval()
    a1 = adapter(os.path.join(D, "a1"), 1)
    a2 = adapter(os.path.join(D, "a2"), 2)
    with Server("--mode", "model", "--model-dir", MODEL, "--model-name", "base") as s:
        ids, lps = complete(s, "base")
        expect(base, ids, lps)
        check(post(s, "/v1/load_lora_adapter", {"lora_name": "a1", "lora_path": os.path.join(D, "a1")})[0] == 200)
        check(post(s, "/v1/load_lora_adapter", {"lora_name": "a1", "lora_path": os.path.join(D, "a1")})[0] == 400)
        check(post(s, "/v1/load_lora_adapter", {"lora_name": "a2", "lora_path": os.path.join(D, "a2")})[0] == 200)
        ids1, lps1 = complete(s, "a1")
        expect(a1, ids1, lps1)
        ids2, lps2 = complete(s, "a2")
        expect(a2, ids2, lps2)
        check(lps1 != lps2 and lps1 != lps, "the adapters changed nothing")
        expect(base, *complete(s, "base"))                 # the base model under the adapters
        check(post(s, "/v1/unload_lora_adapter", {"lora_name": "a1"})[0] == 200)
        check(post(s, "/v1/unload_lora_adapter", {"lora_name": "a1"})[0] == 404)
        check(post(s, "/v1/completions", {"model": "a1", "prompt": PROMPT, "max_tokens": 2})[0] == 404)
        expect(a2, *complete(s, "a2"))
        # reload from disk: a2 merged into a full checkpoint becomes the base; adapters are gone
        merged = os.path.join(D, "merged")
        adapter(os.path.join(D, "a2"), 2).merge_and_unload().save_pretrained(merged)
        code, ans = post(s, "/update_weights_from_disk", {"model_path": merged})
        check(code == 200 and ans["success"] is True, (code, ans))
        ids3, lps3 = complete(s, "base")
        expect(AutoModelForCausalLM.from_pretrained(merged).eval(), ids3, lps3)
        check(post(s, "/v1/completions", {"model": "a2", "prompt": PROMPT, "max_tokens": 2})[0] == 404)


if __name__ == "__main__":
    suite = Suite()
    suite.run(test_token_completions_lora_and_reload_match_transformers)
    suite.finish()
