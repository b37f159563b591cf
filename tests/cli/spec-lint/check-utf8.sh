# A byte that is not UTF-8; the column counts characters.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair utf8 error 'utf8-fail.md:24:6: error: invalid UTF-8 byte [utf8]'
