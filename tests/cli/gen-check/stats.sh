# --stats FILE: the run's counters as JSON, written whole; a write that fails is exit 3 naming
# the file (it was ignored: a full disk left exit 0 and no counters).
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 7 >/dev/null 2>&1 || fail "tiny model"
echo '{"id":"a","prompt_ids":[1,2,3]}' > ids.jsonl
run gen-check --model model --temperature 0 --max-tokens 3 --plain ids.jsonl -o out.jsonl --stats stats.json
expect_rc 0
"$DELIB_PYTHON" -c "import json; s = json.load(open('stats.json')); assert s['requests'] == 1 and s['generated_tokens'] == 3, s" \
  || fail "stats.json"
[ ! -e stats.json.tmp ] || fail "stats.json.tmp left behind"
run gen-check --model model --temperature 0 --max-tokens 3 --plain ids.jsonl -o out.jsonl --stats /dev/full
expect_rc 3
expect_err_glob "gen-check: /dev/full: cannot write --stats: *"
run gen-check --model model --temperature 0 --max-tokens 3 --plain ids.jsonl -o out.jsonl --stats no/such/dir/stats.json
expect_rc 3
expect_err_glob "gen-check: no/such/dir/stats.json: cannot write --stats: No such file or directory"
