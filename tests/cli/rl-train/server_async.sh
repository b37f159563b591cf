# rl-train --async: each step's rollouts for the next step are generated on the test server in
# another thread while the step trains. From the second step on, the rollouts were sampled by
# the policy one update older than the one trained (policy_version k-2 at step k, policy_lag 1;
# the LoRA adapter each step's requests named shows it), the importance weights see the
# mismatch, and the run completes with finite metrics; resumed from a checkpoint, whose run state
# holds the prefetched rollouts, it continues bit for bit (with other sampling options it samples
# afresh). --async without a server is a usage error.
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 4
run rl-train --model model --async --steps 1 prompts.jsonl
expect_rc 2
expect_err_glob "*--async needs --rollout-backend openai*"
start_server srv --mode model --model-dir model --model-name base
common=(--model model --prompts-per-step 2 --group-size 4 --max-tokens 6 --seed 5 --threads 1 --lr 5e-2
        --kl-coef 0.01 --rule-reward '^[a-z]=1' --reward-weight format=0 --plain -q --lora --lora-rank 4
        --rollout-backend openai --rollout-model base --rollout-base-url "$srv_url" --async prompts.jsonl)
run rl-train "${common[@]}" --steps 4 --temperature 1 --out ckpt --metrics metrics.jsonl -o rollouts.jsonl --save-every 2
expect_rc 0
"$DELIB_PYTHON" - "$srv_log" <<'PY' || fail "async check failed"
import json, math, sys
log = [json.loads(l) for l in open(sys.argv[1])]
rows = [json.loads(l) for l in open("rollouts.jsonl")]
metrics = [json.loads(l) for l in open("metrics.jsonl")]
assert len(rows) == 4 * 8 and len(metrics) == 4, (len(rows), len(metrics))
for m in metrics:
    k = m["step"]
    want = 0 if k == 1 else k - 2
    assert m["policy_version"] == want and m["policy_lag"] == (0 if k == 1 else 1), m
    for f in ("reward", "policy", "kl", "grad_norm", "rollout_logprob_diff_mean", "rollout_logprob_diff_max"):
        assert isinstance(m[f], (int, float)) and math.isfinite(m[f]), (f, m)
    assert 0 <= m["tis_clipped_fraction"] <= 1, m
    if k == 1:
        assert m["rollout_logprob_diff_max"] <= 1e-4, m      # the same weights
    else:
        assert m["rollout_logprob_diff_max"] > 1e-4, m       # one update stale, seen by the weights
for r in rows:
    assert r["policy_version"] == (0 if r["step"] == 1 else r["step"] - 2), r
models = [e["request"]["model"] for e in log if e["path"] == "/v1/completions"]
assert models == ["base"] * 16 + ["policy-v1"] * 8 + ["policy-v2"] * 8, models
print("lag per step", [m["policy_lag"] for m in metrics], "diff_max", [round(m["rollout_logprob_diff_max"], 5) for m in metrics])
PY

# Resume from the checkpoint after step 2: the run state holds the prefetched rollouts of step 3
# (sampled by policy version 1), so steps 3-4 equal the uninterrupted run's bit for bit.
run rl-train "${common[@]}" --steps 4 --temperature 1 --out res --resume ckpt/checkpoint-00000002 -o resumed.jsonl
expect_rc 0
py <<'PY' || fail "async resume"
import json
from rollouts import resumed_equal
with open("ref12.jsonl", "w") as f:
    for l in open("rollouts.jsonl"):
        if json.loads(l)["step"] <= 2:
            f.write(l)
print("resumed --async: steps", resumed_equal("rollouts.jsonl", ["ref12.jsonl", "resumed.jsonl"]), "identical")
PY
# Other sampling options on resume: the stored prefetch is not for these requests, so step 3 is
# sampled afresh by the resumed policy (version 2), never the stale samples of other options.
run rl-train "${common[@]}" --steps 3 --temperature 0.7 --out res2 --resume ckpt/checkpoint-00000002 -o other.jsonl
expect_rc 0
py <<'PY' || fail "a prefetch of other sampling options was taken"
import json
rows = [json.loads(l) for l in open("other.jsonl")]
assert rows and all(r["step"] == 3 and r["policy_version"] == 2 for r in rows), [(r["step"], r["policy_version"]) for r in rows]
PY
