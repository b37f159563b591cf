# --device has one rule in every tool (delib::parse_device, delib/model.h): a malformed value is
# a usage error (exit 2) naming the flag and the value, found before any model or record is read
# (missing.jsonl is never opened: exit 2, not 3). rl-train used to exit 1 with LibTorch's trace.
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 0 >/dev/null 2>&1
for v in cuda:x cuda: cuda:-1 cuda:1x gpu CPU; do
  run rl-train --model model --device "$v" --steps 1 missing.jsonl
  expect_rc 2
  [ "$err" = "rl-train: --device '$v': expected cpu, cuda or cuda:N" ] || fail "--device $v: stderr '$err'"
done
# The judge's local backend reads its --judge-device with the same function (as cot-gen's,
# cot-judge's and safety-eval's --device), naming its own flag.
printf '%s\n' '{"id":"a","category":"illicit","prompt":"hi"}' > prompts.jsonl
run rl-train --model model --judge-model model --judge-device cuda:x --spec "$DELIB_SRC/specs/small.md" --steps 1 prompts.jsonl
expect_rc 2
[ "$err" = "rl-train: --judge-device 'cuda:x': expected cpu, cuda or cuda:N" ] || fail "--judge-device cuda:x: stderr '$err'"
