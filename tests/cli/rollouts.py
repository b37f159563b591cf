"""rl-train's rollout files, read by the CLI cases that kill a run and resume it (resumed_equal)
or check the policy versions of --async draws (async_draw_versions). A case imports it through
lib.sh's `py`:

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


def async_draw_versions(rows):
    """Asserts the policy version of each rollout of an --async --drop-uniform-groups run (rows:
    rank 0's rollout file): step 1 sampled by version 0; at a later step k the first draw was
    prefetched while step k-1 trained (version k-2), further draws were sampled when needed by the
    policy served then (k-1). Returns how many rollouts came from further draws after step 1 (0:
    those versions were not checked)."""
    further = 0
    for r in rows:
        k = r["step"]
        want = 0 if k == 1 else (k - 2 if r["draw"] == 0 else k - 1)
        assert r["policy_version"] == want, r
        further += k > 1 and r["draw"] > 0
    return further
