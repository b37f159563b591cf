# The quickstart's reading check on spec views never in the base model's corpus (make
# views-check, examples/quickstart): 18 specs with every category's level lines in reverse
# order (with their descriptions, or with the descriptions left in place), so the 72 category
# views cot-gen shows are new. Asserts that the absence is checked (world.py's
# audit fails when the corpus does hold such a view), that the views cot-gen sees (delib's own
# rendering) are the ones audited, and that the check was computed on every record; not the
# accuracy it reaches (README.md reports it).
QS=$DELIB_SRC/examples/quickstart
PY=${DELIB_PYTHON:-python3}
# The audit can fail: a corpus holding one reversed level list, or lacking one of the 36 views.
"$PY" - "$QS" <<'PY' || fail "the corpus audit does not catch what it claims to"
import sys
sys.path.insert(0, sys.argv[1]); import world
good = world.build_corpus
def with_reversed(*a):
    recs, recs2, checks = good(*a)
    s = world.real_spec()
    recs2 = recs2 + [{"messages": [{"role": "system", "content": world.reversed_view(s, "medical")},
                                   {"role": "user", "content": "x"}], "reasoning": "", "answer": "Done."}]
    return recs, recs2, checks
def without_view(*a):
    recs, recs2, checks = good(*a)
    s = world.real_spec(); s["harassment"] = ["refuse", "comply"]
    v = world.render_view(s, "harassment")
    drop = lambda rs: [r for r in rs if not any(v in m["content"] for m in r.get("messages", []))]
    return drop(recs), drop(recs2), checks
for bad in (with_reversed, without_view):
    world.build_corpus = bad
    try:
        world.audit(1)
    except AssertionError as e:
        print(bad.__name__, "caught:", str(e)[:80])
    else:
        sys.exit(f"{bad.__name__}: audit passed")
world.build_corpus = good
print(world.audit(1)[1])
PY
run make -s -C "$QS" views-check WORK="$PWD/w" BIN="$DELIB_BIN" PY="$PY"
expect_rc 0
# delib renders each check spec's views exactly as world.py audited them.
for k in 0 4 8 9 13 17; do
  for c in illicit self-harm harassment medical; do
    run spec-lint --render "$c" "w/views/spec$k.md"
    printf '%s\n' "$out" > "view-$k-$c.txt"
  done
done
"$PY" - "$QS" w <<'PY' || fail "views check: $(cat w/views-check.json)"
import json, re, sys
sys.path.insert(0, sys.argv[1]); import world
d = sys.argv[2]
_, held = world.split_combos(1)
for k in (0, 4, 8, 9, 13, 17):
    text = open(f"{d}/views/spec{k}.md").read()
    for c in world.CATEGORIES:
        acts = {lv: a for lv, a in re.findall(r"^- \*\*([A-Z][0-9])\*\* \(([a-z-]+)\)", text, re.M)}
        s = {cc: [acts[lv] for lv, _, _ in world.CATEGORIES[cc][2]] for cc in world.CATEGORIES}
        delib = open(f"view-{k}-{c}.txt").read().rstrip("\n")
        assert delib == world.reversed_view(s, c, keep_desc=k >= 9).rstrip("\n"), (k, c, delib)
res = json.load(open(f"{d}/views-check.json"))
print(res)
out = [json.loads(l) for l in open(f"{d}/views.jsonl")]
n = 18 * len(held)
assert res["n"] == len(out) == n == 936, (res, len(out))
assert all(r.get("answer") for r in out), [r for r in out if not r.get("answer")][:2]
g = res["by_group"]
assert sorted(g) == [f + a for f in ("reversed", "reversed-ids") for a in (", actions differ", ", same actions")], g
assert sum(x["n"] for x in g.values()) == n and min(x["n"] for x in g.values()) > 0, g
assert res["k"] == sum(x["k"] for x in g.values()) and res["action_accuracy"] == res["k"] / n, res
for x in [res, *g.values()]:
    assert 0 <= x["lo"] <= x["value"] + 1e-9 and x["value"] - 1e-9 <= x["hi"] <= 1, x
PY
