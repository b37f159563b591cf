# --plan against a measurement on 2 Gloo processes: the ~34M Llama of plan_measured.sh, one
# row per process, --sharding none and full. Each run's peak RSS above its baseline (rank 0's
# metrics; malloc's mmap threshold pinned so freed tensors leave the RSS, as the plan counts
# live bytes) is within 15% of its plan, and full really holds less than none: a unit left
# gathered, or parameters never released, would break both.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1   # the tokenizer
T=$("$DELIB_PYTHON" "$CASE_DIR/make_plan_model.py" model data.jsonl)
opts=(--model model --device cpu --batch-size 1 --max-length "$T")
for s in none full; do
  run sft-train --plan "${opts[@]}" --world-size 2 --sharding $s
  expect_rc 0
  awk '/^  peak /{print $(NF-2)}' <<<"$out" > $s.planned
  MALLOC_MMAP_THRESHOLD_=65536 run_ranks $s 2 sft-train "${opts[@]}" --sharding $s --padding --plain --max-steps 2 \
    --lr 1e-4 --threads 1 data.jsonl
  ranks_ok $s 2
done
py <<'PY' || fail "the plan is off, or full does not hold less than none"
import json
m = {}
for s in ("none", "full"):
    planned = int(open(f"{s}.planned").read())
    rows = [json.loads(l) for l in open(f"{s}.0.jsonl")]
    assert len(rows) == 2, rows
    m[s] = (max(r["memory_mb"] for r in rows) - rows[0]["memory_baseline_mb"]) * 2**20
    print(f"{s}: planned {planned / 1e6:.1f} MB, measured {m[s] / 1e6:.1f} MB, ratio {m[s] / planned:.3f}")
    assert abs(m[s] - planned) <= 0.15 * planned, (s, m[s], planned)
assert m["full"] <= 0.8 * m["none"], m
print(f"full / none: {m['full'] / m['none']:.2f}")
PY
