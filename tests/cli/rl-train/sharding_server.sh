# rl-train --sharding full with --rollout-backend openai (one process): no local generation, so
# the parameters are never gathered whole; each weight push writes the PEFT adapter (--lora) or
# the Hugging Face checkpoint from the sharded parameters, gathered a unit at a time by the
# writer's reads, and the trainer's log-probs of the sampled tokens (TIS) gather likewise. After
# every push the server's log-probs of the sampled tokens equal the trainer's
# (rollout_logprob_diff_max <= 1e-4: it serves the trained weights, so the push wrote them), and
# the LoRA run equals the unsharded one (rollouts, adapters).
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 4
common=(--model model --steps 3 --prompts-per-step 2 --group-size 4 --max-tokens 6 --temperature 1 --seed 5
        --threads 1 --lr 5e-2 --kl-coef 0 --rule-reward '^[a-z]=1' --reward-weight format=0 --plain -q
        --rollout-backend openai --rollout-model base --rollout-max-retries 1 --sync-every 1 prompts.jsonl)
# One server: the LoRA runs leave its base weights as they are; the disk run, which replaces
# them, comes last.
start_server srv --mode model --model-dir model --model-name base
for name in lora-none lora-full disk-full; do
  flags=(--sharding "${name#*-}")
  [[ $name == lora-* ]] && flags+=(--lora --lora-rank 4)
  run rl-train "${common[@]}" "${flags[@]}" --rollout-base-url "$srv_url" --out $name --metrics $name.m.jsonl \
    -o $name.jsonl
  expect_rc 0
done
[ -f lora-full/sync/policy-v2/adapter_config.json ] || fail "the LoRA sync is not a PEFT adapter: $(ls lora-full/sync)"
[ -f disk-full/sync/policy-v2/config.json ] || fail "the disk sync is not a checkpoint: $(ls disk-full/sync)"
py <<'PY' || fail "a sharded run with server rollouts differs"
import json
from safetensors.torch import load_file
rows = lambda n: [json.loads(l) for l in open(n) if l.strip()]
for name in ("lora-none", "lora-full", "disk-full"):
    m = rows(f"{name}.m.jsonl")
    assert len(m) == 3 and [x["policy_version"] for x in m] == [0, 1, 2], (name, m)
    assert all(x["rollout_logprob_diff_max"] <= 1e-4 for x in m), (name, [x["rollout_logprob_diff_max"] for x in m])
    print(name, "diff_max per step", [x["rollout_logprob_diff_max"] for x in m])
a, b = rows("lora-none.jsonl"), rows("lora-full.jsonl")
assert len(a) == len(b) == 24
for x, y in zip(a, b):
    for k in ("step", "id", "sample", "answer", "reward", "advantage"):
        assert x[k] == y[k], (k, x[k], y[k])
    assert max(abs(p - q) for p, q in zip(x["rollout_logprobs"], y["rollout_logprobs"])) < 1e-5, (x, y)
wa = load_file("lora-none/checkpoint-00000003/adapter/adapter_model.safetensors")
wb = load_file("lora-full/checkpoint-00000003/adapter/adapter_model.safetensors")
d = max((wa[k] - wb[k]).abs().max().item() for k in wa)
print("LoRA adapters: max difference full vs none", d)
assert d < 1e-5, d
PY
