# kill -9 of both processes in the middle of a 2-process rl-train --sharding full run, then
# --resume on 2 processes: the rollouts (completions, rewards, advantages, KL) and the final
# weights equal the uninterrupted run's bit for bit (CPU): each process reloads its part of the
# master weights and AdamW moments (shard-rank-R-of-2.safetensors). Resumed on 1 process with the
# same global batch, the parts are resharded and the next steps equal the uninterrupted run's up
# to float reduction order. Resuming with another --sharding than the checkpoint's is refused,
# naming trainer_state.json and options.sharding, and leaves the checkpoint as it was. A LoRA run
# (its frozen base sharded too) resumes bit for bit as well.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 3 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 6
args=(--model model --group-size 4 --lr 1e-2 --max-tokens 12 --seed 7 --threads 1 --rule-reward e=1 --save-every 1
      --plain prompts.jsonl)
run_ranks ref 2 rl-train "${args[@]}" --steps 8 --sharding full --prompts-per-step 1 --out ref
ranks_ok ref 2
# The same run, both processes killed with SIGKILL once rank 0 has written 4 of its 8 steps (of
# 2 x 4 rollouts each).
kill_ranks killed 2 $((4 * 8)) rl-train "${args[@]}" --steps 8 --sharding full --prompts-per-step 1 --out run
[ -f run/latest ] || fail "no checkpoint before the kill"
run_ranks resumed 2 rl-train "${args[@]}" --steps 8 --sharding full --prompts-per-step 1 --out run --resume run
ranks_ok resumed 2
grep -q 'resuming from run/checkpoint-' resumed.0.err || fail "did not resume: $(cat resumed.0.err)"
py <<'PY' || fail "the resumed run differs from the uninterrupted one"
from rollouts import resumed_equal
from safetensors.torch import load_file
print("steps", resumed_equal("ref.0.jsonl", ["killed.0.jsonl", "resumed.0.jsonl"]), "identical")
w1, w2 = load_file("ref/checkpoint-00000008/model.safetensors"), load_file("run/checkpoint-00000008/model.safetensors")
assert w1.keys() == w2.keys() and all((w1[k] == w2[k]).all() for k in w1), "final weights differ"
PY

# Resharding: checkpoint 2 of the 2-process run resumed on 1 process with 2 prompts per step.
mkdir to1
cp -r ref/checkpoint-00000002 to1/
echo checkpoint-00000002 > to1/latest
run rl-train "${args[@]}" --steps 4 --sharding full --prompts-per-step 2 --out to1 --resume to1
expect_rc 0
printf '%s\n' "$out" > to1.jsonl
[[ "$err" == *"resharded from 2 to 1 processes"* ]] || fail "no resharding note: $err"
py <<'PY' || fail "the resharded run differs from the uninterrupted one"
import json
from safetensors.torch import load_file
rows = lambda n: [json.loads(l) for l in open(n) if l.strip()]
ref = [r for r in rows("ref.0.jsonl") if r["step"] in (3, 4)]
got = rows("to1.jsonl")
assert len(got) == len(ref) == 16, (len(got), len(ref))
for a, b in zip(ref, got):
    for k in ("step", "id", "sample", "answer", "rewards", "reward"):
        assert a[k] == b[k], (k, a[k], b[k])
    assert abs(a["advantage"] - b["advantage"]) <= 1e-12 * abs(a["advantage"]), (a["advantage"], b["advantage"])
    assert abs(a["kl"] - b["kl"]) <= 1e-4 * max(abs(a["kl"]), 1e-6), (a["kl"], b["kl"])
w1, w2 = load_file("ref/checkpoint-00000004/model.safetensors"), load_file("to1/checkpoint-00000004/model.safetensors")
d = max((w1[k] - w2[k]).abs().max().item() for k in w1)
print("resharded 2 -> 1: steps 3-4 equal, max weight difference", d)
assert d < 1e-4, d
PY

# Refusals: another strategy than the checkpoint's (either way).
sums() { (cd "$1" && find . -type f | sort | xargs sha256sum); }
before=$(sums run)
run rl-train "${args[@]}" --steps 9 --prompts-per-step 2 --sharding none --out run --resume run
expect_rc 2
expect_err_glob "rl-train: run/checkpoint-00000008/trainer_state.json:*cannot resume: options.sharding was \"full\" in the checkpointed run, now \"none\"*"
[ "$(sums run)" = "$before" ] || fail "a refused resume changed the checkpoint"
run rl-train "${args[@]}" --steps 1 --prompts-per-step 2 --sharding none --out plain
expect_rc 0
before=$(sums plain)
run rl-train "${args[@]}" --steps 2 --prompts-per-step 2 --sharding grad-opt --out plain --resume plain
expect_rc 2
expect_err_glob "rl-train: plain/checkpoint-00000001/trainer_state.json:*cannot resume: options.sharding was \"none\" in the checkpointed run, now \"grad-opt\"*"
[ "$(sums plain)" = "$before" ] || fail "a refused resume changed the checkpoint"

# LoRA (the frozen base sharded too): checkpoint 2 of a 2-process run resumed on 2 processes
# continues bit for bit (rollouts, merged model, PEFT adapter).
run_ranks lora 2 rl-train "${args[@]}" --steps 4 --sharding full --prompts-per-step 1 --lora --lora-rank 4 --out lora
ranks_ok lora 2
mkdir lora-resumed
cp -r lora/checkpoint-00000002 lora-resumed/
echo checkpoint-00000002 > lora-resumed/latest
run_ranks lora-resumed 2 rl-train "${args[@]}" --steps 4 --sharding full --prompts-per-step 1 --lora --lora-rank 4 \
  --out lora-resumed --resume lora-resumed
ranks_ok lora-resumed 2
py <<'PY' || fail "the resumed LoRA run differs from the uninterrupted one"
from rollouts import resumed_equal
from safetensors.torch import load_file
resumed_equal("lora.0.jsonl", ["lora.0.jsonl", "lora-resumed.0.jsonl"])
rows = [l for l in open("lora-resumed.0.jsonl") if l.strip()]
assert len(rows) == 2 * 8, len(rows)   # steps 3-4 redone
for f in ("model.safetensors", "adapter/adapter_model.safetensors"):
    a, b = load_file(f"lora/checkpoint-00000004/{f}"), load_file(f"lora-resumed/checkpoint-00000004/{f}")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a), f
print("LoRA: resumed bit for bit")
PY
