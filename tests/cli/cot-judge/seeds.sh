# The quoting nonces follow --seed (or --nonce-seed): two runs with the same seed send the judge
# the same requests and write the same bytes; another seed gives other nonces. Against the test
# server's echo judge (tests/servers/openai_server.py).
spec="$DELIB_SRC/specs/small.md"
source "$CASE_DIR/test_server.bash"  # start_server
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
  kill "$(cat "$dir/server.pid")"; rm "$dir/server.pid"
}
judge_run a --seed 4
judge_run b --seed 4
judge_run c --seed 5
judge_run d --seed 5 --nonce-seed 4
"$DELIB_PYTHON" - <<'PY' || fail "nonces do not follow the seed"
import json, re
def nonces(d):
    out = []
    for l in open(f"{d}/log.jsonl"):
        e = json.loads(l)
        found = re.findall(r"^VERDICT ([0-9a-f]{16})$", e["request"]["messages"][-1]["content"], re.M)
        assert found, e
        out.append(found[-1])
    return sorted(out)
def requests(d):
    return sorted(json.dumps(json.loads(l)["request"], sort_keys=True) for l in open(f"{d}/log.jsonl"))
assert len(nonces("a")) == 12 and len(set(nonces("a"))) == 12, nonces("a")
assert requests("a") == requests("b")
assert open("a/out.jsonl", "rb").read() == open("b/out.jsonl", "rb").read()
assert not set(nonces("a")) & set(nonces("c"))
# --nonce-seed sets the nonces apart from --seed (which still seeds the judge's sampling).
assert nonces("d") == nonces("a")
assert requests("d") != requests("a")
PY
