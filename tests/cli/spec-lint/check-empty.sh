# A rule with no text.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair empty error 'empty-fail.md:14:5: error: rule '"'"'alpha.R1'"'"' has no text [empty]'
