# --where, --select, --dedupe, --head, --sample, --shard, --count, --stats.
for i in $(seq 0 99); do printf '{"id":"r%d","judge":{"score":%d},"cat":"%s","k":%d}\n' $i $((i % 10)) $([ $((i % 2)) = 0 ] && echo even || echo odd) $((i % 7)); done > d.jsonl
run jsonl-cat --count --where 'judge.score>=7' d.jsonl; expect_rc 0; expect_out 30
# score 7..9 and i even: only i%10==8, 10 records.
run jsonl-cat --count --where 'judge.score>=7 && cat=="even"' d.jsonl; expect_out 10
run jsonl-cat --plain --select id,judge.score --head 2 d.jsonl
expect_out '{"id":"r0","judge":{"score":0}}
{"id":"r1","judge":{"score":1}}'
run jsonl-cat --count --dedupe k d.jsonl; expect_out 7
# Sampling is seeded: same seed, same subset; the reservoir keeps exactly N.
a=$(jsonl-cat --plain --sample 0.3 --seed 5 d.jsonl); b=$(jsonl-cat --plain --sample 0.3 --seed 5 d.jsonl)
[ "$a" = "$b" ] || fail "sampling not reproducible"
c=$(jsonl-cat --plain --sample 0.3 --seed 6 d.jsonl); [ "$a" != "$c" ] || fail "seed ignored"
run jsonl-cat --count --sample 10 --seed 1 d.jsonl; expect_out 10
# Shards partition the input.
t=0; for k in 0 1 2; do n=$(jsonl-cat --count --shard $k/3 d.jsonl); t=$((t + n)); done
[ $t = 100 ] || fail "shards do not partition: $t"
run jsonl-cat --stats d.jsonl; expect_rc 0
expect_out_has "records	100"
expect_out_has "field	judge	100"
# | head ends quietly with status 0.
for i in $(seq 1 200); do cat d.jsonl; done > big.jsonl
set +o pipefail
jsonl-cat --plain big.jsonl | head -n1 >/dev/null; st=${PIPESTATUS[0]}
set -o pipefail
[ "$st" = 0 ] || fail "SIGPIPE exit status $st"
