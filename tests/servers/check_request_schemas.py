#!/usr/bin/env python3
"""Checks the HTTP requests delib sends, and the answer fields it reads, against the request and
response schemas of real vLLM and SGLang releases: tests/servers/server_schemas.json, extracted
from their source by extract_server_schemas.py (versions and source files in the fixture).

    check_request_schemas.py [--fixture F] [--self-test] [LOG...]

LOG: JSON lines {"path", "request"} as written by openai_server.py --log and
schema_server.py --log (the bodies delib sent). Each body is validated for every server whose
fixture has that endpoint (a path under /v1 that only one server has is checked for that one):
  - every field must be one the request class has (or one the IGNORED table below names with
    the reason that server's extra-field handling makes it harmless);
  - required fields present; each value of the declared type, validated by pydantic models built
    from the fixture's annotations in strict JSON mode (1.0 is no int, true no int, "1" no
    number), with the declared Field constraints (prompt ids >= 0, seed within int64);
  - the value rules of the servers' validators that a type cannot say (RULES);
  - a token-id rollout request asks that server for the sampled ids in a way it honours
    (TOKEN_IDS).
--self-test checks that the answer fields delib reads (READS) are in the response classes,
that delib's source still reads them, and that the check rejects bodies it must reject (an
unknown field, in a rollout or a /pooling request, a wrong type, a negative token id, a value
rule): a check that cannot fail is no check. Exits 1 on any failure; prints 'N passed, N failed'.
"""
import argparse
import json
import os
import sys
import typing

import pydantic
import pydantic_core
from pydantic import ConfigDict, Field, create_model

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(HERE, "server_schemas.json")

# Fields delib sends that one server's schema lacks, accepted only with the reason they are
# harmless there: that server ignores unknown fields (the fixture's "extra" is checked too).
IGNORED = {
    ("sglang", "POST /v1/completions", "return_tokens_as_token_ids"):
        "vLLM's switch for 'token_id:N' tokens; SGLang ignores it (extra 'ignore') and gives the "
        "sampled ids with return_token_ids (choices[].token_ids), which delib sends too",
}

# Value rules of the servers' validators, copied by hand from the fixture's releases (the type
# cannot say them; vllm/sampling_params.py, the protocol files' model validators):
# (server, endpoint, field, predicate, what the server requires, where).
RULES = [
    ("vllm", "POST /v1/completions", "logprobs", lambda v: v is None or v >= 0 or v == -1,
     ">= 0 or -1", "CompletionRequest.check_logprobs"),
    ("vllm", "POST /v1/completions", "logprobs", lambda v: v is None or v <= 20,
     "<= 20, the server's default --max-logprobs", "vllm/config/model.py max_logprobs"),
    ("vllm", "POST /v1/completions", "prompt", lambda v: v not in (None, "", []),
     "non-empty", "CompletionRequest.validate_prompt_and_prompt_embeds"),
    ("vllm", "POST /v1/chat/completions", "top_logprobs", lambda v: v is None or 0 <= v <= 20,
     "0..20", "ChatCompletionRequest.check_logprobs"),
    ("sglang", "POST /v1/completions", "max_tokens", lambda v: v is None or v > 0,
     "> 0", "CompletionRequest.validate_max_tokens_positive"),
    ("vllm", "*", "temperature", lambda v: v is None or 0 <= v <= 2, "in [0, 2]",
     "SamplingParams._verify_args"),
    ("vllm", "*", "max_tokens", lambda v: v is None or v >= 1, ">= 1", "SamplingParams._verify_args"),
    ("vllm", "*", "top_p", lambda v: v is None or 0 < v <= 1, "in (0, 1]", "SamplingParams._verify_args"),
    ("vllm", "*", "min_p", lambda v: v is None or 0 <= v <= 1, "in [0, 1]", "SamplingParams._verify_args"),
    ("vllm", "*", "top_k", lambda v: v is None or v in (-1, 0) or v >= 1, "-1, 0 or >= 1",
     "SamplingParams._verify_args"),
]

# A rollout request (a token-id prompt with logprobs) must get the sampled ids back from each
# server: the request fields that make it return them, and where delib then reads them.
TOKEN_IDS = {
    "vllm": {"return_tokens_as_token_ids": "choices[].logprobs.tokens ('token_id:N')",
             "return_token_ids": "choices[].token_ids"},
    "sglang": {"return_token_ids": "choices[].token_ids"},
}

# The answer fields delib reads: (endpoint, path, servers that must have it, the C++ file that
# reads it). "a|b": either name (delib reads both). Paths: "x[]" is each element of list x.
READS = [
    ("POST /v1/completions", "choices[].text", ("vllm", "sglang"), "lib/src/backend/openai.cpp"),
    ("POST /v1/completions", "choices[].finish_reason", ("vllm", "sglang"), "lib/src/backend/openai.cpp"),
    ("POST /v1/completions", "choices[].logprobs.tokens", ("vllm", "sglang"), "lib/src/backend/openai.cpp"),
    ("POST /v1/completions", "choices[].logprobs.token_logprobs", ("vllm", "sglang"), "lib/src/backend/openai.cpp"),
    ("POST /v1/completions", "choices[].token_ids", ("vllm", "sglang"), "lib/src/backend/openai.cpp"),
    ("POST /v1/completions", "usage.prompt_tokens", ("vllm", "sglang"), "lib/src/backend/openai.cpp"),
    ("POST /v1/completions", "usage.completion_tokens", ("vllm", "sglang"), "lib/src/backend/openai.cpp"),
    ("POST /v1/chat/completions", "choices[].message.content", ("vllm", "sglang"), "lib/src/backend/openai.cpp"),
    ("POST /v1/chat/completions", "choices[].message.reasoning_content|reasoning", ("vllm", "sglang"),
     "lib/src/backend/openai.cpp"),
    ("POST /v1/chat/completions", "choices[].finish_reason", ("vllm", "sglang"), "lib/src/backend/openai.cpp"),
    ("POST /v1/chat/completions", "choices[].logprobs.content[].logprob", ("vllm", "sglang"),
     "lib/src/backend/openai.cpp"),
    ("POST /v1/chat/completions", "usage.prompt_tokens", ("vllm", "sglang"), "lib/src/backend/openai.cpp"),
    ("POST /score", "data[].score", ("vllm",), "lib/src/rl/rewards.cpp"),
    ("POST /pooling", "data[].data", ("vllm",), "lib/src/rl/rewards.cpp"),
    ("POST /update_weights_from_disk", "success", ("sglang",), "lib/src/rl/weight_sync.cpp"),
    ("POST /update_weights_from_disk", "message", ("sglang",), "lib/src/rl/weight_sync.cpp"),
]


class _UnknownMeta(type):
    def __getattr__(cls, a):  # envs.VLLM_MAX_STOP_STRINGS: a server setting, no constraint here
        if a.startswith("__"):
            raise AttributeError(a)
        return None

    def __getitem__(cls, k):
        return typing.Any

    def __call__(cls, *a, **k):
        return typing.Any


class Unknown(metaclass=_UnknownMeta):
    """A name outside the fixture (OpenAI's message params, a custom validator): any value."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        return pydantic_core.core_schema.any_schema()


class Fixture:
    def __init__(self, path=FIXTURE):
        with open(path, encoding="utf-8") as f:
            self.data = json.load(f)
        self.servers = self.data["servers"]
        self._models = {}

    def version(self, server):
        return f"{server} {self.servers[server]['version']}"

    def endpoint(self, server, ep):
        return self.servers[server]["endpoints"].get(ep)

    def cls(self, server, name):
        return self.servers[server]["classes"][name]

    def servers_for(self, ep):
        return [s for s in self.servers if ep in self.servers[s]["endpoints"]]

    def model(self, server, name):
        """A pydantic model of fixture class `name`: its fields (by their JSON names), types and
        constraints, unknown fields forbidden (reported separately, with the IGNORED table)."""
        key = (server, name)
        if key in self._models:
            return self._models[key]
        c = self.cls(server, name)
        fx = self

        class Names(dict):  # annotation names: typing, the fixture's classes, else Any
            def __missing__(self, n):
                if n in fx.servers[server]["classes"] and n != name:
                    return fx.model(server, n)
                if hasattr(typing, n):
                    return getattr(typing, n)
                return Unknown

        ns = Names(Field=Field, Annotated=typing.Annotated, Literal=typing.Literal, int=int, float=float,
                   str=str, bool=bool, bytes=bytes, list=list, dict=dict, tuple=tuple, set=set, object=object)
        fields = {}
        for i, (fname, f) in enumerate(c["fields"].items()):
            t = eval(f["type"], {"__builtins__": {"None": None}}, ns)
            cons = {k: v for k, v in f.get("constraints", {}).items()
                    if k != "alias" and isinstance(v, (int, float))}
            jname = f.get("constraints", {}).get("alias", fname)
            default = ... if f["required"] else None
            fields[f"f{i}"] = (t, Field(default, alias=jname, **cons))
        m = create_model(f"{server}_{name}", __config__=ConfigDict(extra="forbid", protected_namespaces=()),
                         **fields)
        self._models[key] = m
        return m

    def field_names(self, server, name):
        return {f.get("constraints", {}).get("alias", n) for n, f in self.cls(server, name)["fields"].items()}


def check_body(fx, server, ep, body, as_server=False):
    """The problems of request `body` for endpoint `ep` of `server` ([] when it is valid).
    as_server: only what the real server rejects (400): no unknown-field or TOKEN_IDS check."""
    e = fx.endpoint(server, ep)
    if e is None:
        return [f"{fx.version(server)} has no {ep}"]
    if not isinstance(body, dict):
        return [f"{ep}: the body is not a JSON object"]
    tried = []
    for name in e["request"]:  # a union (vLLM's ScoreRequest): valid when one member accepts it
        problems = []
        c = fx.cls(server, name)
        known = fx.field_names(server, name)
        unknown = sorted(set(body) - known)
        required = {f.get("constraints", {}).get("alias", n) for n, f in c["fields"].items() if f["required"]}
        if len(e["request"]) > 1 and not required <= set(body):
            tried.append(f"{name}: lacks {sorted(required - set(body))}")
            continue
        for u in [] if as_server else unknown:
            why = IGNORED.get((server, ep, u))
            if why is None:
                problems.append(f"field '{u}' is not in {name} ({c['source']}; unknown fields are "
                                f"'{c['extra']}' there)")
            elif c["extra"] == "forbid":
                problems.append(f"field '{u}' is listed as ignored, but {name} forbids unknown fields")
        clean = {k: v for k, v in body.items() if k in known}
        try:
            fx.model(server, name).model_validate_json(json.dumps(clean), strict=True)
        except pydantic.ValidationError as err:
            for x in err.errors():
                loc = ".".join(str(p) for p in x["loc"])
                problems.append(f"{loc}: {x['msg']} (got {json.dumps(x.get('input'))[:80]})")
        for s, rep, field, ok, want, where in RULES:
            if s == server and rep in (ep, "*") and field in body:
                try:
                    good = ok(body[field])
                except TypeError:
                    good = False
                if not good:
                    problems.append(f"{field}: {json.dumps(body[field])} is not {want} ({where})")
        if (not as_server and ep == "POST /v1/completions" and isinstance(body.get("prompt"), list)
                and body.get("logprobs") is not None and server in TOKEN_IDS):
            asks = [f for f in TOKEN_IDS[server] if body.get(f) is True and f in known]
            if not asks:
                problems.append(f"a token-id rollout request asks {fx.version(server)} for none of "
                                f"{sorted(TOKEN_IDS[server])}: its answer would not carry the sampled ids")
        if not problems:
            return []
        tried.append(f"{name}: " + "; ".join(problems))
    return tried


def resolve_path(fx, server, cls, path):
    """Whether response class `cls` of `server` has `path` ('choices[].logprobs.tokens')."""
    parts = path.replace("[]", "").split(".")
    cur = [cls]
    for k, part in enumerate(parts):
        names = part.split("|")
        nxt, found = [], False
        for c in cur:
            fields = fx.cls(server, c)["fields"]
            for n in names:
                if n in fields:
                    found = True
                    t = fields[n]["type"]
                    nxt += [x for x in fx.servers[server]["classes"] if _mentions(t, x)]
        if not found:
            return False
        if k < len(parts) - 1 and not nxt:
            return False
        cur = nxt
    return True


def _mentions(t, name):
    import re
    return re.search(rf"\b{name}\b", t) is not None


def endpoint_for(fx, path):
    """The fixture endpoint key of a logged request path ('/v1/score' and '/score' both exist)."""
    return f"POST {path}"


class Counter:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}")


def self_test(fx, t):
    for s in fx.servers:
        d = fx.servers[s]
        t.check(d.get("version") and d.get("source"), f"{s}: the fixture names no version or source")
    # every request and response class of the fixture is a usable model (annotations evaluable)
    for s in fx.servers:
        for ep, e in fx.servers[s]["endpoints"].items():
            for name in e["request"] + ([e["response"]] if "response" in e else []):
                try:
                    fx.model(s, name)
                    ok = True
                except Exception as err:  # noqa: BLE001 (reported as a failure)
                    ok, name = False, f"{name}: {err}"
                t.check(ok, f"{fx.version(s)} {ep}: no model for {name}")
    # the answer fields delib reads
    for ep, path, servers, cpp in READS:
        for s in servers:
            e = fx.endpoint(s, ep)
            ok = e is not None and "response" in e and resolve_path(fx, s, e["response"], path)
            t.check(ok, f"{fx.version(s)} {ep}: the answer has no {path}, which {cpp} reads")
        with open(os.path.join(SRC, cpp), encoding="utf-8") as f:
            text = f.read()
        last = path.rsplit(".", 1)[-1].replace("[]", "")
        t.check(any(f'"{n}"' in text for n in last.split("|")),
                f"{cpp} no longer reads \"{last}\": update READS in {__file__}")
    # the check rejects what it must
    rollout = {"model": "m", "prompt": [1, 2, 3], "n": 1, "max_tokens": 8, "temperature": 1.0, "top_p": 1.0,
               "seed": 7, "logprobs": 1, "return_tokens_as_token_ids": True, "return_token_ids": True}
    for s in ("vllm", "sglang"):
        t.check(check_body(fx, s, "POST /v1/completions", rollout) == [],
                f"{s}: a valid rollout request is rejected: {check_body(fx, s, 'POST /v1/completions', rollout)}")
    # rl-train's helpful reward from vLLM's Pooling API (lib/src/rl/rewards.cpp PoolingReward):
    # PoolingRequest is a union; this body is its PoolingChatRequest member
    pooling = {"model": "m", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    t.check(check_body(fx, "vllm", "POST /pooling", pooling) == [],
            f"vllm /pooling: a chat pooling request is rejected: {check_body(fx, 'vllm', 'POST /pooling', pooling)}")
    bad = [
        ({**rollout, "no_such_field": 1}, "vllm", "an unknown field"),
        ({**rollout, "no_such_field": 1}, "sglang", "an unknown field"),
        ({**rollout, "prompt": [1, -2]}, "vllm", "a negative token id"),
        ({**rollout, "logprobs": True}, "vllm", "logprobs true (an int field)"),
        ({**rollout, "logprobs": 1.5}, "sglang", "logprobs 1.5"),
        ({**rollout, "max_tokens": "8"}, "vllm", "max_tokens as a string"),
        ({**rollout, "seed": 2**63}, "vllm", "a seed beyond int64"),
        ({**rollout, "logprobs": -2}, "vllm", "logprobs -2 (check_logprobs)"),
        ({**rollout, "max_tokens": 0}, "sglang", "max_tokens 0 (validate_max_tokens_positive)"),
        ({**rollout, "temperature": 2.5}, "vllm", "temperature 2.5 (SamplingParams: [0, 2])"),
        ({**{k: v for k, v in rollout.items() if k != "return_token_ids"}}, "sglang",
         "a rollout request without return_token_ids (no sampled ids from SGLang)"),
        ({"lora_name": "a"}, "vllm", "a LoRA load without lora_path", "POST /v1/load_lora_adapter"),
        ({"model_path": 3}, "sglang", "model_path 3", "POST /update_weights_from_disk"),
        ({"model": "m", "text_1": "q"}, "vllm", "a score request without text_2", "POST /score"),
        ({**pooling, "no_such_field": 1}, "vllm", "an unknown field in a pooling request", "POST /pooling"),
        ({**pooling, "messages": "q"}, "vllm", "pooling messages as a string", "POST /pooling"),
        ({"model": "m"}, "vllm", "a pooling request with neither messages nor input", "POST /pooling"),
    ]
    for b in bad:
        body, s, what = b[:3]
        ep = b[3] if len(b) > 3 else "POST /v1/completions"
        t.check(check_body(fx, s, ep, body) != [], f"{s} {ep}: the check accepted {what}")
    t.check(check_body(fx, "vllm", "POST /score", {"model": "m", "text_1": "q", "text_2": "a"}) == [],
            "vllm /score: a text_1/text_2 request is rejected")


def check_logs(fx, t, logs):
    n = 0
    seen = set()
    for log in logs:
        with open(log, encoding="utf-8") as f:
            for line in f:
                e = json.loads(line)
                if "request" not in e or "path" not in e:
                    continue
                ep = endpoint_for(fx, e["path"])
                servers = fx.servers_for(ep)
                t.check(servers != [], f"{log}: delib called {ep}, which neither server has")
                for s in servers:
                    problems = check_body(fx, s, ep, e["request"])
                    t.check(problems == [], f"{fx.version(s)} {ep}: {json.dumps(e['request'])[:300]}\n  "
                                            + "\n  ".join(problems))
                    seen.add((s, ep))
                n += 1
    print(f"checked {n} request bodies: " + ", ".join(f"{s} {ep}" for s, ep in sorted(seen)))
    return seen


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fixture", default=FIXTURE)
    p.add_argument("--self-test", action="store_true")
    p.add_argument("--expect", action="append", default=[],
                   help="'SERVER POST /path': fail unless the logs held a body for it")
    p.add_argument("logs", nargs="*")
    a = p.parse_args()
    fx = Fixture(a.fixture)
    print("schemas: " + ", ".join(fx.version(s) for s in fx.servers))
    t = Counter()
    if a.self_test:
        self_test(fx, t)
    seen = check_logs(fx, t, a.logs) if a.logs else set()
    for x in a.expect:
        s, ep = x.split(" ", 1)
        t.check((s, ep) in seen, f"no request body for {s} {ep} was captured")
    print(f"{t.passed} passed, {t.failed} failed")
    sys.exit(1 if t.failed or not t.passed else 0)


if __name__ == "__main__":
    main()
