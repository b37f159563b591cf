# Level numbers that go down.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair level-order error 'level-order-fail.md:12:5: error: levels out of order: '"'"'A2'"'"' comes after '"'"'A9'"'"' (list levels from allowed to disallowed, numbers increasing) [level-order]'
