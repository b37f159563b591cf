# --device has one rule in every tool (delib::parse_device, delib/model.h): in the developer
# tools too, a malformed value is a usage error (exit 2) naming the flag and the value, found
# before the input is read (they used to exit 1 with LibTorch's stack trace).
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 0 >/dev/null 2>&1
for v in cuda:x gpu; do
  run gen-check --model model --device "$v" --max-tokens 2 missing.jsonl
  expect_rc 2
  [ "$err" = "gen-check: --device '$v': expected cpu, cuda or cuda:N" ] || fail "gen-check --device $v: stderr '$err'"
  run model-check --model model --device "$v" --input missing.json -o out.safetensors
  expect_rc 2
  [ "$err" = "model-check: --device '$v': expected cpu, cuda or cuda:N" ] || fail "model-check --device $v: stderr '$err'"
done
