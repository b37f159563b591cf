# An example whose action contradicts its level's.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair example-action error 'example-action-fail.md:16:11: error: example '"'"'alpha.E1'"'"' expects '"'"'refuse'"'"' but its level '"'"'alpha.A0'"'"' says '"'"'comply'"'"' [example-action]'
