# Command-line errors exit 2, unreadable files 3; --list-checks and --help exit 0.
run spec-lint; expect_rc 2
expect_err_glob "spec-lint: no spec file given*"
run spec-lint --disable no-such-check "$DELIB_SRC/specs/small.md"; expect_rc 2
run spec-lint --list --examples "$DELIB_SRC/specs/small.md"; expect_rc 2
run spec-lint --format yaml "$DELIB_SRC/specs/small.md"; expect_rc 2
run spec-lint missing.md; expect_rc 3
expect_err_glob "spec-lint: missing.md: cannot open spec*"
run spec-lint --list-checks; expect_rc 0
for c in parse utf8 id-malformed id-duplicate category-summary category-levels level-action level-order \
         style-missing xref example-level example-action example-conflict empty definition-unused \
         view-budget taxonomy-missing example-count; do
  [[ "$out" == *"$c "* ]] || fail "--list-checks lacks $c"
  [ -f "$CASE_DIR/check-$c.sh" ] || fail "no golden case for check $c"
done
run spec-lint --help; expect_rc 0; expect_out_has "--max-view-tokens"
# The shipped specs lint clean, warnings included, and stdin works.
run spec-lint --werror --min-examples 5 "$DELIB_SRC/specs/default.md" "$DELIB_SRC/specs/small.md"; expect_rc 0; expect_out ""
run spec-lint --werror - < "$DELIB_SRC/specs/small.md"; expect_rc 0
