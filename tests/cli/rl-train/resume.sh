# kill -9 in the middle of an RL run, then --resume: the rollouts (completions, rewards,
# advantages, KL) equal an uninterrupted run's bit for bit (CPU).
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 3 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 6
args=(--model model --steps 12 --prompts-per-step 2 --group-size 4 --lr 1e-2 --max-tokens 12 --seed 7
      --threads 1 --rule-reward e=1 --save-every 1 --plain prompts.jsonl)
run rl-train "${args[@]}" --out ref
expect_rc 0
printf '%s\n' "$out" > ref.jsonl
kill_ranks killed 0 $((5 * 8)) rl-train "${args[@]}" --out run   # once 5 steps of 8 rollouts are reported
run rl-train "${args[@]}" --out run --resume run
expect_rc 0
expect_err_glob "*resuming from run/checkpoint-*"
printf '%s\n' "$out" > resumed.jsonl
py <<'PY' || fail "resumed rollouts differ"
from rollouts import resumed_equal
print("steps", resumed_equal("ref.jsonl", ["killed.0.jsonl", "resumed.jsonl"]), "identical")
PY
