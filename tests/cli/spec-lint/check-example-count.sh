# Fewer labelled examples than --min-examples (a warning).
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair example-count warning "example-count-fail.md:4:1: warning: category 'alpha' has 2 labelled examples, fewer than --min-examples 3 [example-count]" --min-examples 3
