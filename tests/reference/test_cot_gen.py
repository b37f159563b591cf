#!/usr/bin/env python3
# cot-gen end to end against the OpenAI-compatible test server in deterministic echo mode:
# the prompt layout (spec view + instructions before the conversation), output fields and
# order, unknown categories, and resumption after kill -9 (byte-identical union).
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import SPEC, Server, Suite, check, read_jsonl, run, tmpdir, tool, write_jsonl  # noqa: E402

D = tmpdir("cotgen-")
CATS = ["illicit", "self-harm", "harassment", "medical"]


def prompts(n):
    out = []
    for i in range(n):
        r = {"id": f"p{i:03d}", "category": CATS[i % 4], "source": {"n": i, "x": [1.50, "é"]}}
        if i % 3 == 0:
            r["messages"] = [{"role": "system", "content": "You are terse."},
                             {"role": "user", "content": f"first {i}"},
                             {"role": "assistant", "content": "ok"},
                             {"role": "user", "content": f"second question {i}"}]
        else:
            r["prompt"] = f"question number {i}"
        out.append(r)
    return out


def base(server):
    return ["--spec", SPEC, "--backend", "openai", "--base-url", server.url, "--model", "echo"]


def test_prompt_layout_fields_and_order():
    recs = prompts(8)
    inp = os.path.join(D, "in.jsonl")
    # Compact lines with a number in an unusual spelling: untouched fields must come back as
    # they were written.
    lines = [json.dumps(r, separators=(",", ":"), ensure_ascii=False)[:-1] + ',"raw":1.50e0}' for r in recs]
    with open(inp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    out = os.path.join(D, "out.jsonl")
    with Server() as s:
        run("cot-gen", *base(s), "--samples", "3", "--seed", "5", inp, "-o", out, check=0)
        log = s.log()
    got = read_jsonl(out)
    out_lines = open(out, encoding="utf-8").read().splitlines()
    check([(r["id"], r["sample"]) for r in got] == [(r["id"], k) for r in recs for k in range(3)])
    for line, r in zip(out_lines, got):
        src = lines[[x["id"] for x in recs].index(r["id"])]
        check(line.startswith(src[:-1] + ","), "input fields must be kept byte for byte")
        check(r["format_ok"] is True and r["reasoning"] and r["answer"], r)
        p = r["provenance"]
        check(p["tool"] == "cot-gen" and p["seed"] == 5 and p["model"] == "echo", p)
        check(p["sampling"]["max_tokens"] == 1024 and p["backend"].startswith("openai:echo@"), p)
        check(len(p["spec_view_hash"]) == 16 and len(p["spec_hash"]) == 16, p)
    # One view per category: same hash within a category, different across categories.
    h = {}
    for r in got:
        h.setdefault(r["category"], set()).add(r["provenance"]["spec_view_hash"])
    check(all(len(v) == 1 for v in h.values()) and len({next(iter(v)) for v in h.values()}) == 4, h)
    # What the model saw: one system message (instructions, then the spec view), then the
    # conversation unchanged.
    check(len(log) == 24)
    by_content = {}
    for e in log:
        msgs = e["request"]["messages"]
        sys_msg = msgs[0]
        check(sys_msg["role"] == "system" and "\n\n# Safety specification\n\n" in sys_msg["content"])
        by_content[e["content"]] = e
    for r in got:
        e = [e for e in log if r["answer"] in e["content"] and r["reasoning"] in e["content"]]
        check(len(e) == 1, "each sample maps to exactly one server completion")
        msgs = e[0]["request"]["messages"]
        src = recs[[x["id"] for x in recs].index(r["id"])]
        conv = src.get("messages") or [{"role": "user", "content": src["prompt"]}]
        check([{"role": m["role"], "content": m["content"]} for m in msgs[1:]] == conv, msgs)
        view = msgs[0]["content"].split("\n\n# Safety specification\n\n", 1)[1]
        check(f"{r['category']}" in view)
        check(e[0]["content"] == f"<think>{r['reasoning']}</think>\n\n{r['answer']}")
    seeds = [e["request"]["seed"] for e in log]
    check(len(set(seeds)) == 24, "every (id, sample) has its own seed")


def test_instructions_override_and_no_think():
    inp = os.path.join(D, "instr.jsonl")
    write_jsonl(inp, [{"id": "x", "prompt": "hello ECHO_NO_THINK", "category": "medical"}])
    instr = os.path.join(D, "instr.txt")
    with open(instr, "w") as f:
        f.write("Custom instructions: think, cite, decide.")
    out = os.path.join(D, "instr-out.jsonl")
    with Server() as s:
        run("cot-gen", *base(s), "--instructions", instr, inp, "-o", out, check=0)
        log = s.log()
    check(log[0]["request"]["messages"][0]["content"].startswith(
        "Custom instructions: think, cite, decide.\n\n# Safety specification\n\n"))
    r = read_jsonl(out)[0]
    check(r["format_ok"] is False and r["reasoning"] == "", "no <think> block: format_ok false")
    check(r["provenance"]["instructions_hash"] != "", r)


def test_truncated_is_not_format_ok():
    inp = os.path.join(D, "trunc.jsonl")
    write_jsonl(inp, [{"id": "t", "prompt": "a b c d e f g h i j k l m n o p", "category": "medical"}])
    out = os.path.join(D, "trunc-out.jsonl")
    with Server() as s:
        run("cot-gen", *base(s), "--max-tokens", "5", inp, "-o", out, check=0)
    r = read_jsonl(out)[0]
    check(r["format_ok"] is False and r["provenance"]["sampling"]["max_tokens"] == 5, r)


def test_unknown_category():
    inp = os.path.join(D, "unk.jsonl")
    write_jsonl(inp, [{"id": "a", "prompt": "x", "category": "medical"},
                      {"id": "b", "prompt": "y", "category": "nope"},
                      {"id": "c", "prompt": "z", "category": "illicit"}])
    with Server() as s:
        p = run("cot-gen", *base(s), inp, "-o", os.path.join(D, "unk-out.jsonl"), check=1)
        check(f"cot-gen: {inp}:2: unknown category 'nope'" in p.stderr, p.stderr)
        check(s.stats()["requests"] == 0, "nothing may be generated before the input is validated")
        rej = os.path.join(D, "unk-rej.jsonl")
        out = os.path.join(D, "unk-out2.jsonl")
        p = run("cot-gen", *base(s), "--on-error", "skip", "--rejects", rej, inp, "-o", out, check=0)
    check([r["id"] for r in read_jsonl(out)] == ["a", "c"])
    check([r["id"] for r in read_jsonl(rej)] == ["b"])
    check("nope" in p.stderr)


def test_resume_after_kill9_is_byte_identical():
    recs = prompts(30)
    inp = os.path.join(D, "resume.jsonl")
    write_jsonl(inp, recs)
    for name in ["resume.jsonl", "resume.jsonl.zst"]:
        full = os.path.join(D, "full-" + name)
        part = os.path.join(D, "part-" + name)
        # Every first request is slow, so the run is still going when it is killed; a repeat of
        # the same request (same seed) is answered at once.
        with Server("--fault-rate", "1", "--faults", "slow", "--slow-seconds", "0.15",
                    "--max-faults-per-request", "1") as s:
            args = base(s) + ["--samples", "2", "--concurrency", "2", "--seed", "3"]
            proc = subprocess.Popen([tool("cot-gen"), *args, inp, "-o", part],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 30
            while time.time() < deadline:
                time.sleep(0.1)
                if os.path.exists(part) and len(read_safely(part)) >= 10:
                    break
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            n_before = len(read_safely(part))
            check(0 < n_before < 60, f"the kill must land mid-run ({n_before} records)")
            p = run("cot-gen", *args, inp, "--resume", part, check=0)
            run("cot-gen", *args, inp, "-o", full, check=0)
        a, b = open(part, "rb").read(), open(full, "rb").read()
        check(a == b, f"{name}: resumed output differs from an uninterrupted run "
                      f"({len(a)} vs {len(b)} bytes, {n_before} records before the kill)")
        # Resuming a complete file does nothing.
        with Server() as s2:
            run("cot-gen", *(base(s2) + ["--samples", "2", "--concurrency", "2", "--seed", "3"]),
                inp, "--resume", part, check=0)
            check(s2.stats()["requests"] == 0)
        check(open(part, "rb").read() == b)


def test_sigint_flushes_a_clean_prefix():
    recs = prompts(20)
    inp = os.path.join(D, "int.jsonl")
    write_jsonl(inp, recs)
    part = os.path.join(D, "int-part.jsonl")
    full = os.path.join(D, "int-full.jsonl")
    with Server("--fault-rate", "1", "--faults", "slow", "--slow-seconds", "0.15",
                "--max-faults-per-request", "1") as s:
        args = base(s) + ["--concurrency", "2"]
        proc = subprocess.Popen([tool("cot-gen"), *args, inp, "-o", part],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            time.sleep(0.1)
            if os.path.exists(part) and len(read_safely(part)) >= 4:
                break
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(30)
        check(rc == 130, f"SIGINT must exit 130, got {rc}")
        data = open(part, "rb").read()
        check(data.endswith(b"\n") and all(json.loads(l) for l in data.splitlines()), "torn record")
        n = data.count(b"\n")
        check(0 < n < 20, n)
        run("cot-gen", *args, inp, "--resume", part, check=0)
        run("cot-gen", *args, inp, "-o", full, check=0)
    check(open(part, "rb").read() == open(full, "rb").read())


def test_resume_keeps_the_file_format():
    # A plain file whose name does not say so is appended to as plain, not as zstd.
    inp2 = os.path.join(D, "fmt2.jsonl")
    inp4 = os.path.join(D, "fmt4.jsonl")
    write_jsonl(inp2, prompts(2))
    write_jsonl(inp4, prompts(4))
    out = os.path.join(D, "fmt-out")
    with Server() as s:
        run("cot-gen", *base(s), "--plain", inp2, "-o", out, check=0)
        run("cot-gen", *base(s), inp4, "--resume", out, check=0)
    data = open(out, "rb").read()
    check(data[:4] != b"\x28\xb5\x2f\xfd" and b"\x28\xb5\x2f\xfd" not in data, "zstd appended to a plain file")
    check([json.loads(l)["id"] for l in data.splitlines()] == ["p000", "p001", "p002", "p003"])


def read_safely(path):
    """Complete records of a file a killed writer may have left half-written."""
    data = open(path, "rb").read()
    if data[:4] == b"\x28\xb5\x2f\xfd":
        p = subprocess.run(["zstd", "-q", "-d", "-c"], input=data, capture_output=True)
        data = p.stdout
    lines = data.split(b"\n")[:-1]
    return lines


def test_unordered_same_set():
    recs = prompts(12)
    inp = os.path.join(D, "unord.jsonl")
    write_jsonl(inp, recs)
    with Server("--fault-rate", "0.5", "--faults", "slow", "--slow-seconds", "0.2") as s:
        a = os.path.join(D, "ord.jsonl")
        b = os.path.join(D, "unord-out.jsonl")
        run("cot-gen", *base(s), "--samples", "2", "--concurrency", "6", inp, "-o", a, check=0)
        run("cot-gen", *base(s), "--samples", "2", "--concurrency", "6", "--unordered", inp, "-o", b,
            check=0)
    la = open(a).read().splitlines()
    lb = open(b).read().splitlines()
    check(sorted(la) == sorted(lb) and len(la) == 24)


if __name__ == "__main__":
    s = Suite()
    for t in [test_prompt_layout_fields_and_order, test_instructions_override_and_no_think,
              test_truncated_is_not_format_ok, test_unknown_category,
              test_resume_after_kill9_is_byte_identical, test_sigint_flushes_a_clean_prefix,
              test_unordered_same_set, test_resume_keeps_the_file_format]:
        s.run(t)
    s.finish()
