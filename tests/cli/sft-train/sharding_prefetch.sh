# --sharding full prefetches: from the second step on, each unit is all-gathered in the
# background while the unit before it computes (the step replays the last step's sequence of
# gathers), so every gather of steps 2-4 was prefetched (metrics: gathers, prefetched,
# gather_wait_s) but the one at the turn from forward to backward (kept out of the loss's
# memory peak); the first step has no sequence to replay yet. With LoRA a layer's frozen and
# trainable units are used in turn, and only a unit the last step gathered right after the
# current one's use is prefetched (5 of 9 gathers), the same each step. Full fine-tuning, and LoRA with
# activation checkpointing (frozen and trainable units interleaved, layers gathered again for
# their recomputation), on 2 Gloo processes; the losses and gradient norms equal one unsharded
# process's (rel. 1e-6).
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 >/dev/null 2>&1
"$DELIB_PYTHON" "$CASE_DIR/data.py" data.jsonl 12
common=(--model model --plain --max-length 256 --max-steps 4 --lr 3e-3 --seed 3 --threads 1 data.jsonl)

run sft-train "${common[@]}" --batch-size 6
expect_rc 0
printf '%s\n' "$out" > ref.jsonl
run sft-train "${common[@]}" --batch-size 6 --lora --lora-rank 4 --checkpoint-activations
expect_rc 0
printf '%s\n' "$out" > lref.jsonl
run_ranks full 2 sft-train "${common[@]}" --batch-size 3 --sharding full
ranks_ok full 2
run_ranks lora 2 sft-train "${common[@]}" --batch-size 3 --sharding full --lora --lora-rank 4 --checkpoint-activations
ranks_ok lora 2

py <<'PY' || fail "prefetching did not happen, or changed the results"
import json
for name, ref in (("full", "ref"), ("lora", "lref")):
    a = [json.loads(l) for l in open(f"{ref}.jsonl")]
    b = [json.loads(l) for l in open(f"{name}.0.jsonl")]
    assert len(a) == len(b) == 4, (name, len(a), len(b))
    for x, y in zip(a, b):
        for k in ("loss", "grad_norm"):
            assert abs(x[k] - y[k]) <= 1e-6 * abs(x[k]), (name, k, x[k], y[k])
    counts = [(r["gathers"], r["prefetched"]) for r in b]
    print(name, "gathers, prefetched per step:", counts, "waits:", [round(r["gather_wait_s"], 4) for r in b])
    assert counts[0][0] > 0 and counts[0][1] == 0, counts
    assert all(c == counts[1] for c in counts[1:]) and counts[1][0] == counts[0][0], counts
    assert counts[1][1] == (counts[1][0] - 1 if name == "full" else 5), counts
    assert all(r["gather_wait_s"] >= 0 for r in b)
PY
