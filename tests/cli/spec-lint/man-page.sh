# man/delib-spec.5 documents every check spec-lint has, and its EXAMPLE spec lints clean.
page="$DELIB_SRC/man/delib-spec.5"
for c in $(spec-lint --list-checks | cut -d' ' -f1); do
  grep -q "^\.B ${c//-/\\\\-}\$" "$page" || fail "delib-spec(5) does not document check $c"
done
# The EXAMPLE section with roff escapes undone.
sed -n '/^\.SH EXAMPLE/,/^\.SH SEE ALSO/p' "$page" | sed '1,2d;$d' | sed '$d' \
  | sed 's/\\-/-/g; s/\\(em/—/g; s/^\\&//' > example.md
run spec-lint --werror --min-examples 2 example.md; expect_rc 0; expect_out ""
run spec-lint --list example.md; expect_out_has "illicit — Illicit behaviour: 2 levels, 1 rule, 2 examples"
