# Reference test: delib's chat-template engine renders real Hugging Face chat templates byte for
# byte as transformers does.
#
# 1. The Jinja snippet corpus (jinja_cases.py): each case rendered by transformers'
#    render_jinja_template and by chat-render; same text, or an error from both.
# 2. Every template of ../shared/data/chat-templates (the ten of SOURCE.md) and the chat
#    templates of the shared tokenizers, on the conversations below (system or not, multi-turn,
#    reasoning, tools and tool calls, documents, multimodal parts, unicode, template keyword
#    arguments), each with and without the generation prompt. transformers' side is what
#    apply_chat_template does without tokenizing: _normalize_chat_messages, then
#    render_jinja_template with the special tokens (the SOURCE.md recipe: <BOS>, <EOS>, <PAD>,
#    <UNK> for the tokenizer-less templates; the tokenizer_config.json values for the shared
#    tokenizers) and a fixed clock for strftime_now. Where transformers raises, chat-render must
#    exit 1 naming the template file and line, and write nothing.
#    Every identical rendering must also keep the span contract of delib/chat.h (the spans tile
#    the text, one per message, the generation prompt last; an assistant target lies inside its
#    turn and holds the message's content), and the reasoning of a last assistant turn rendered
#    with --keep-reasoning must come back from --parse of its target.
# The per-template table it prints is the measurement the engine's docs quote.
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
TEMPLATES = os.path.join(SHARED, "data", "chat-templates")
TOKENIZERS = os.path.join(SHARED, "data", "tokenizers")
sys.path.insert(0, os.path.dirname(__file__))

import transformers.utils.chat_template_utils as ctu  # noqa: E402
from jinja_cases import CASES  # noqa: E402

NOW = datetime.datetime(2025, 8, 5, 12, 0)  # strftime_now's clock on both sides
NOW_FLAG = "2025-08-05 12:00"
SPECIAL = {"bos_token": "<BOS>", "eos_token": "<EOS>", "pad_token": "<PAD>", "unk_token": "<UNK>"}


class _Clock:
    @staticmethod
    def now(tz=None):
        return NOW


def reference(messages, template, gen, tools=None, documents=None, kwargs=None, special=SPECIAL):
    """apply_chat_template(tokenize=False) without a tokenizer: the text, or the exception."""
    saved = ctu.datetime
    ctu.datetime = _Clock
    try:
        msgs = ctu._normalize_chat_messages(messages)
        out, _ = ctu.render_jinja_template(conversations=[msgs], tools=tools, documents=documents,
                                           chat_template=template, add_generation_prompt=gen,
                                           **{**special, **(kwargs or {})})
        return out[0]
    except Exception as e:  # noqa: BLE001 - transformers raised: delib must refuse too
        return e
    finally:
        ctu.datetime = saved


def chat_render(args, records, name="in"):
    path = os.path.join(TMP, f"chat_engine_{name}.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    p = subprocess.run([os.path.join(BIN, "chat-render"), "--plain", *args, path], capture_output=True)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


def first_difference(a, b):
    k = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    return f"at char {k}:\n  transformers: {a[max(0, k - 50):k + 70]!r}\n  delib:        {b[max(0, k - 50):k + 70]!r}"


# ---- 1. the snippet corpus ----------------------------------------------------------------------

def check_corpus():
    passed = failed = 0
    for k, (template, variables) in enumerate(CASES):
        v = dict(variables)
        messages = v.pop("messages", [{"role": "user", "content": "x"}])
        tools = v.pop("tools", None)
        exp = reference(messages, template, False, tools=tools, special={}, kwargs=v)
        tpl = os.path.join(TMP, f"chat_engine_case{k}.jinja")
        with open(tpl, "w", encoding="utf-8") as f:
            f.write(template)
        rec = {"messages": messages, "chat_template_kwargs": v}
        if tools is not None:
            rec["tools"] = tools
        rc, out, err = chat_render(["--chat-template", tpl, "--current-date", NOW_FLAG], [rec], "case")
        if isinstance(exp, Exception):
            if rc == 1 and not out and err.strip():
                passed += 1
            else:
                failed += 1
                print(f"FAIL corpus {template!r}: jinja2 raised {type(exp).__name__}: {exp}; chat-render exit {rc}")
            continue
        got = json.loads(out)["text"] if rc == 0 and out else None
        if got == exp:
            passed += 1
        else:
            failed += 1
            print(f"FAIL corpus {template!r}: exit {rc} {err.strip()}\n  jinja2: {exp!r}\n  delib:  {got!r}")
    print(f"jinja corpus: {passed} of {len(CASES)} cases as jinja2")
    return passed, failed


# ---- 2. real templates on conversations ---------------------------------------------------------

def U(c):
    return {"role": "user", "content": c}


def A(c, reasoning=None):
    m = {"role": "assistant", "content": c}
    if reasoning is not None:
        m["reasoning_content"] = reasoning
    return m


SYS = {"role": "system", "content": "You are a careful assistant. Réponds brièvement."}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather for a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}]


def call(args):
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_abc123456", "type": "function", "function": {"name": "get_weather", "arguments": args}}]}


TOOL_RESULT = {"role": "tool", "tool_call_id": "call_abc123456", "name": "get_weather",
               "content": "{\"temp\": 25, \"sky\": \"clear\"}"}

# name -> (messages, extra record fields)
CONVERSATIONS = {
    "user": ([U("What is 17 * 3?")], {}),
    "system_multi": ([SYS, U("What is 17 * 3?"), A("51"), U("And 6 * 7?")], {}),
    "no_system_multi": ([U("What is 17 * 3?"), A("51"), U("And 6 * 7?"), A("42")], {}),
    "reasoning": ([U("What is 17 * 3?"), A("51", "17 * 3 = 51.")], {}),
    "multi_reasoning": ([SYS, U("What is 17 * 3?"), A("51", "17 * 3 = 51."), U("And 6 * 7?"),
                         A("42", "Six times seven.\nIt is 42.")], {}),
    "unicode": ([{"role": "system", "content": "  Réponds en français. \u3000"},
                 U("Grüße 👋🏽 — 日本語のテキスト\u00a0 \u200b ok\n"),
                 A("\n  Bonjour ! 🇫🇷 \u2028", "Le 用户 salue.\t")], {}),
    "think_in_content": ([U("q"), A("<think>\nhidden steps\n</think>\n\nvisible answer")], {}),
    "tools": ([U("Weather in Paris?"), call({"city": "Paris", "unit": "celsius"}), TOOL_RESULT,
               A("It is 25°C and clear in Paris.")], {"tools": TOOLS}),
    "tools_string_args": ([U("Weather in Paris?"), call("{\"city\": \"Paris\", \"unit\": \"celsius\"}"), TOOL_RESULT,
                           A("It is 25°C and clear in Paris.")], {"tools": TOOLS}),
    "tools_prompt": ([U("Weather in Paris?")], {"tools": TOOLS}),
    "documents": ([U("What is the capital of France?")],
                  {"documents": [{"title": "Paris", "text": "Paris is the capital of France."}]}),
    "multimodal": ([{"role": "user", "content": [{"type": "text", "text": "Describe this."}, {"type": "image"}]}], {}),
    "developer": ([{"role": "developer", "content": "Follow the policy."}, U("hi")], {}),
    "consecutive_users": ([U("one"), U("two")], {}),
    "no_thinking": ([U("What is 17 * 3?")], {"chat_template_kwargs": {"enable_thinking": False}}),
    "thinking": ([U("What is 17 * 3?")], {"chat_template_kwargs": {"enable_thinking": True}}),
    "thinking_budget": ([U("What is 17 * 3?")], {"chat_template_kwargs": {"thinking_budget": 512}}),
    "reasoning_effort": ([U("What is 17 * 3?")], {"chat_template_kwargs": {"reasoning_effort": "high"}}),
}


def tokenizer_special(name):
    cfg = json.load(open(os.path.join(TOKENIZERS, name, "tokenizer_config.json"), encoding="utf-8"))
    out = {}
    for k in ("bos_token", "eos_token", "pad_token", "unk_token"):
        v = cfg.get(k)
        if isinstance(v, dict):
            v = v.get("content")
        if isinstance(v, str):
            out[k] = v
    return cfg.get("chat_template"), out


def templates():
    """(label, template text, chat-render template flags, special tokens)"""
    out = []
    for f in sorted(os.listdir(TEMPLATES)):
        if f.endswith(".jinja"):
            path = os.path.join(TEMPLATES, f)
            flags = ["--chat-template", path, "--bos-token", SPECIAL["bos_token"], "--eos-token", SPECIAL["eos_token"],
                     "--template-kwargs", json.dumps({"pad_token": "<PAD>", "unk_token": "<UNK>"})]
            out.append((f[:-6], open(path, encoding="utf-8").read(), flags, SPECIAL))
    for name in sorted(os.listdir(TOKENIZERS)):
        if os.path.isfile(os.path.join(TOKENIZERS, name, "tokenizer_config.json")):
            tmpl, special = tokenizer_special(name)
            if tmpl:
                out.append((f"tokenizer:{name}", tmpl, ["--tokenizer", os.path.join(TOKENIZERS, name)], special))
    return out


def check_spans(text, spans, messages, gen):
    """The span contract (delib/chat.h), on UTF-8 byte offsets. Returns a problem or None."""
    b = text.encode("utf-8")
    pos = 0
    seen = {}
    for s in spans:
        if s["begin"] != pos or s["end"] < s["begin"]:
            return f"spans do not tile the text at byte {pos}: {s}"
        pos = s["end"]
        i = s["message"]
        if i is None:
            continue
        seen[i] = seen.get(i, 0) + 1
        if i == len(messages):
            continue
        if "target_begin" in s:
            tb, te = s["target_begin"], s["target_end"]
            if not s["begin"] <= tb < te <= s["end"]:
                return f"target outside its turn: {s}"
            content = messages[i].get("content")
            if isinstance(content, str) and content.strip():
                c = content.strip()
                if "</think>" in c:
                    c = c.split("</think>")[-1].strip()
                turn = b[s["begin"]:s["end"]].decode("utf-8", "replace")
                if c in turn and c not in b[tb:te].decode("utf-8", "replace"):
                    return f"message {i}'s content is in its turn but not in its target: {s}"
    if pos != len(b):
        return f"spans end at byte {pos}, the text has {len(b)}"
    for i in range(len(messages)):
        if seen.get(i) != 1:
            return f"message {i} has {seen.get(i, 0)} spans"
    if seen.get(len(messages), 0) != (1 if gen else 0):
        return "generation prompt span missing or extra"
    return None


def check_reasoning_roundtrip(label, tmpl, flags, special):
    """--keep-reasoning renders a last turn's reasoning in its target; --parse splits it back.
    Returns (passed, problem): not applicable when transformers refuses the conversation."""
    msgs = [U("What is 17 * 3?"), A("51", "17 * 3 = 51.")]
    if isinstance(reference(msgs, tmpl, False, special=special), Exception):
        return False, None
    rc, out, err = chat_render(flags + ["--current-date", NOW_FLAG, "--keep-reasoning", "--spans"],
                               [{"messages": msgs}], "keep")
    if rc != 0:
        return True, f"exit {rc}: {err.strip()[:200]}"
    r = json.loads(out)
    b = r["text"].encode("utf-8")
    last = [s for s in r["spans"] if s["message"] == 1]
    if not last or "target_begin" not in last[0]:
        return True, "no target for the assistant turn"
    target = b[last[0]["target_begin"]:last[0]["target_end"]].decode("utf-8")
    rc, out, err = chat_render(flags + ["--parse", "completion"], [{"completion": target}], "parse")
    if rc != 0:
        return True, f"--parse exit {rc}: {err.strip()[:200]}"
    p = json.loads(out)
    if p["reasoning"] != "17 * 3 = 51." or p["answer"] != "51" or not p["parse_ok"]:
        return True, f"target {target!r} parses to reasoning {p['reasoning']!r}, answer {p['answer']!r}"
    return True, None


def check_templates():
    passed = failed = 0
    table = []
    for label, tmpl, flags, special in templates():
        same = refused = differ = span_bad = 0
        notes = []
        for gen in (False, True):
            expected = {}
            records = []
            for name, (msgs, extra) in CONVERSATIONS.items():
                expected[name] = reference(msgs, tmpl, gen, tools=extra.get("tools"), documents=extra.get("documents"),
                                           kwargs=extra.get("chat_template_kwargs"), special=special)
                records.append({"id": name, "messages": msgs, **extra})
            run = flags + ["--current-date", NOW_FLAG, "--spans"] + (["--add-generation-prompt"] if gen else [])
            ok_records = [r for r in records if not isinstance(expected[r["id"]], Exception)]
            rc, out, err = chat_render(run, ok_records, "tmpl")
            lines = [json.loads(x) for x in out.split("\n") if x] if rc == 0 else []
            if rc != 0:
                differ += len(ok_records)
                notes.append(f"gen={gen}: chat-render exit {rc}: {err.strip()[:300]}")
            for r, got in zip(ok_records, lines):
                exp = expected[r["id"]]
                if got["text"] != exp:
                    differ += 1
                    notes.append(f"{r['id']} gen={gen} differs {first_difference(exp, got['text'])}")
                    continue
                problem = check_spans(got["text"], got["spans"], r["messages"], gen)
                if problem:
                    span_bad += 1
                    notes.append(f"{r['id']} gen={gen} spans: {problem}")
                    continue
                same += 1
            for r in records:
                if not isinstance(expected[r["id"]], Exception):
                    continue
                rc, out, err = chat_render(run, [r], "err")
                path_named = ("chat template " in err) and (":" in err)
                if rc == 1 and not out and path_named:
                    refused += 1
                else:
                    differ += 1
                    notes.append(f"{r['id']} gen={gen}: transformers raised {type(expected[r['id']]).__name__}: "
                                 f"{expected[r['id']]} but chat-render exited {rc} ({err.strip()[:200]})")
        applies, roundtrip = check_reasoning_roundtrip(label, tmpl, flags, special)
        if roundtrip:
            notes.append(f"keep-reasoning/parse: {roundtrip}")
        passed += same + refused + (1 if applies and not roundtrip else 0)
        failed += differ + span_bad + (1 if roundtrip else 0)
        rt = "n/a (transformers raises)" if not applies else "FAILED" if roundtrip else "ok"
        table.append((label, same, refused, differ + span_bad, rt))
        for n in notes:
            print(f"FAIL {label}: {n}")
    print()
    print(f"{'template':55} {'identical':>9} {'error as transformers':>22} {'differ':>7}  reasoning round trip")
    for label, same, refused, bad, rt in table:
        print(f"{label:55} {same:>9} {refused:>22} {bad:>7}  {rt}")
    print(f"({len(CONVERSATIONS)} conversations x add_generation_prompt false/true per template)")
    return passed, failed


def main():
    if not os.path.isdir(TEMPLATES):
        raise RuntimeError(f"missing shared test data {TEMPLATES} (set DELIB_SHARED to the shared/ checkout)")
    p1, f1 = check_corpus()
    p2, f2 = check_templates()
    print(f"{p1 + p2} passed, {f1 + f2} failed")
    return 1 if f1 + f2 else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        print("0 passed, 1 failed")
        sys.exit(1)
