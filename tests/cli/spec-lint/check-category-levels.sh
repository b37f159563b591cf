# A category without levels.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair category-levels error 'category-levels-fail.md:27:1: error: category '"'"'beta'"'"' has no levels (add a '"'"'### Levels'"'"' list) [category-levels]'
