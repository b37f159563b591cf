# Failed samples under --on-error skip are counted against --max-failures (default 0): the run
# writes what succeeded, says how many failed, and exits 4 when over the budget or when no
# sample got a result (a dead server is never a green run).
source "$DELIB_SRC/tests/servers/server.sh"
spec="$DELIB_SRC/specs/small.md"
for i in 0 1 2 3 4 5 6 7; do printf '{"id":"r%d","prompt":"question %d","category":"medical"}\n' $i $i; done > in.jsonl
# Every other request or so answers 500; one request in flight and no retries make the pattern
# the same on every run.
start_server flaky --fault-rate 0.5 --fault-seed 3 --faults 500 --max-faults-per-request 100
args=(--spec "$spec" --backend openai --base-url "$flaky_url" --model echo --max-retries 0 --concurrency 1
      --on-error skip --plain)
run cot-gen "${args[@]}" --max-failures 100% in.jsonl -o half.jsonl; expect_rc 0
ok=$(wc -l < half.jsonl)
[ "$ok" -gt 0 ] && [ "$ok" -lt 8 ] || fail "expected some samples to fail and some to succeed, got $ok of 8 written"
failed=$((8 - ok))
expect_err_glob "*cot-gen: warning: $failed of 8 sample(s) failed and were left out (--resume retries them) (within --max-failures 100%)*"
# The same failures with the strict default: exit 4, the successful samples still written.
start_server flaky2 --fault-rate 0.5 --fault-seed 3 --faults 500 --max-faults-per-request 100
args2=("${args[@]}"); args2[5]=$flaky2_url
run cot-gen "${args2[@]}" in.jsonl -o strict.jsonl; expect_rc 4
expect_err_glob "*cot-gen: $failed of 8 sample(s) failed and were left out (--resume retries them): more than --max-failures 0 allows"
[ "$(grep -o '"id":"r[0-9]"' half.jsonl)" = "$(grep -o '"id":"r[0-9]"' strict.jsonl)" ] ||
  fail "the strict run wrote other samples than the lenient one"
# A dead server: nothing got a result, whatever the budget.
start_server dead --always-status 500
args3=("${args[@]}"); args3[5]=$dead_url
run cot-gen "${args3[@]}" --max-failures 100% in.jsonl -o none.jsonl; expect_rc 4
expect_err_glob "*8 of 8 sample(s) failed*; no sample got a result"
run cot-gen "${args3[@]}" --max-failures nonsense in.jsonl -o none.jsonl; expect_rc 2
expect_err_glob "*--max-failures*nonsense*"
