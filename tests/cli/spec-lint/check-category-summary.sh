# A category without a '### Summary'.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair category-summary error 'category-summary-fail.md:4:1: error: category '"'"'alpha'"'"' has no summary (write a one-paragraph '"'"'### Summary'"'"'; every view lists it) [category-summary]'
