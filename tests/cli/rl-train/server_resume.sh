# kill -9 in the middle of an RL run with server rollouts and LoRA weight sync, then --resume:
# the resumed run first pushes the checkpoint's policy to the server (unloading the killed run's
# adapter of that name, which the server still holds), its first rollouts ask for that policy
# version, and every rollout (the server's samples and log-probs, rewards, advantages) equals an
# uninterrupted run's.
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 3 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 6
args=(--model model --steps 5 --prompts-per-step 2 --group-size 4 --lr 5e-2 --max-tokens 6 --seed 7 --kl-coef 0
      --threads 1 --rule-reward e=1 --save-every 1 --lora --lora-rank 4 --plain -q
      --rollout-backend openai --rollout-model base prompts.jsonl)
start_server ref --mode model --model-dir model --model-name base
run rl-train "${args[@]}" --rollout-base-url "$ref_url" --out ref
expect_rc 0
srv_log=$ref_log
printf '%s\n' "$out" > ref.jsonl
# The same server for the killed and the resumed run: it still holds the reference run's adapters
# (policy-v1 is unloaded and loaded again when the killed run pushes it, as on a resume).
kill_ranks killed 0 $((2 * 8)) rl-train "${args[@]}" --rollout-base-url "$ref_url" --out run   # 2 steps reported
n_before=$(wc -l < "$srv_log")
run rl-train "${args[@]}" --rollout-base-url "$ref_url" --out run --resume run
expect_rc 0
expect_err_glob "*resuming from run/checkpoint-*the rollout server now serves the resumed policy (version *, policy-v*)*"
printf '%s\n' "$out" > resumed.jsonl
py "$srv_log" "$n_before" <<'PY' || fail "resumed rollouts differ"
import json, sys
from rollouts import resumed_equal
log = [json.loads(l) for l in open(sys.argv[1])][int(sys.argv[2]):]
resumed = [json.loads(l) for l in open("resumed.jsonl") if l.strip()]
k = resumed[0]["step"] - 1                     # the checkpoint's step = the policy version pushed
assert k >= 1 and all(r["policy_version"] == r["step"] - 1 for r in resumed), (k, resumed[0])
# before any rollout of the resumed run: unload (tolerated) and load of policy-vK, nothing else
first = next(i for i, e in enumerate(log) if e["path"] == "/v1/completions")
# (the killed run's policy-vK, if it got that far, is unloaded first)
pushes = [(e["path"], e["request"]["lora_name"]) for e in log[:first]]
assert pushes in ([("/v1/load_lora_adapter", f"policy-v{k}")],
                  [("/v1/unload_lora_adapter", f"policy-v{k}"), ("/v1/load_lora_adapter", f"policy-v{k}")]), pushes
assert log[first]["request"]["model"] == f"policy-v{k}", log[first]["request"]["model"]
last = resumed_equal("ref.jsonl", ["killed.0.jsonl", "resumed.jsonl"])
print("resumed at version", k, "- steps", last, "identical")
PY
