# A level id that is not capital letters then digits.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair id-malformed error 'id-malformed-fail.md:12:5: error: malformed id '"'"'a2'"'"': use capital letters then digits ([A-Z]+[0-9]+, e.g. S2, R1, E3) [id-malformed]'
