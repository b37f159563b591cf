# --format json: one plain JSONL record per diagnostic, also when stdout is a pipe.
cp "$CASE_DIR/fixtures/definition-unused-fail.md" "$CASE_DIR/fixtures/xref-fail.md" .
run spec-lint --format json definition-unused-fail.md xref-fail.md; expect_rc 1
expect_out '{"file":"definition-unused-fail.md","line":8,"col":5,"severity":"warning","message":"term '"'"'gizmo'"'"' is defined but not used elsewhere in '"'"'alpha'"'"'","check":"definition-unused"}
{"file":"xref-fail.md","line":14,"col":16,"severity":"error","message":"reference to unknown id '"'"'alpha.A7'"'"'","check":"xref"}'
run spec-lint --format json -o d.jsonl xref-fail.md; expect_rc 1; expect_out ""
[ "$(cat d.jsonl)" = '{"file":"xref-fail.md","line":14,"col":16,"severity":"error","message":"reference to unknown id '"'"'alpha.A7'"'"'","check":"xref"}' ] \
  || fail "-o file: $(cat d.jsonl)"
