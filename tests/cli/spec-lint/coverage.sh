# --coverage: hand-written records against a hand-counted table (text, --format json, zstd,
# stdin), the plot, and bad input named as FILE:LINE: field.
# Hand count (fixtures/coverage-records.jsonl; flagged = judge.score < 7):
#   r1 alpha   cites alpha.A2, alpha.R1            judged 9
#   r2 alpha   cites alpha.A0 and the unknown alpha.A20 (xalpha.A1, alpha.a1, bare A1/R1 are
#              not citations)
#                                                  judged 3, rationale cites alpha.A0 -> named
#   r3 beta-x  cites beta-x.B1, beta-x.R1, alpha.R1, unknown alpha.Z9
#                                                  judged 5, rationale cites beta-x.R1 -> named
#   r4 beta-x  cites nothing (_alpha.A1, alpha.A1x) judge error
#   r5 gamma   cites alpha.E1 (the '.' after it ends the token)   not judged, category unknown
#   r6 alpha   no reasoning
#   r7 null    cites alpha.A2                      judged 7: not flagged (7 is not < 7)
cp "$CASE_DIR/fixtures/coverage-spec.md" spec.md
cp "$CASE_DIR/fixtures/coverage-records.jsonl" recs.jsonl
run spec-lint --coverage --spec spec.md recs.jsonl; expect_rc 0
expect_out "spec cov: 7 records read, 1 without reasoning; 4 judged (flagged: judge score < 7), 1 with a judge error; 1 citing no id
id          kind       cited  judged flagged   named
alpha       category       5   (2 records of this category)
  alpha.A0  level          1       1       1       1
  alpha.A1  level          0       0       0       0
  alpha.A2  level          2       2       0       0
  alpha.R1  rule           2       2       1       0
  alpha.E1  example        1       0       0       0
  alpha.E2  example        0       0       0       0
beta-x      category       1   (2 records of this category)
  beta-x.B0 level          0       0       0       0
  beta-x.B1 level          1       1       1       0
  beta-x.R1 rule           1       1       1       1
never cited (3): alpha.A1 alpha.E2 beta-x.B0
cited but not in the spec: alpha.A20 (1) alpha.Z9 (1)
categories not in the spec: gamma (1)"
expect_err_glob "spec-lint: 1 of 7 record(s) have no reasoning and were not counted"

# The same counts as JSON, checked field by field against the hand count; zstd input and
# stdin give the same.
run spec-lint --coverage --spec spec.md --format json recs.jsonl; expect_rc 0
printf '%s\n' "$out" > cov.json
"$DELIB_PYTHON" - <<'PY' || fail "json coverage"
import json
j = json.loads(open("cov.json").read())
assert j["format"] == "delib-spec-coverage" and j["version"] == 1 and j["spec"] == "cov", j
assert (j["records"], j["without_reasoning"], j["judged"], j["judge_errors"], j["citing_none"]) == (7, 1, 4, 1, 1), j
assert j["flag_below"] == 7
rows = {x["id"]: (x["kind"], x["cited"], x["judged"], x["flagged"], x["named"]) for c in j["categories"] for x in c["ids"]}
assert rows == {
    "alpha.A0": ("level", 1, 1, 1, 1), "alpha.A1": ("level", 0, 0, 0, 0), "alpha.A2": ("level", 2, 2, 0, 0),
    "alpha.R1": ("rule", 2, 2, 1, 0), "alpha.E1": ("example", 1, 0, 0, 0), "alpha.E2": ("example", 0, 0, 0, 0),
    "beta-x.B0": ("level", 0, 0, 0, 0), "beta-x.B1": ("level", 1, 1, 1, 0), "beta-x.R1": ("rule", 1, 1, 1, 1)}, rows
cats = {c["id"]: (c["records"], c["citing"]) for c in j["categories"]}
assert cats == {"alpha": (2, 5), "beta-x": (2, 1)}, cats
lines = {x["id"]: x["line"] for c in j["categories"] for x in c["ids"]}
assert lines["alpha.A0"] == 8 and lines["beta-x.R1"] == 24, lines
assert j["never_cited"] == ["alpha.A1", "alpha.E2", "beta-x.B0"], j["never_cited"]
assert j["unknown"] == {"alpha.A20": 1, "alpha.Z9": 1} and j["other_categories"] == {"gamma": 1}, j
PY
zstd -q recs.jsonl -o recs.jsonl.zst
run spec-lint --coverage --spec spec.md --format json recs.jsonl.zst; expect_rc 0
[ "$out" = "$(cat cov.json)" ] || fail "zstd input differs: $out"
run sh -c 'spec-lint --coverage --spec spec.md --format json - < recs.jsonl'; expect_rc 0
[ "$out" = "$(cat cov.json)" ] || fail "stdin differs: $out"
# --flag-below moves the threshold: at 8, r7 (score 7) is flagged for alpha.A2 and named.
run spec-lint --coverage --spec spec.md --flag-below 8 recs.jsonl; expect_rc 0
expect_out_has "  alpha.A2  level          2       2       1       1"

# The plot: one bar per cited id (width proportional to the count), the flagged part on top,
# the never-cited ids in grey; the look of safety-eval's Pareto plot (common/svg.h).
run spec-lint --coverage --spec spec.md recs.jsonl --plot cov.svg; expect_rc 0
"$DELIB_PYTHON" - <<'PY' || fail "coverage plot"
import xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse("cov.svg").getroot()
assert root.get("font-family") == "DejaVu Sans, Helvetica, Arial, sans-serif", root.attrib
ids = {g.get("data-id"): g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("data-id")}
assert len(ids) == 9, sorted(ids)
def width(g, cls):
    r = [x for x in g.findall("s:rect", ns) if x.get("class") == cls]
    return float(r[0].get("width")) if r else 0.0
unit = width(ids["alpha.A0"], "cited")
assert unit > 0 and abs(width(ids["alpha.A2"], "cited") - 2 * unit) < 0.02, (unit, width(ids["alpha.A2"], "cited"))
assert abs(width(ids["alpha.R1"], "flagged") - unit) < 0.02
assert width(ids["alpha.A1"], "cited") == 0 and "never cited" in "".join(ids["alpha.A1"].itertext())
PY

# Bad input: FILE:LINE and the field.
printf '%s\n' '{"id":"a","reasoning":"alpha.A0"}' '{"id":"b","reasoning":5}' > bad1.jsonl
run spec-lint --coverage --spec spec.md bad1.jsonl; expect_rc 1
expect_err_glob "spec-lint: bad1.jsonl:2: field 'reasoning': expected a string"
printf '%s\n' '{"id":"a","reasoning":"alpha.A0","judge":{"score":"high"}}' > bad2.jsonl
run spec-lint --coverage --spec spec.md bad2.jsonl; expect_rc 1
expect_err_glob "spec-lint: bad2.jsonl:1: field 'judge.score': expected a number"
printf '%s\n' '{"id":"a","reasoning":"alpha.A0","category":3}' > bad3.jsonl
run spec-lint --coverage --spec spec.md bad3.jsonl; expect_rc 1
expect_err_glob "spec-lint: bad3.jsonl:1: field 'category': expected a string or null"
printf '%s\n' '{"id":"a","reasoning":"alpha.A0"}' '{"id":"b",' > bad4.jsonl
run spec-lint --coverage --spec spec.md bad4.jsonl; expect_rc 1
expect_err_glob "spec-lint: bad4.jsonl:2: *"
# No record with reasoning: nothing was measured, which is a failure, not an empty table.
printf '%s\n' '{"id":"a","answer":"x"}' > none.jsonl
run spec-lint --coverage --spec spec.md none.jsonl; expect_rc 1
expect_err_glob "*no record with reasoning in 1 record(s)*"
# Usage errors.
run spec-lint --coverage recs.jsonl; expect_rc 2
expect_err_glob "*--coverage needs --spec FILE*"
run spec-lint --plot x.svg spec.md; expect_rc 2
run spec-lint --coverage --spec spec.md --render alpha recs.jsonl; expect_rc 2
# The lint options do not apply to --coverage: an error, not silently ignored.
run spec-lint --coverage --spec spec.md --werror recs.jsonl; expect_rc 2
expect_err_glob "*--coverage does not lint*"
run spec-lint --coverage --spec spec.md --disable xref recs.jsonl; expect_rc 2
