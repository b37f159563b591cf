# A level's action with no '### ACTION' under '## Style'.
source "$CASE_DIR/fixtures/lint-case.bash"
lint_pair style-missing error 'style-missing-fail.md:11:11: error: action '"'"'safe-complete'"'"' (used by '"'"'alpha.A1'"'"') has no style guideline: add '"'"'### safe-complete'"'"' under '"'"'## Style'"'"' [style-missing]'
