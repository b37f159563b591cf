# A bare reference to a level the category does not have.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair xref error 'xref-fail.md:14:16: error: reference to unknown id '"'"'alpha.A7'"'"' [xref]'
