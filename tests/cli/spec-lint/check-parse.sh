# A section heading the format does not know is a parse error.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair parse error 'parse-fail.md:18:4: error: unknown section '"'"'## Styles'"'"' (expected '"'"'## Category: ID — Title'"'"', '"'"'## Style'"'"' or '"'"'## Helpfulness'"'"') [parse]'
