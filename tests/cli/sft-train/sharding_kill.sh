# kill -9 of every rank in the middle of a 2-process --sharding full run, then --resume on 2
# processes: the loss curve equals an uninterrupted run's bit for bit (CPU). A checkpoint is
# published only once every rank has written its part into it, so a kill during a save leaves
# the previous checkpoint the latest.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 10
args=(--model model --plain --max-length 256 --batch-size 1 --epochs 4 --lr 3e-3 --seed 5 --threads 1
      --save-every 1 --sharding full data.jsonl)
run_ranks ref 2 sft-train "${args[@]}" --out ref
ranks_ok ref 2
# The same run, both ranks killed with SIGKILL once rank 0 has reported 9 of its 24 steps.
kill_ranks killed 2 9 sft-train "${args[@]}" --out run
[ -f run/latest ] || fail "no checkpoint before the kill"
run_ranks resumed 2 sft-train "${args[@]}" --out run --resume run
ranks_ok resumed 2
grep -q 'resuming from' resumed.0.err || fail "did not resume: $(cat resumed.0.err)"
py <<'PY' || fail "the resumed loss curve differs"
import json
from safetensors.torch import load_file
ref = {r["step"]: r for r in map(json.loads, open("ref.0.jsonl"))}
got = {}
for name in ("killed.0.jsonl", "resumed.0.jsonl"):   # resumed steps override
    for line in open(name):
        if line.strip():
            r = json.loads(line)
            got[r["step"]] = r
assert sorted(got) == sorted(ref) and len(ref) == 24, (sorted(got), sorted(ref))
for s in ref:
    for k in ("loss", "grad_norm", "lr"):
        assert got[s][k] == ref[s][k], (s, k, got[s][k], ref[s][k])   # bitwise
w1, w2 = load_file("ref/checkpoint-00000024/model.safetensors"), load_file("run/checkpoint-00000024/model.safetensors")
assert all((w1[k] == w2[k]).all() for k in w1), "final weights differ"
print("steps", len(ref), "identical; final weights identical")
PY
