# --import turns each benchmark file into eval records (counts from the folders' SOURCE.md).
B="$DELIB_SHARED/data/bench"
count() { jsonl-cat --count "$1"; }
safety-eval --import xstest "$B/xstest/xstest_prompts.csv" -o xstest.jsonl
[ "$(count xstest.jsonl)" = 450 ] || fail "xstest rows"
[ "$(jsonl-cat --count --where 'label=="unsafe"' xstest.jsonl)" = 200 ] || fail "xstest unsafe"
safety-eval --import strongreject "$B/strongreject/strongreject_dataset.csv" -o sr.jsonl
[ "$(count sr.jsonl)" = 313 ] || fail "strongreject rows"
safety-eval --import advbench "$B/advbench/harmful_behaviors.csv" -o adv.jsonl
[ "$(count adv.jsonl)" = 520 ] || fail "advbench rows"
safety-eval --import harmbench "$B/harmbench/harmbench_behaviors_text_test.csv" "$B/harmbench/harmbench_behaviors_text_val.csv" -o hb.jsonl
[ "$(count hb.jsonl)" = 400 ] || fail "harmbench test+val rows"
# Same input, same bytes.
safety-eval --import xstest "$B/xstest/xstest_prompts.csv" -o again.jsonl
cmp -s xstest.jsonl again.jsonl || fail "import is not deterministic"
# Errors: unknown benchmark is a usage error; a file of the wrong benchmark names the column.
run safety-eval --import nope "$B/advbench/harmful_behaviors.csv"; expect_rc 2
run safety-eval --import strongreject "$B/advbench/harmful_behaviors.csv" -o x.jsonl; expect_rc 1
expect_err_glob "safety-eval: *harmful_behaviors.csv:1: missing column 'category'*"
run safety-eval --import advbench missing.csv -o x.jsonl; expect_rc 3
