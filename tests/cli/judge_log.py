"""The test server's request log (tests/servers/openai_server.py --log DIR/log.jsonl), read by
the CLI cases that check what a tool sent its judge. A case imports it through lib.sh's `py`:

    py <<'PY' || fail "..."
    from judge_log import nonces, requests
    assert requests("a") == requests("b")
    PY
"""
import json
import re

# The judge prompt ends with the line the verdict must echo: VERDICT <16 hex digits>.
_VERDICT = re.compile(r"^VERDICT ([0-9a-f]{16})$", re.M)


def _entries(d):
    with open(f"{d}/log.jsonl") as f:
        return [json.loads(line) for line in f.read().splitlines()]


def nonces(d):
    """The quoting nonce of every judge request logged in D/log.jsonl (the last VERDICT line
    of its last message), sorted. A request without one fails an assertion naming it."""
    out = []
    for e in _entries(d):
        found = _VERDICT.findall(e["request"]["messages"][-1]["content"])
        assert found, e
        out.append(found[-1])
    return sorted(out)


def requests(d):
    """Every request logged in D/log.jsonl as canonical JSON (sorted keys), sorted: two runs
    sent the same requests, in whatever order, exactly when these lists are equal."""
    return sorted(json.dumps(e["request"], sort_keys=True) for e in _entries(d))
