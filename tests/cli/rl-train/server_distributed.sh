# rl-train --rollout-backend openai with two processes (torchrun-style environment, Gloo), each
# asking the test server for its own prompts' rollouts, equals one process with the same global
# batch: the same rollouts (the server's samples and log-probs), rewards, advantages, per-rollout
# KL, policy versions and metrics, and final weights to float rounding. The new policy is pushed
# once per update (rank 0 alone: one /update_weights_from_disk each) and every rank waits for it:
# in the server's log, the completions between two pushes are exactly one step's, every rank's.
source "$CASE_DIR/server_distributed.bash"
common+=(--steps 2 --group-size 4 --max-tokens 5 --kl-coef 0.01)
# One server per run: the disk sync replaces the served weights.
start_server one --mode model --model-dir model --model-name base
start_server two --mode model --model-dir model --model-name base
run rl-train "${common[@]}" --prompts-per-step 4 --rollout-base-url "$one_url" --out one --metrics one.m.jsonl \
  -o one.jsonl
expect_rc 0
run_ranks two 2 rl-train "${common[@]}" --prompts-per-step 2 --rollout-base-url "$two_url" --out two \
  --metrics two.m.jsonl
ranks_ok two 2   # rank 1 writes no rollouts itself: rank 0 writes every rank's
py "$one_log" "$two_log" <<'PY' || fail "2 processes differ from 1"
import json, sys
from safetensors.torch import load_file
rows = lambda f: [json.loads(l) for l in open(f) if l.strip()]
one, two = rows("one.jsonl"), rows("two.0.jsonl")
key = lambda r: (r["step"], r["id"], r["sample"])
assert len(one) == len(two) == 2 * 4 * 4, (len(one), len(two))
assert [key(r) for r in one] == [key(r) for r in two]   # rank 0 writes rank 0's prompts, then rank 1's
for a, b in zip(one, two):
    for f in ("answer", "reasoning", "rewards", "reward", "policy_version", "meta"):
        assert a[f] == b[f], (key(a), f, a[f], b[f])
    assert a["policy_version"] == a["step"] - 1, a
    for f in ("advantage", "kl"):
        assert abs(a[f] - b[f]) <= 1e-5, (key(a), f, a[f], b[f])
    la, lb = a["rollout_logprobs"], b["rollout_logprobs"]
    assert len(la) == len(lb) and max(abs(x - y) for x, y in zip(la, lb)) <= 1e-4, (key(a), la, lb)
m1, m2 = rows("one.m.jsonl"), rows("two.m.jsonl")
assert len(m1) == len(m2) == 2
for a, b in zip(m1, m2):
    for f in ("step", "completions", "rewarded", "tokens", "policy_version", "policy_lag", "updated"):
        assert a[f] == b[f], (f, a, b)
    assert abs(a["reward"] - b["reward"]) <= 1e-9 and b["rollout_logprob_diff_max"] <= 1e-4, (a, b)
w1 = load_file("one/checkpoint-00000002/model.safetensors")
w2 = load_file("two/checkpoint-00000002/model.safetensors")
d = max((w1[k] - w2[k]).abs().max().item() for k in w1)
assert w1.keys() == w2.keys() and d < 1e-4, d
for name, log in (("one", sys.argv[1]), ("two", sys.argv[2])):
    ev = [json.loads(l) for l in open(log)]
    pushes = [e["request"]["model_path"].rsplit("/", 1)[-1] for e in ev if e["path"] == "/update_weights_from_disk"]
    assert pushes == ["policy-v1"], (name, pushes)
    # completions between pushes: 16 per step, every rank's, none sampled before its step's push
    seg, n = [], 0
    for e in ev:
        if e["path"] == "/v1/completions":
            n += 1
        elif e["path"] == "/update_weights_from_disk":
            seg.append(n); n = 0
    assert seg + [n] == [16, 16], (name, seg + [n])
print("2 processes = 1: rollouts, metrics; max weight difference", d)
PY
