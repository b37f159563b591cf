#!/usr/bin/env python3
# The OpenAI-compatible HTTP backend (driven through cot-gen) against the real Python test
# server tests/servers/openai_server.py: fault injection, bounded retries, Retry-After, API
# keys, reasoning_content, /v1/completions, and a real transformers model on CPU.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import SPEC, SHARED, Server, Suite, check, read_jsonl, run, tmpdir, write_jsonl  # noqa: E402

D = tmpdir("http-")


def prompts(n, prefix="q"):
    cats = ["illicit", "self-harm", "harassment", "medical"]
    return [{"id": f"{prefix}{i:03d}", "prompt": f"question {i}: tell me about topic {i * 7 % 13}",
             "category": cats[i % 4]} for i in range(n)]


def gen(server, inp, out, *extra, check_rc=0, env=None):
    return run("cot-gen", "--spec", SPEC, "--backend", "openai", "--base-url", server.url,
               "--model", "echo", inp, "-o", out, *extra, check=check_rc, env=env)


def test_faults_every_record_completes_once_in_order():
    inp = os.path.join(D, "faults.jsonl")
    recs = prompts(25)
    write_jsonl(inp, recs)
    with Server() as clean:
        gen(clean, inp, os.path.join(D, "clean.jsonl"), "--samples", "2")
        clean_out = read_jsonl(os.path.join(D, "clean.jsonl"))
    with Server("--fault-rate", "0.5", "--fault-seed", "7", "--faults", "429,500,drop,slow",
                "--slow-seconds", "1.5", "--retry-after", "0.1", "--max-faults-per-request", "2") as s:
        out = os.path.join(D, "faults-out.jsonl")
        gen(s, inp, out, "--samples", "2", "--concurrency", "8", "--timeout", "0.75", "--max-retries", "6")
        got = read_jsonl(out)
        st = s.stats()
    keys = [(r["id"], r["sample"]) for r in got]
    want = [(r["id"], k) for r in recs for k in range(2)]
    check(keys == want, f"records missing, duplicated or out of order: {keys[:6]}...")
    faults = sum(st["faults"].values())
    check(faults >= 10, f"too few faults injected to test anything: {st}")
    check(st["max_attempts_per_body"] <= 1 + 6, f"retries not bounded: {st}")
    # Same answers as without faults (the echo server is deterministic given the seed).
    check([(r["reasoning"], r["answer"]) for r in got] == [(r["reasoning"], r["answer"]) for r in clean_out],
          "faults changed the content")
    print(f"  faults injected: {st['faults']}, requests {st['requests']} for {len(want)} samples")


def test_retries_are_bounded():
    inp = os.path.join(D, "bounded.jsonl")
    write_jsonl(inp, prompts(3))
    with Server("--always-status", "500") as s:
        p = gen(s, inp, os.path.join(D, "bounded-out.jsonl"), "--max-retries", "2", check_rc=4)
        st = s.stats()
    check(st["requests"] == 3 * 3, f"expected 3 attempts for each of 3 requests: {st}")
    check("gave up after 3 attempts" in p.stderr, p.stderr)
    check("HTTP 500" in p.stderr, p.stderr)


def test_retry_after_is_honoured():
    inp = os.path.join(D, "ra.jsonl")
    write_jsonl(inp, prompts(1))
    with Server("--always-status", "429", "--retry-after", "0.7") as s:
        t0 = time.time()
        gen(s, inp, os.path.join(D, "ra-out.jsonl"), "--max-retries", "2", check_rc=4)
        elapsed = time.time() - t0
        st = s.stats()
    check(st["requests"] == 3, st)
    # Two waits of at least Retry-After each; back-off alone would be < 0.75 s in total.
    check(elapsed >= 1.4, f"Retry-After not honoured: {elapsed:.2f}s")


def test_api_key_sent_never_recorded_and_401_not_retried():
    inp = os.path.join(D, "key.jsonl")
    write_jsonl(inp, prompts(2))
    secret = "sk-test-s3cret-value"
    with Server("--api-key", secret) as s:
        out = os.path.join(D, "key-none.jsonl")
        p = gen(s, inp, out, "--api-key-env", "DELIB_TEST_NO_SUCH_VAR", check_rc=4)
        check(s.stats()["status"].get("401") == 2, "a 401 must not be retried")
        check("HTTP 401" in p.stderr, p.stderr)
        out = os.path.join(D, "key-env.jsonl")
        p = gen(s, inp, out, "--api-key-env", "DELIB_TEST_KEY", env={"DELIB_TEST_KEY": secret})
        check(len(read_jsonl(out)) == 2)
        check(secret not in open(out).read() and secret not in p.stderr, "API key leaked")
        kf = os.path.join(D, "key.txt")
        with open(kf, "w") as f:
            f.write(secret + "\n")
        out = os.path.join(D, "key-file.jsonl")
        gen(s, inp, out, "--api-key-env", "DELIB_TEST_NO_SUCH_VAR", "--api-key-file", kf)
        check(len(read_jsonl(out)) == 2)
        check(secret not in open(out).read(), "API key leaked")


def test_reasoning_content_field():
    inp = os.path.join(D, "rc.jsonl")
    write_jsonl(inp, prompts(4))
    with Server("--reasoning-field") as s:
        out = os.path.join(D, "rc-out.jsonl")
        gen(s, inp, out)
        log = s.log()
    got = read_jsonl(out)
    by_answer = {e["content"]: e["reasoning"] for e in log}
    check(len(got) == 4)
    for r in got:
        check(r["format_ok"], r)
        check(by_answer.get(r["answer"]) == r["reasoning"], "reasoning_content not used")


def test_completions_endpoint_with_chat_template():
    inp = os.path.join(D, "cmpl.jsonl")
    write_jsonl(inp, prompts(2))
    tmpl = os.path.join(SHARED, "data", "tokenizers", "qwen3", "tokenizer_config.json")
    check(os.path.isfile(tmpl), f"missing shared test data {tmpl} (set DELIB_SHARED)")
    with Server() as s:
        out = os.path.join(D, "cmpl-out.jsonl")
        gen(s, inp, out, "--completions", "--chat-template", tmpl)
        log = s.log()
    check(len(log) == 2 and all(e["path"].endswith("/v1/completions") for e in log), log)
    for e in log:
        prompt = e["request"]["prompt"]
        check(prompt.startswith("<|im_start|>system\n") and "# Safety specification" in prompt, prompt[:200])
        check(prompt.rstrip().endswith("<|im_start|>assistant"), prompt[-100:])
    check(len(read_jsonl(out)) == 2)


if __name__ == "__main__":
    s = Suite()
    for t in [test_faults_every_record_completes_once_in_order, test_retries_are_bounded,
              test_retry_after_is_honoured, test_api_key_sent_never_recorded_and_401_not_retried,
              test_reasoning_content_field, test_completions_endpoint_with_chat_template]:
        s.run(t)
    s.finish()
