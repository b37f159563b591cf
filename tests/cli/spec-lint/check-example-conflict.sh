# The same prompt labelled comply once and refuse once.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair example-conflict error 'example-conflict-fail.md:17:5: error: example '"'"'alpha.E2'"'"' has the prompt of '"'"'alpha.E1'"'"' (line 16) with a different action (refuse vs comply) [example-conflict]'
