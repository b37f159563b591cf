# kill -9 in the middle of a run, then --resume: the loss curve equals an uninterrupted run's
# bit for bit (CPU), for full fine-tuning and for LoRA.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 10
for mode in full lora; do
  extra=()
  [ "$mode" = lora ] && extra=(--lora --lora-rank 4)
  args=(--model model --plain --max-length 256 --batch-size 2 --epochs 6 --lr 3e-3 --seed 5 --threads 1
        --save-every 1 "${extra[@]}" data.jsonl)
  run sft-train "${args[@]}" --out ref-$mode
  expect_rc 0
  printf '%s\n' "$out" > ref-$mode.jsonl
  # The same run, killed with SIGKILL once 7 steps are reported, then resumed.
  "$DELIB_PYTHON" - "$mode" "${args[@]}" <<'PY' || fail "$mode: could not kill the run mid-way"
import os, signal, subprocess, sys, time
mode, args = sys.argv[1], sys.argv[2:]
with open(f"killed-{mode}.jsonl", "w") as out:
    p = subprocess.Popen(["sft-train", *args, "--out", f"run-{mode}"], stdout=out, stderr=subprocess.DEVNULL)
    while p.poll() is None:
        with open(f"killed-{mode}.jsonl") as f:
            if sum(1 for _ in f) >= 7:
                os.kill(p.pid, signal.SIGKILL)
                break
        time.sleep(0.002)
    p.wait()
assert p.returncode == -signal.SIGKILL, f"the run ended before it was killed ({p.returncode})"
PY
  run sft-train "${args[@]}" --out run-$mode --resume run-$mode
  expect_rc 0
  printf '%s\n' "$out" > resumed-$mode.jsonl
  "$DELIB_PYTHON" - "$mode" <<'PY' || fail "$mode: resumed loss curve differs"
import json, sys
mode = sys.argv[1]
ref = {r["step"]: r for r in map(json.loads, open(f"ref-{mode}.jsonl"))}
got = {}
for name in (f"killed-{mode}.jsonl", f"resumed-{mode}.jsonl"):   # resumed steps override
    for line in open(name):
        if line.strip():
            r = json.loads(line)
            got[r["step"]] = r
assert sorted(got) == sorted(ref), (sorted(got), sorted(ref))
for s in ref:
    for k in ("loss", "grad_norm", "lr"):
        assert got[s][k] == ref[s][k], (mode, s, k, got[s][k], ref[s][k])   # bitwise
print(mode, "steps", len(ref), "identical")
PY
done
