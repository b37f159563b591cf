# --plan: the memory per process from config.json alone. The fixture is Llama-3.1-8B's real
# config.json with no weights and no tokenizer, so nothing else can have been read. Full
# fine-tuning at 4096 tokens fits 8 x 80 GB with --sharding full (exit 0), not with none or
# grad-opt (exit 1, the documented status of a plan that does not fit).
m="$CASE_DIR/fixtures/llama-3.1-8b"
base=(--plan --model "$m" --device cuda --batch-size 1 --max-length 4096)
common=("${base[@]}" --memory-per-device 80GB)
last_line() { printf '%s\n' "${out##*$'\n'}"; }

run sft-train "${common[@]}" --world-size 8 --sharding full
expect_rc 0
golden plan_8b_full.txt
[[ "$(last_line)" == "fits: yes, peak "*" GB per rank <= --memory-per-device 80.00 GB" ]] || fail "last line: $(last_line)"
expect_out_has "parameters: 8030261248 (8.03B), trainable 8030261248 (full fine-tuning)"
full_out=$out

run sft-train "${common[@]}" --world-size 8 --sharding none
expect_rc 1
golden plan_8b_none.txt
[[ "$(last_line)" == "fits: no, peak "*" GB per rank > --memory-per-device 80.00 GB" ]] || fail "last line: $(last_line)"

run sft-train "${common[@]}" --world-size 8 --sharding grad-opt
expect_rc 1
[[ "$(last_line)" == "fits: no, "* ]] || fail "grad-opt: $(last_line)"

# The world size defaults to the launcher's (torchrun's WORLD_SIZE), else 1.
WORLD_SIZE=8 RANK=0 run sft-train "${common[@]}" --sharding full
expect_rc 0
[ "$out" = "$full_out" ] || fail "WORLD_SIZE=8 differs from --world-size 8"
run sft-train "${common[@]}" --sharding full
expect_out_has "world size 1, sharding full"

# GiB as transformers reads max_shard_size: 80GiB = 85.90 GB.
run sft-train "${base[@]}" --world-size 8 --sharding full --memory-per-device 80GiB
expect_rc 0
[[ "$(last_line)" == *"<= --memory-per-device 85.90 GB" ]] || fail "GiB: $(last_line)"

# LoRA: gradients and AdamW state for the adapters only; the 8B model then fits one 80 GB
# device at 4096 tokens with activation checkpointing.
run sft-train --plan --model "$m" --device cuda --batch-size 1 --max-length 4096 --lora --lora-rank 16 \
  --checkpoint-activations --memory-per-device 80GB
expect_rc 0
expect_out_has "trainable 13631488 (LoRA rank 16)"

# No budget: the plan, exit 0, and a last line that says nothing was checked.
run sft-train --plan --model "$m" --world-size 8 --sharding full
expect_rc 0
[[ "$(last_line)" == "fits: not checked, peak "*" (give --memory-per-device SIZE)" ]] || fail "$(last_line)"

# Bad input.
run sft-train "${common[@]}" --sharding zero3; expect_rc 2
expect_err_glob "*--sharding*zero3*"
run sft-train "${base[@]}" --memory-per-device 80XB; expect_rc 2
expect_err_glob "*--memory-per-device '80XB': expected a size*"
run sft-train --model "$m" --world-size 8 data.jsonl; expect_rc 2
expect_err_glob "*--world-size and --memory-per-device go with --plan*"
run sft-train --plan --model "$m" --device gpu; expect_rc 2
expect_err_glob "*--device 'gpu'*"
run sft-train --plan --model nowhere; expect_rc 3
expect_err_glob "*nowhere/config.json*"
