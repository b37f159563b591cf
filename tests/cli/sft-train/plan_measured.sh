# --plan against a measurement: a random ~34M-parameter Llama trained on the CPU (f32, one
# thread, rows padded to one length so the plan's "every row full" holds). The peak RSS above
# the baseline (metrics: memory_mb - memory_baseline_mb, the RSS before the model was loaded)
# is within 15% of the planned peak with malloc returning freed blocks (see below). Prints both.
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1   # the tokenizer
T=$("$DELIB_PYTHON" "$CASE_DIR/make_plan_model.py" model data.jsonl)
opts=(--model model --device cpu --batch-size 4 --max-length "$T")
run sft-train --plan "${opts[@]}"
expect_rc 0
planned=$(awk '/^  peak /{print $(NF-2)}' <<<"$out")
[ -n "$planned" ] || fail "no peak line: $out"
# Twice: with glibc's malloc as it comes, and with its mmap threshold pinned low so that freed
# tensors go back to the system. The plan counts live tensor bytes; the default malloc keeps
# freed heap memory (its mmap threshold rises to the largest freed block, so mid-sized tensors
# come from a heap that is not trimmed), which the first run shows (+9% here after 2 steps,
# +18% after 3 and later).
measure() {  # NAME [ENV...]: runs 2 steps, writes NAME.jsonl
  local name=$1; shift
  set +e
  env "$@" sft-train "${opts[@]}" --padding --plain --max-steps 2 --lr 1e-4 --threads 1 data.jsonl >"$name.jsonl" 2>"$name.err"
  local rc=$?
  set -e
  [ $rc = 0 ] || fail "$name: exit $rc: $(cat "$name.err")"
}
measure default
measure pinned MALLOC_MMAP_THRESHOLD_=65536
py "$planned" <<'PY' || fail "the plan is off"
import json, sys
planned = int(sys.argv[1])
def measured(name):
    rows = [json.loads(l) for l in open(name + ".jsonl") if l.strip()]
    assert len(rows) == 2, rows
    peak = max(r["memory_mb"] for r in rows)
    base = rows[0]["memory_baseline_mb"]
    m = (peak - base) * 2**20
    print(f"{name}: planned {planned / 1e6:.1f} MB, measured {m / 1e6:.1f} MB (max RSS {peak:.1f} MiB "
          f"- baseline {base:.1f} MiB), ratio {m / planned:.3f}")
    return m
pinned, default = measured("pinned"), measured("default")
assert abs(pinned - planned) <= 0.15 * planned, ("pinned", pinned, planned)
# Heap retention only adds: the default run is above the live bytes, by less than a half.
# (A third until the MLP and the norms recomputed their products in backward (model.cpp
# GatedDown, RMSNormFn): the live peak fell 15% (pinned 1088 -> 920 MB) but the heap the default
# malloc keeps did not (default 1220 -> 1260 MB), the recomputed temporaries coming from it.)
assert pinned * 0.98 <= default <= 1.5 * planned, ("default", default, planned)
PY
