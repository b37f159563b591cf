# A category the taxonomy names (here on line 3 of a text list) that the spec lacks.
source "$CASE_DIR/fixtures/lint-case.bash"
cp "$CASE_DIR/fixtures/taxonomy-fail.txt" "$CASE_DIR/fixtures/taxonomy-pass.jsonl" .
lint_pair taxonomy-missing error "taxonomy-fail.txt:3:1: error: category 'beta' is in the taxonomy but not in spec taxonomy-missing-fail.md [taxonomy-missing]" --taxonomy taxonomy-fail.txt
# Records name categories too (a string or an array; records without one are ignored), plain or zstd.
run spec-lint --werror --taxonomy taxonomy-pass.jsonl taxonomy-missing-fail.md; expect_rc 0; expect_out ""
printf '%s\n' '{"category":["alpha","gamma"]}' > t.jsonl
zstd -q t.jsonl -o t.jsonl.zst || fail "zstd failed"
[ "$(head -c 4 t.jsonl.zst | od -An -tx1 | tr -d ' ')" = 28b52ffd ] || fail "t.jsonl.zst is not zstd"
run spec-lint --taxonomy t.jsonl.zst taxonomy-missing-fail.md; expect_rc 1
expect_out "t.jsonl.zst:1:1: error: category 'gamma' is in the taxonomy but not in spec taxonomy-missing-fail.md [taxonomy-missing]"
printf '%s\n' '{"category":3}' > bad.jsonl
run spec-lint --taxonomy bad.jsonl taxonomy-missing-fail.md; expect_rc 1
expect_err_glob "spec-lint: bad.jsonl:1: field 'category': expected a string or an array of strings"
run spec-lint --taxonomy missing.txt taxonomy-missing-fail.md; expect_rc 3
