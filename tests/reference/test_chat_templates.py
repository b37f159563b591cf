# Reference test: delib's chat templates agree byte for byte with transformers.
#
# For every shared tokenizer whose tokenizer_config.json carries a chat_template (and a few
# well-known ChatML templates on the Qwen3 tokenizer), renders a set of conversations with
# transformers' tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...)
# and with delib's `chat-render` tool, with and without the generation prompt and with template
# keyword arguments, and requires identical text. Also checks the `spans` chat-render reports:
# they tile the text, and every assistant target is what follows the generation prompt and
# ends with the end-of-turn text. Where transformers refuses a conversation (raise_exception in
# the template), delib must refuse it too. A template of no known family renders too.
#
# Templates: a shared tokenizer directory's tokenizer_config.json `chat_template`, else its
# chat_template.jinja; every other *.jinja file there is tested too (other checkpoints of the
# family, rendered with that tokenizer). DELIB_CHAT_TEMPLATES=DIR adds DIR/<tokenizer>[.<label>].jinja
# (e.g. gptoss.jinja: the shared gpt-oss tokenizer ships no template).
import datetime
import json
import os
import subprocess
import sys
import tempfile
import traceback

BIN = os.environ.get("DELIB_BIN", "build/bin")
SHARED = os.environ.get("DELIB_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared"))
TMP = os.environ.get("DELIB_TMP") or tempfile.gettempdir()
TOKENIZERS = os.path.join(SHARED, "data", "tokenizers")

import transformers.utils.chat_template_utils as ctu  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

# Option key: the time transformers' strftime_now sees (the templates' "current date").
FIXED_NOW = "__fixed_now__"


class _FixedClock:
    def __init__(self, now):
        self._now = now

    def now(self, tz=None):
        return self._now


def apply_chat_template(tok, messages, gen, tmpl, kwargs):
    kwargs = dict(kwargs)
    now = kwargs.pop(FIXED_NOW, None)
    saved = ctu.datetime
    if now is not None:
        ctu.datetime = _FixedClock(now)
    try:
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen,
                                       chat_template=tmpl, **kwargs)
    finally:
        ctu.datetime = saved

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)
CHATML_DEFAULT_SYSTEM = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
    "'<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\\n' }}{% endif %}"
)


def U(content):
    return {"role": "user", "content": content}


def A(content, reasoning=None):
    m = {"role": "assistant", "content": content}
    if reasoning is not None:
        m["reasoning"] = reasoning
    return m


def S(content):
    return {"role": "system", "content": content}


def T(content):
    return {"role": "tool", "content": content}


CONVERSATIONS = {
    "single": [U("What is the capital of France?")],
    "system": [S("You are a concise assistant."), U("Hi!")],
    "system_answer": [S("You are a concise assistant."), U("Hi!"), A("Hello.")],
    "reasoning_last": [U("What is 17*3?"), A("51", "17*3 = 51.")],
    "multi_turn_reasoning": [
        S("Think step by step."),
        U("2+2?"),
        A("4", "Two plus two is four."),
        U("And 3+3?"),
        A("6", "\nThree plus three\nis six.\n\n"),
    ],
    "reasoning_earlier_only": [U("2+2?"), A("4", "Two plus two."), U("Thanks! Now 5+5?")],
    "no_reasoning_multi": [U("a"), A("b"), U("c"), A("d")],
    "unicode": [
        S("  Réponds en français. \u3000"),
        U("Grüße 👋🏽 — 日本語のテキスト\u00a0 \u200b ok\n"),
        A("\n  Bonjour ! 🇫🇷 \u2028", "Le 用户 salue.\t"),
    ],
    "think_in_content": [U("q"), A("<think>\nhidden steps\n</think>\n\nvisible answer")],
    "empty_assistant": [U("say nothing"), A("")],
    "whitespace": [U("  padded  \n\n"), A("  spaced answer \n", "  spaced reasoning  ")],
    "system_middle": [U("a"), A("b"), S("new rule"), U("c")],
    "developer_first": [{"role": "developer", "content": "Follow the policy."}, U("hi")],
    "tool_turns": [
        U("What's the weather in Paris?"),
        A("I will look it up."),
        T("Sunny, 25\u00b0C \"clear\"\n\ttab\\slash"),
        T('{"humidity": 0.4}'),
        A("It is sunny and 25\u00b0C.", "The tool said sunny."),
    ],
    "tool_response_as_user": [
        U("q"),
        A("calling", "first thought"),
        U("<tool_response>\nresult\n</tool_response>"),
        A("final", "second thought"),
    ],
}


def hf_messages(messages, family):
    """The messages as each template expects them: reasoning -> reasoning_content (Qwen3) or
    thinking (gpt-oss); other templates do not read reasoning (passed through, ignored)."""
    key = {"qwen3": "reasoning_content", "gpt-oss": "thinking"}.get(family)
    out = []
    for m in messages:
        m = dict(m)
        if "reasoning" in m:
            r = m.pop("reasoning")
            if key:
                m[key] = r
        out.append(m)
    return out


def decompressed_dir(name):
    """A copy of a shared tokenizer directory with tokenizer.json decompressed (transformers
    does not read .zst)."""
    src = os.path.join(TOKENIZERS, name)
    dst = os.path.join(TMP, "chat_ref_tokenizers", name)
    os.makedirs(dst, exist_ok=True)
    for f in os.listdir(src):
        if f.endswith(".zst"):
            out = os.path.join(dst, f[:-4])
            if not os.path.exists(out):
                subprocess.run(["zstd", "-qdf", os.path.join(src, f), "-o", out], check=True)
        else:
            with open(os.path.join(src, f), "rb") as a, open(os.path.join(dst, f), "wb") as b:
                b.write(a.read())
    return dst


def chat_render(args, records):
    inp = os.path.join(TMP, "chat_ref_in.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    p = subprocess.run([os.path.join(BIN, "chat-render"), "--plain", "--spans", *args, inp],
                       capture_output=True)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


def detect(args):
    p = subprocess.run([os.path.join(BIN, "chat-render"), *args, "--detect"], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return json.loads(p.stdout)


def check_spans(text, spans, messages, gen, generation_prompt, header, stops):
    """The span contract of delib/chat.h, on UTF-8 byte offsets. `header`: the assistant
    header that precedes every target (the generation prompt without option suffixes such as
    Qwen3's enable_thinking=False empty <think> block)."""
    b = text.encode("utf-8")
    pos = 0
    seen = {}
    for s in spans:
        assert s["begin"] == pos, f"span gap/overlap at {pos}: {s}"
        assert s["end"] >= s["begin"]
        pos = s["end"]
        i = s["message"]
        if i is None:
            continue
        seen[i] = seen.get(i, 0) + 1
        if i == len(messages):
            assert b[s["begin"]:s["end"]].decode() == generation_prompt, "generation prompt span"
            continue
        assert s["role"] == messages[i]["role"]
        if messages[i]["role"] == "assistant":
            tb, te = s["target_begin"], s["target_end"]
            assert s["begin"] <= tb < te <= s["end"], f"target outside turn: {s}"
            assert b[:tb].endswith(header.encode()), "target does not follow the assistant header"
            target = b[tb:te].decode("utf-8")
            assert any(target.endswith(e) for e in stops), f"target does not end a turn: {target[-20:]!r}"
            content = messages[i]["content"].strip()
            if "</think>" in content:
                content = content.split("</think>")[-1].strip()
            assert content in target, f"content not in target: {content!r} / {target!r}"
        else:
            assert "target_begin" not in s
    assert pos == len(b), f"spans end at {pos}, text has {len(b)} bytes"
    for i in range(len(messages)):
        assert seen.get(i) == 1, f"message {i} has {seen.get(i)} spans"
    assert seen.get(len(messages), 0) == (1 if gen else 0)


def misaligned_targets(tok, text, spans):
    """Character offsets of target boundaries that fall inside a token (special tokens of the
    text are parsed as such, as a trainer tokenizing the rendered chat does)."""
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    cuts = {0, len(text)}
    for a, b in enc["offset_mapping"]:
        cuts.add(a)
        cuts.add(b)
    b = text.encode("utf-8")
    bad = []
    for s in spans:
        for key in ("target_begin", "target_end"):
            if key in s:
                c = len(b[:s[key]].decode("utf-8"))
                # Allowed: whitespace on both sides (an answer that starts with a newline,
                # rendered verbatim after the header's newline, e.g. ChatML: the tokenizer
                # merges them, as it would for any trainer; documented at TurnSpan).
                if c not in cuts and not (0 < c < len(text) and text[c - 1].isspace() and text[c].isspace()):
                    bad.append(c)
    return bad


# Shared tokenizers known to ship no chat template (gpt-oss keeps it in chat_template.jinja,
# which the shared data does not carry). Any other tokenizer without one fails the test; one
# of these that gains a template is tested like the others.
NO_TEMPLATE = {"gptoss"}


def main():
    cases = []  # (label, tokenizer, template text, delib args)
    loaded = {}
    if not os.path.isdir(TOKENIZERS):
        raise RuntimeError(f"missing shared test data {TOKENIZERS} (set DELIB_SHARED to the shared/ checkout)")
    missing = []

    def tokenizer(name):  # loaded on first use: the gpt-oss tokenizer.json alone is 28 MB
        if name not in loaded:
            loaded[name] = AutoTokenizer.from_pretrained(decompressed_dir(name), local_files_only=True)
        return loaded[name]

    names = [n for n in sorted(os.listdir(TOKENIZERS))
             if os.path.isfile(os.path.join(TOKENIZERS, n, "tokenizer_config.json"))]
    for name in names:
        d = os.path.join(TOKENIZERS, name)
        tmpl = json.load(open(os.path.join(d, "tokenizer_config.json"))).get("chat_template")
        if not tmpl and os.path.isfile(os.path.join(d, "chat_template.jinja")):
            tmpl = open(os.path.join(d, "chat_template.jinja"), encoding="utf-8").read()
        if tmpl:
            cases.append((name, tokenizer(name), tmpl, ["--tokenizer", d]))
        elif name in NO_TEMPLATE:
            print(f"note: {name}: no chat_template in tokenizer_config.json nor chat_template.jinja "
                  f"(known; DELIB_CHAT_TEMPLATES=DIR with {name}.jinja tests one)")
        else:
            missing.append(name)
    for label, tmpl in (("chatml", CHATML), ("chatml-default-system", CHATML_DEFAULT_SYSTEM)):
        path = os.path.join(TMP, f"chat_ref_{label}.jinja")
        with open(path, "w") as f:
            f.write(tmpl)
        cases.append((label, tokenizer("qwen3"), tmpl, ["--chat-template", path]))
    # Other templates for the same tokenizers: <dir>/<tokenizer>/<label>.jinja in the shared
    # data (e.g. other checkpoints of the family), and DIR/<tokenizer>[.<label>].jinja.
    extra_files = []
    for name in names:
        d = os.path.join(TOKENIZERS, name)
        extra_files += [(name, os.path.join(d, f), f"{name}.{f[:-6]}") for f in sorted(os.listdir(d))
                        if f.endswith(".jinja") and f != "chat_template.jinja"]
    extra = os.environ.get("DELIB_CHAT_TEMPLATES")
    if extra:
        extra_files += [(f.split(".")[0], os.path.join(extra, f), f[:-6]) for f in sorted(os.listdir(extra))
                        if f.endswith(".jinja") and f.split(".")[0] in names]
    for name, path, label in extra_files:
        tmpl = open(path, encoding="utf-8").read()
        tok = tokenizer(name)
        args = ["--chat-template", path] + (["--bos-token", tok.bos_token] if tok.bos_token else [])
        cases.append((label, tok, tmpl, args))

    passed = failed = 0
    for name in missing:
        failed += 1
        print(f"FAIL {name}: no chat_template in tokenizer_config.json nor chat_template.jinja "
              f"(if that is expected, list it in NO_TEMPLATE)")
    if len(names) < 3:
        failed += 1
        print(f"FAIL shared tokenizers: {names} under {TOKENIZERS}, expected qwen3, llama3_1, gptoss")
    for label, tok, tmpl, args in cases:
        info = detect(args)
        family = info["family"]
        variant = info["variant"]
        # (name, apply_chat_template kwargs, chat-render flags)
        option_sets = [("defaults", {}, [])]
        if family == "qwen3":
            option_sets.append(("enable_thinking=False", {"enable_thinking": False}, ["--no-thinking"]))
        if variant in ("llama3.1", "llama3.2"):
            option_sets.append(("date_string", {"date_string": "05 Mar 2025"}, ["--date-string", "05 Mar 2025"]))
        if family == "gpt-oss":
            option_sets.append((
                "effort+identity+date",
                {"reasoning_effort": "high", "model_identity": "You are a careful model.",
                 FIXED_NOW: datetime.datetime(2025, 8, 5, 13, 0)},
                ["--reasoning-effort", "high", "--model-identity", "You are a careful model.",
                 "--current-date", "2025-08-05"]))
        for opt_name, kwargs, flags in option_sets:
            for gen in (False, True):
                names = list(CONVERSATIONS)
                records = [{"id": n, "messages": CONVERSATIONS[n]} for n in names]
                expected = {}
                for n in names:
                    try:
                        expected[n] = apply_chat_template(tok, hf_messages(CONVERSATIONS[n], family),
                                                          gen, tmpl, kwargs)
                    except Exception as e:  # the template raised: delib must refuse too
                        expected[n] = e
                ok_records = [r for r in records if not isinstance(expected[r["id"]], Exception)]
                err_records = [r for r in records if isinstance(expected[r["id"]], Exception)]
                run_args = args + flags + (["--add-generation-prompt"] if gen else [])
                gen_prompt = detect(args + flags)["generation_prompt"]
                rc, out, err = chat_render(run_args, ok_records)
                if rc != 0:
                    failed += len(ok_records)
                    print(f"FAIL {label} {opt_name} gen={gen}: chat-render exit {rc}: {err.strip()}")
                    continue
                lines = [l for l in out.split("\n") if l]
                for r, line in zip(ok_records, lines):
                    what = f"{label} [{variant}] {opt_name} gen={gen} {r['id']}"
                    got = json.loads(line)
                    exp = expected[r["id"]]
                    if got["text"] != exp:
                        failed += 1
                        k = next((i for i in range(min(len(exp), len(got["text"])))
                                  if exp[i] != got["text"][i]), min(len(exp), len(got["text"])))
                        print(f"FAIL {what}: differs at char {k}:\n  transformers: "
                              f"{exp[max(0, k - 40):k + 60]!r}\n  delib:        "
                              f"{got['text'][max(0, k - 40):k + 60]!r}")
                        continue
                    try:
                        check_spans(got["text"], got["spans"], r["messages"], gen,
                                    gen_prompt, info["generation_prompt"],
                                    info["stop_strings"] + ["<|end|>"])
                    except AssertionError as e:
                        failed += 1
                        print(f"FAIL {what}: spans: {e}")
                        continue
                    # Training masks tokens by these spans: the target must start and end
                    # on token boundaries of the tokenizer's encoding of the whole text.
                    bad = misaligned_targets(tok, got["text"], got["spans"])
                    if bad:
                        failed += 1
                        print(f"FAIL {what}: target boundaries inside a token at chars {bad}")
                        continue
                    passed += 1
                if len(lines) != len(ok_records):
                    failed += 1
                    print(f"FAIL {label} {opt_name} gen={gen}: {len(lines)} records out, {len(ok_records)} in")
                for r in err_records:
                    what = f"{label} [{variant}] {opt_name} gen={gen} {r['id']}"
                    rc, out, err = chat_render(run_args, [r])
                    if rc == 1 and err.strip():
                        passed += 1
                    else:
                        failed += 1
                        print(f"FAIL {what}: transformers raised ({expected[r['id']]}) "
                              f"but chat-render exited {rc}")
        print(f"{label}: {variant}, {len(option_sets)} option set(s) x {len(CONVERSATIONS)} conversations x 2")

    # A template of no known family renders as transformers renders it (delib's template engine;
    # tests/reference/test_chat_template_engine.py covers real templates of other families).
    path = os.path.join(TMP, "chat_ref_unknown.jinja")
    tmpl = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    with open(path, "w") as f:
        f.write(tmpl)
    rc, out, err = chat_render(["--chat-template", path], [{"messages": CONVERSATIONS["system_answer"]}])
    exp = apply_chat_template(tokenizer("qwen3"), CONVERSATIONS["system_answer"], False, tmpl, {})
    if rc == 0 and json.loads(out)["text"] == exp:
        passed += 1
    else:
        failed += 1
        print(f"FAIL template of no known family: exit {rc}, stderr {err!r}, stdout {out!r}, transformers {exp!r}")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        print("0 passed, 1 failed")
        sys.exit(1)
