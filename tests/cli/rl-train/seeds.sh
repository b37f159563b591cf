# Every random choice of rl-train follows --seed: two runs with the same seed write the same
# rollouts and metrics (step_time_s aside) and send the judge the same requests (nonces
# included); another seed changes them; --judge-nonce-seed changes the nonces only. Against the
# test server's echo judge (tests/servers/openai_server.py).
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 6 >/dev/null 2>&1
cats=(illicit medical harassment self-harm)
for i in 0 1 2 3 4 5; do
  printf '{"id":"q%d","category":"%s","prompt":"question number %d"}\n' $i "${cats[$((i % 4))]}" $i
done > prompts.jsonl
# rl_run NAME FLAGS...: a run against a fresh test server whose request log is NAME/log.jsonl.
rl_run() {
  local dir=$1; shift
  start_server "$dir"
  run rl-train --model model --spec "$DELIB_SRC/specs/small.md" --judge-backend openai \
    --judge-base-url "$url" --judge-model echo --judge-concurrency 4 \
    --group-size 4 --prompts-per-step 2 --steps 3 --max-tokens 8 --temperature 1 --lr 1e-3 --threads 1 \
    --plain -q --metrics "$dir/metrics.jsonl" -o "$dir/rollouts.jsonl" "$@" prompts.jsonl
  expect_rc 0
  stop_server "$dir"
}
rl_run a --seed 11
rl_run b --seed 11
rl_run c --seed 12
rl_run d --seed 11 --judge-nonce-seed 5
py <<'PY' || fail "runs differ where they must not (or agree where they must differ)"
import json
from judge_log import nonces, requests
def lines(p):
    return open(p).read().splitlines()
def metrics(d):
    out = []
    for l in lines(f"{d}/metrics.jsonl"):
        m = json.loads(l)
        assert m["step_time_s"] >= 0
        del m["step_time_s"]
        out.append(m)
    return out
assert len(lines("a/rollouts.jsonl")) == 3 * 8 and len(metrics("a")) == 3
assert len(nonces("a")) == 3 * 8 and len(set(nonces("a"))) == 3 * 8
# Same seed: byte-identical rollouts, equal metrics, the same judge requests (nonces included).
assert lines("a/rollouts.jsonl") == lines("b/rollouts.jsonl")
assert metrics("a") == metrics("b")
assert requests("a") == requests("b")
# Another seed: other rollouts and other nonces.
assert lines("a/rollouts.jsonl") != lines("c/rollouts.jsonl")
assert not set(nonces("a")) & set(nonces("c"))
# --judge-nonce-seed: other nonces; the echo judge's verdicts do not depend on them, so the
# rollouts are the same.
assert not set(nonces("a")) & set(nonces("d"))
assert lines("a/rollouts.jsonl") == lines("d/rollouts.jsonl")
PY
