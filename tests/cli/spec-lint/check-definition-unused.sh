# A term defined and never used (a warning).
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair definition-unused warning 'definition-unused-fail.md:8:5: warning: term '"'"'gizmo'"'"' is defined but not used elsewhere in '"'"'alpha'"'"' [definition-unused]'
