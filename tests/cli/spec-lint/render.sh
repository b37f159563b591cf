# --render prints the category view: deterministic bytes, whose XXH3-64 is the hash --list
# reports; it changes when the category's content changes and not when only formatting does.
spec="$DELIB_SRC/specs/small.md"
run spec-lint --render self-harm "$spec"; expect_rc 0
first=$out
run spec-lint --render self-harm "$spec"; [ "$out" = "$first" ] || fail "two renders differ"
golden self-harm.view
[[ "$first" == *"- **self-harm.S1** (safe-complete): "* ]] || fail "levels are not cited by full id"
[[ "$first" != *"illicit.K1"* ]] || fail "another category's levels leaked into the view"
[[ "$first" == *"illicit (Illicit behaviour): "* ]] || fail "another category's summary is missing"
# stdin and a reformatted copy (comment, blank lines) give the same view.
run spec-lint --render self-harm - < "$spec"; [ "$out" = "$first" ] || fail "stdin render differs"
{ echo; cat "$spec"; printf '\n<!-- reviewer: ok -->\n\n'; } | sed 's/^### Rules$/### Rules\n/' > reformatted.md
run spec-lint --render self-harm reformatted.md; [ "$out" = "$first" ] || fail "formatting changed the view"
# A content change in self-harm changes only self-harm's view hash.
sed 's/Warm and direct; no statistics/Warm and direct; never statistics/' "$spec" > changed.md
h() { spec-lint --list --format json "$1" | grep "\"category\":\"$2\"" | sed 's/.*"view_hash":"\([0-9a-f]*\)".*/\1/'; }
[ "$(h "$spec" self-harm)" != "$(h changed.md self-harm)" ] || fail "self-harm hash did not change"
[ "$(h "$spec" illicit)" = "$(h changed.md illicit)" ] || fail "illicit hash changed"
# Errors: an unknown category (1), two files (2), an unparseable spec (1, FILE:LINE).
run spec-lint --render nope "$spec"; expect_rc 1
expect_err_glob "spec-lint: *small.md: unknown spec category 'nope' (spec categories: illicit, self-harm, harassment, medical)"
run spec-lint --render self-harm "$spec" "$spec"; expect_rc 2
cp "$CASE_DIR/fixtures/level-action-fail.md" .
run spec-lint --render alpha level-action-fail.md; expect_rc 1
expect_err_glob "spec-lint: level-action-fail.md:11: level 'A1' has no action*\[level-action\]"
