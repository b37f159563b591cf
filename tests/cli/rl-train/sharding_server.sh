# rl-train --sharding full with --rollout-backend openai: no local generation, so
# the parameters are never gathered whole; each weight push writes the PEFT adapter (--lora) or
# the Hugging Face checkpoint from the sharded parameters, gathered a unit at a time by the
# writer's reads, and the trainer's log-probs of the sampled tokens (TIS) gather likewise. After
# every push the server's log-probs of the sampled tokens equal the trainer's
# (rollout_logprob_diff_max <= 1e-4: it serves the trained weights, so the push wrote them), and
# the LoRA runs (1 and 2 processes) equal the unsharded one (rollouts, adapters). On 2 processes
# rank 0 writes each push while rank 1 takes part in its gathers (touching the parameters the
# writer reads, in its order); the disk push is checked there.
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 4
common=(--model model --steps 2 --group-size 4 --max-tokens 6 --temperature 1 --seed 5
        --threads 1 --lr 5e-2 --kl-coef 0 --rule-reward '^[a-z]=1' --reward-weight format=0 --plain -q
        --rollout-backend openai --rollout-model base --rollout-max-retries 1 --sync-every 1 prompts.jsonl)
# One server: the LoRA runs leave its base weights as they are; the disk run, which replaces
# them, comes last.
start_server srv --mode model --model-dir model --model-name base
for name in lora-none lora-full lora-full2 disk-full2; do
  flags=(--sharding full)
  [ $name = lora-none ] && flags=(--sharding none)
  [[ $name == lora-* ]] && flags+=(--lora --lora-rank 4)
  if [[ $name == *2 ]]; then  # 2 processes, 1 prompt each per step
    run_ranks $name 2 rl-train "${common[@]}" "${flags[@]}" --prompts-per-step 1 --rollout-base-url "$srv_url" \
      --out $name --metrics $name.m.jsonl
    ranks_ok $name 2
    continue
  fi
  run rl-train "${common[@]}" "${flags[@]}" --prompts-per-step 2 --rollout-base-url "$srv_url" --out $name \
    --metrics $name.m.jsonl -o $name.jsonl
  expect_rc 0
done
[ -f lora-full/sync/policy-v1/adapter_config.json ] || fail "the LoRA sync is not a PEFT adapter: $(ls lora-full/sync)"
[ -f disk-full2/sync/policy-v1/config.json ] || fail "the disk sync is not a checkpoint: $(ls disk-full2/sync)"
py <<'PY' || fail "a sharded run with server rollouts differs"
import json
from safetensors.torch import load_file
rows = lambda n: [json.loads(l) for l in open(n) if l.strip()]
for name in ("lora-none", "lora-full", "lora-full2", "disk-full2"):
    m = rows(f"{name}.m.jsonl")
    assert len(m) == 2 and [x["policy_version"] for x in m] == [0, 1], (name, m)
    assert all(x["rollout_logprob_diff_max"] <= 1e-4 for x in m), (name, [x["rollout_logprob_diff_max"] for x in m])
    print(name, "diff_max per step", [x["rollout_logprob_diff_max"] for x in m])
a = rows("lora-none.jsonl")
wa = load_file("lora-none/checkpoint-00000002/adapter/adapter_model.safetensors")
for name, out in (("lora-full", "lora-full.jsonl"), ("lora-full2", "lora-full2.0.jsonl")):
    b = rows(out)
    assert len(a) == len(b) == 16, (name, len(b))
    for x, y in zip(a, b):
        for k in ("step", "id", "sample", "answer", "reward"):
            assert x[k] == y[k], (name, k, x[k], y[k])
        assert abs(x["advantage"] - y["advantage"]) <= 1e-9, (name, x["advantage"], y["advantage"])
        assert max(abs(p - q) for p, q in zip(x["rollout_logprobs"], y["rollout_logprobs"])) < 1e-5, (name, x, y)
    wb = load_file(f"{name}/checkpoint-00000002/adapter/adapter_model.safetensors")
    d = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    print(f"LoRA adapters: max difference {name} vs none", d)
    assert d < 1e-5, (name, d)
PY
