"""rl-train's rollout files, read by the CLI cases that kill a run and resume it. A case imports
it through lib.sh's `py`:

    py <<'PY' || fail "resumed rollouts differ"
    from rollouts import resumed_equal
    print("steps", resumed_equal("ref.jsonl", ["killed.jsonl", "resumed.jsonl"]), "identical")
    PY
"""
import json


def _rows(name):
    with open(name) as f:
        return [json.loads(line) for line in f if line.strip()]


def resumed_equal(ref, parts):
    """Asserts that the rollouts of `parts` (the killed run's file, then the resumed run's: a
    later file overrides the steps it redid after the kill) are those of the uninterrupted run
    `ref`, every field bit for bit, keyed by (step, id, sample). Returns the last step."""
    want = {(r["step"], r["id"], r["sample"]): r for r in _rows(ref)}
    got = {}
    for name in parts:
        for r in _rows(name):
            got[(r["step"], r["id"], r["sample"])] = r
    assert sorted(got) == sorted(want), (len(got), len(want))
    for key in want:
        assert got[key] == want[key], (key, got[key], want[key])
    return max(s for s, _, _ in want)
