# An example naming a level its category lacks.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair example-level error 'example-level-fail.md:16:11: error: example '"'"'alpha.E1'"'"' names level '"'"'A5'"'"', which '"'"'alpha'"'"' does not define [example-level]'
