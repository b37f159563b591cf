# The quoting nonces follow --seed (or --nonce-seed): two runs with the same seed send the judge
# the same requests and write the same bytes; another seed gives other nonces. Against the test
# server's echo judge (tests/servers/openai_server.py).
spec="$DELIB_SRC/specs/small.md"
for i in 0 1 2 3 4 5; do
  printf '{"id":"r%d","sample":%d,"prompt":"question %d","category":"illicit","reasoning":"because %d","answer":"Answer %d."}\n' \
    $((i / 2)) $((i % 2)) $i $i $i
done > in.jsonl
# judge_run NAME FLAGS...: a run against a fresh test server whose request log is NAME/log.jsonl.
judge_run() {
  local dir=$1; shift
  start_server "$dir"
  run cot-judge --spec "$spec" --backend openai --base-url "$url" --model echo \
    --judge-samples 2 --plain -q "$@" in.jsonl -o "$dir/out.jsonl"
  expect_rc 0
  stop_server "$dir"
}
judge_run a --seed 4
judge_run b --seed 4
judge_run c --seed 5
judge_run d --seed 5 --nonce-seed 4
py <<'PY' || fail "nonces do not follow the seed"
from judge_log import nonces, requests
assert len(nonces("a")) == 12 and len(set(nonces("a"))) == 12, nonces("a")
assert requests("a") == requests("b")
assert open("a/out.jsonl", "rb").read() == open("b/out.jsonl", "rb").read()
assert not set(nonces("a")) & set(nonces("c"))
# --nonce-seed sets the nonces apart from --seed (which still seeds the judge's sampling).
assert nonces("d") == nonces("a")
assert requests("d") != requests("a")
PY
