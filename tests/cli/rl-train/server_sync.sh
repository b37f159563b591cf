# rl-train --rollout-backend openai against the test server running the same tiny model in
# transformers: the rollouts' prompts are delib's chat-template token ids, the trained tokens are
# the server's sampled ids, and after every weight sync the server's log-probs of the sampled
# tokens equal the trainer's (<= 1e-4: rollout_logprob_diff_max, so the TIS weights are 1),
# proving that it serves the new policy: LoRA (PEFT adapter + /v1/load_lora_adapter, the
# previous one unloaded) and full fine-tuning (HF checkpoint + /update_weights_from_disk).
# Control: without syncs (--sync-every larger than the run) the mismatch after the first update
# is far above 1e-4, so the check can fail.
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 4
common=(--model model --steps 3 --prompts-per-step 2 --group-size 4 --max-tokens 6 --temperature 1 --seed 5
        --threads 1 --lr 5e-2 --kl-coef 0 --rule-reward '^[a-z]=1' --reward-weight format=0 --plain -q
        --rollout-backend openai --rollout-model base --rollout-max-retries 1 prompts.jsonl)

# check NAME METHOD SYNCED LOG FROM: the run's rollouts, metrics and the server's log from line FROM.
check() {
  "$DELIB_PYTHON" - "$@" <<'PY' || fail "$1: check failed"
import json, sys
from transformers import AutoTokenizer
name, method, synced = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
log = [json.loads(l) for l in open(sys.argv[4])][int(sys.argv[5]):]
rows = [json.loads(l) for l in open(f"{name}/rollouts.jsonl")]
metrics = [json.loads(l) for l in open(f"{name}/metrics.jsonl")]
assert len(rows) == 3 * 8 and len(metrics) == 3, (len(rows), len(metrics))
tok = AutoTokenizer.from_pretrained("model")
comps = [e for e in log if e["path"] == "/v1/completions"]
loads = [e for e in log if e["path"] != "/v1/completions"]
assert len(comps) == 24, len(comps)
for e in comps:
    q = e["request"]
    assert q["logprobs"] == 1 and q["return_tokens_as_token_ids"] is True and isinstance(q["prompt"], list), q
# every request's prompt is the chat template's token ids of its record
src = {json.loads(l)["id"]: json.loads(l) for l in open("prompts.jsonl")}
want = {tuple(tok.apply_chat_template(r["messages"], add_generation_prompt=True, tokenize=True, return_dict=False))
        for r in src.values()}
assert {tuple(e["request"]["prompt"]) for e in comps} <= want, "a prompt is not the chat template's token ids"
# the rollouts are the server's samples, one log-prob per sampled token (the stop token included)
got = sorted(r["rollout_logprobs"] for r in rows)
sent = sorted(e["token_logprobs"] for e in comps)
assert all(len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) < 1e-5 for a, b in zip(got, sent)), \
    "the rollouts' log-probs are not the server's"
assert all(len(e["token_ids"]) == len(e["token_logprobs"]) >= 1 for e in comps)
for k, m in enumerate(metrics, start=1):
    assert m["policy_version"] == ((k - 1) if synced else 0) and m["policy_lag"] == (0 if synced else k - 1), m
    assert m["tokens"] == sum(len(r["rollout_logprobs"]) for r in rows if r["step"] == k), m
    if synced or k == 1:
        assert m["rollout_logprob_diff_max"] <= 1e-4, m      # the server serves the trained weights
        assert m["tis_clipped_fraction"] == 0, m
    else:
        assert m["rollout_logprob_diff_max"] > 1e-3, m       # stale weights: the check can fail
for r in rows:
    assert r["policy_version"] == (r["step"] - 1 if synced else 0), r
# which model each step's requests asked for, and the weight loads in between
models = [e["request"]["model"] for e in comps]
if method == "lora" and synced:
    assert models == ["base"] * 8 + ["policy-v1"] * 8 + ["policy-v2"] * 8, models
    seq = [(e["path"], e["request"]["lora_name"]) for e in loads]
    assert seq == [("/v1/load_lora_adapter", "policy-v1"), ("/v1/load_lora_adapter", "policy-v2"),
                   ("/v1/unload_lora_adapter", "policy-v1")], seq
elif method == "disk" and synced:
    assert models == ["base"] * 24, models
    paths = [(e["path"], e["request"]["model_path"].rsplit("/", 1)[-1]) for e in loads]
    assert paths == [("/update_weights_from_disk", "policy-v1"), ("/update_weights_from_disk", "policy-v2")], paths
else:
    assert loads == [] and models == ["base"] * 24, (loads, models)
print(name, "diff_max per step", [m["rollout_logprob_diff_max"] for m in metrics])
PY
}

# One server for the three runs: LoRA runs leave its base weights unchanged (adapters only), and
# the disk run, which replaces them, comes last.
start_server srv --mode model --model-dir model --model-name base
for method in lora nosync disk; do
  flags=(--sync-every 1); [ $method != disk ] && flags=(--lora --lora-rank 4)
  [ $method = nosync ] && flags+=(--sync-every 100)
  from=$(wc -l < "$srv_log")
  mkdir -p $method
  run rl-train "${common[@]}" "${flags[@]}" --rollout-base-url "$srv_url" --out $method/ckpt \
    --metrics $method/metrics.jsonl -o $method/rollouts.jsonl
  expect_rc 0
  if [ $method = nosync ]; then check nosync lora 0 "$srv_log" "$from"; continue; fi
  check $method $method 1 "$srv_log" "$from"
  [ -d "$method/ckpt/sync/policy-v2" ] && [ ! -e "$method/ckpt/sync/policy-v1" ] || fail "$method: sync dir $(ls $method/ckpt/sync)"
done
[ -f lora/ckpt/sync/policy-v2/adapter_config.json ] || fail "the LoRA sync is not a PEFT adapter"
