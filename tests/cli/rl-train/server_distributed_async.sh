# rl-train --rollout-backend openai --async --lora with two processes equals one process with the
# same global batch (rollouts, their policy versions and log-probs, rewards, advantages, final
# adapters), and the staleness stays one update on every rank: from step 2 on every rollout,
# each rank's, was sampled by policy_version step - 2. Each version is loaded once (rank 0) and
# the previous adapter unloaded only after every rank's prefetch that named it has ended.
# (server_distributed_dynamic.sh: the same with --drop-uniform-groups.)
source "$CASE_DIR/server_distributed.bash"
common+=(--group-size 2 --max-tokens 4 --kl-coef 0 --lora --lora-rank 4 --async)
# A server for the one-process run, another for the two-process runs (whose log is checked: the
# adapters the first run left loaded would add unloads to it).
start_server ref --mode model --model-dir model --model-name base
start_server srv --mode model --model-dir model --model-name base
run rl-train "${common[@]}" --steps 3 --prompts-per-step 2 --rollout-base-url "$ref_url" --out one -o one.jsonl
expect_rc 0
from=0
run_ranks two 2 rl-train "${common[@]}" --rollout-base-url "$srv_url" --out two --steps 3 --prompts-per-step 1
ranks_ok two 2
py "$srv_log" "$from" <<'PY' || fail "async: 2 processes differ from 1"
import json, sys
from safetensors.torch import load_file
rows = lambda f: [json.loads(l) for l in open(f) if l.strip()]
one, two = rows("one.jsonl"), rows("two.0.jsonl")
key = lambda r: (r["step"], r["id"], r["sample"])
assert len(one) == len(two) == 3 * 4 and [key(r) for r in one] == [key(r) for r in two]
for a, b in zip(one, two):
    for f in ("answer", "rewards", "reward", "policy_version"):
        assert a[f] == b[f], (key(a), f, a[f], b[f])
    assert a["policy_version"] == max(0, a["step"] - 2), a          # one update stale, every rank's
    assert abs(a["advantage"] - b["advantage"]) <= 1e-5
    la, lb = a["rollout_logprobs"], b["rollout_logprobs"]
    assert len(la) == len(lb) and max(abs(x - y) for x, y in zip(la, lb)) <= 1e-5, (key(a), la, lb)
w1 = load_file("one/checkpoint-00000003/adapter/adapter_model.safetensors")
w2 = load_file("two/checkpoint-00000003/adapter/adapter_model.safetensors")
d = max((w1[k] - w2[k]).abs().max().item() for k in w1)
assert w1.keys() == w2.keys() and d < 1e-4, d
ev = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]):]
models = [e["request"]["model"] for e in ev if e["path"] == "/v1/completions"]
assert sorted(models) == sorted(["base"] * 8 + ["policy-v1"] * 4), models
loads = [(i, e["path"], e["request"]["lora_name"]) for i, e in enumerate(ev) if "lora" in e["path"]]
assert [(p, n) for _, p, n in loads] == [("/v1/load_lora_adapter", "policy-v1"), ("/v1/load_lora_adapter", "policy-v2"),
                                         ("/v1/unload_lora_adapter", "policy-v1")], loads
last_v1 = max(i for i, e in enumerate(ev) if e["path"] == "/v1/completions" and e["request"]["model"] == "policy-v1")
assert last_v1 < loads[-1][0], "policy-v1 was unloaded while a rank's rollouts still named it"
print("async, 2 processes = 1; max adapter difference", d)
PY
