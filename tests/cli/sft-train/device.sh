# --device has one rule in every tool (delib::parse_device, delib/model.h): a malformed value is
# a usage error (exit 2) naming the flag and the value, found before any model or record is read
# (missing.jsonl is never opened: exit 2, not 3).
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
for v in cuda:x cuda: cuda:-1 cuda:1x gpu CPU; do
  run sft-train --model model --device "$v" --max-steps 1 missing.jsonl
  expect_rc 2
  [ "$err" = "sft-train: --device '$v': expected cpu, cuda or cuda:N" ] || fail "--device $v: stderr '$err'"
done
