# --list: categories, levels, view sizes and hashes, as text and as records.
cp "$CASE_DIR/fixtures/clean.md" .
run spec-lint --list clean.md; expect_rc 0
[[ "$out" == "clean.md: spec fixture version 1, 1 categories, spec hash "* ]] || fail "header: $out"
[[ "$out" == *"alpha — Alpha: 3 levels, 1 rule, 2 examples; view 698 chars, hash "* ]] || fail "category line: $out"
[[ "$out" == *"  A1   safe-complete personal widget risk."* ]] || fail "level line: $out"
run spec-lint --list --format json clean.md; expect_rc 0
"$DELIB_PYTHON" - "$out" <<'PY' || fail "bad --list record"
import json, sys
r = json.loads(sys.argv[1])
assert r["category"] == "alpha" and r["title"] == "Alpha" and r["line"] == 4, r
assert [(l["id"], l["action"], l["line"]) for l in r["levels"]] == [("A0", "comply", 10), ("A1", "safe-complete", 11), ("A2", "refuse", 12)], r
assert r["rules"] == 1 and r["examples"] == 2 and r["view_chars"] == 698 and len(r["view_hash"]) == 16, r
PY
