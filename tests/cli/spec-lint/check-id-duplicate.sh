# A rule reusing a level's id within the same category.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair id-duplicate error 'id-duplicate-fail.md:14:5: error: duplicate id '"'"'alpha.A1'"'"' (level on line 11) [id-duplicate]'
