# A view over the character budget (the helpfulness section is in every view).
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair view-budget error "view-budget-fail.md:4:1: error: view of 'alpha' is 1040 characters, over --max-view-chars 800 [view-budget]" --max-view-chars 800
# The budget is inclusive: exactly the view's size passes.
run spec-lint --max-view-chars 1040 view-budget-fail.md; expect_rc 0
run spec-lint --max-view-chars 1039 view-budget-fail.md; expect_rc 1
