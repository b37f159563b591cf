# A level without '(ACTION)'.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair level-action error 'level-action-fail.md:11:5: error: level '"'"'A1'"'"' has no action: write '"'"'- **A1** (comply|safe-complete|refuse): ...'"'"' [level-action]'
