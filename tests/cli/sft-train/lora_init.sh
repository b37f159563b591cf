# --lora writes CKPT/adapter/ in PEFT's format; --lora-init starts LoRA from such a directory:
# its step-1 loss is the adapted model's (the step-1 loss of --lora on the merged checkpoint,
# whose fresh adapter is zero). Configs delib cannot honour fail naming the file and field.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 6
common=(--plain --no-shuffle --batch-size 4 --threads 1 --seed 1 --schedule constant --max-steps 1)
run sft-train --model model "${common[@]}" --lora --lora-rank 4 --lora-alpha 8 --lora-targets q_proj,v_proj,down_proj \
  --lr 3e-2 --out a data.jsonl
expect_rc 0
ad=a/checkpoint-00000001/adapter
[ -f $ad/adapter_config.json ] && [ -f $ad/adapter_model.safetensors ] || fail "no adapter: $(ls -R a)"
loss_a=$(printf '%s\n' "$out" | head -1)
run sft-train --model model "${common[@]}" --lora-init $ad --lr 1e-3 data.jsonl
expect_rc 0
loss_init=$(printf '%s\n' "$out" | head -1)
run sft-train --model a/checkpoint-00000001 "${common[@]}" --lora --lr 1e-3 data.jsonl
expect_rc 0
loss_merged=$(printf '%s\n' "$out" | head -1)
py "$loss_a" "$loss_init" "$loss_merged" <<'PY' || fail "losses: $loss_a / $loss_init / $loss_merged"
import json, sys
a, i, m = (json.loads(s)["loss"] for s in sys.argv[1:])
assert abs(i - m) <= 1e-5 * abs(m), (i, m)   # the adapted model's loss
assert abs(i - a) > 1e-3, (i, a)             # the first run's step changed it
PY

# --lora-init sets r, alpha and the targets: the flags that would contradict it are usage errors.
run sft-train --model model "${common[@]}" --lora-init $ad --lora-rank 8 data.jsonl; expect_rc 2
run sft-train --model model "${common[@]}" --lora-init missing data.jsonl; expect_rc 3
expect_err_glob "sft-train: missing/adapter_config.json: missing*"
# Configs delib cannot honour: exit 2, file and field named.
bad() {  # bad NAME PYTHON-EXPR-EDITING-c
  rm -rf "$1"; cp -r $ad "$1"
  py "$1/adapter_config.json" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); exec(sys.argv[2]); json.dump(c, open(sys.argv[1], "w"))
PY
}
bad dora 'c["use_dora"] = True'
run sft-train --model model "${common[@]}" --lora-init dora data.jsonl; expect_rc 2
expect_err_glob "sft-train: dora/adapter_config.json: use_dora: is true; DoRA*"
bad pattern 'c["rank_pattern"] = {"q_proj": 8}'
run sft-train --model model "${common[@]}" --lora-init pattern data.jsonl; expect_rc 2
expect_err_glob "sft-train: pattern/adapter_config.json: rank_pattern: *per-layer ranks*"
bad regex 'c["target_modules"] = ".*attn.*"'
run sft-train --model model "${common[@]}" --lora-init regex data.jsonl; expect_rc 2
expect_err_glob "sft-train: regex/adapter_config.json: target_modules: is the regular expression*"
bad gpt2 'c["target_modules"] = ["c_attn"]'
run sft-train --model model "${common[@]}" --lora-init gpt2 data.jsonl; expect_rc 2
expect_err_glob "sft-train: gpt2/adapter_config.json: target_modules: \"c_attn\" is not a layer delib can adapt*"
# (errors found after the chat template is read follow its warning that the tiny model's
# ChatML template has no reasoning format: hence the leading * below)
bad fused 'c["target_modules"] = ["qkv_proj"]'
run sft-train --model model "${common[@]}" --lora-init fused data.jsonl; expect_rc 2
expect_err_glob "*sft-train: fused/adapter_config.json: target_modules: LoRA target \"qkv_proj\": a Qwen3 model has no such layer*"
bad prefix 'c["peft_type"] = "PREFIX_TUNING"'
run sft-train --model model "${common[@]}" --lora-init prefix data.jsonl; expect_rc 2
expect_err_glob "*sft-train: prefix/adapter_config.json: peft_type: *"
bad rank 'c["r"] = 8'
run sft-train --model model "${common[@]}" --lora-init rank data.jsonl; expect_rc 1
expect_err_glob "*sft-train: rank/adapter_model.safetensors: tensor \"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\" has shape \\[4, 32\\]; r and the model's config imply \\[8, 32\\]*"
bad dropout 'c["lora_dropout"] = 0.05'
run sft-train --model model "${common[@]}" --lora-init dropout data.jsonl; expect_rc 0
expect_err_glob "*warning: dropout/adapter_config.json: lora_dropout 0.05 is not applied*"
