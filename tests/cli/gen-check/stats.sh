# --stats FILE: the run's counters as JSON, written whole; a write that fails is exit 3 naming
# the file (it was ignored: a full disk left exit 0 and no counters).
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 7 >/dev/null 2>&1 || fail "tiny model"
echo '{"id":"a","prompt_ids":[1,2,3]}' > ids.jsonl
run gen-check --model model --temperature 0 --max-tokens 3 --plain ids.jsonl -o out.jsonl --stats stats.json
expect_rc 0
"$DELIB_PYTHON" -c "import json; s = json.load(open('stats.json')); assert s['requests'] == 1 and s['generated_tokens'] == 3, s" \
  || fail "stats.json"
[ ! -e stats.json.tmp ] || fail "stats.json.tmp left behind"
run gen-check --model model --temperature 0 --max-tokens 3 --plain ids.jsonl -o out.jsonl --stats /dev/full
expect_rc 3
expect_err_glob "gen-check: /dev/full: cannot write --stats: *"
run gen-check --model model --temperature 0 --max-tokens 3 --plain ids.jsonl -o out.jsonl --stats no/such/dir/stats.json
expect_rc 3
expect_err_glob "gen-check: no/such/dir/stats.json: cannot write --stats: No such file or directory"
# Per-step phases and host syncs (EngineStats, delib/generate.h): a decode step waits for the
# device once (the sampled ids, or the logits when the host samples, as on the CPU), the one
# fill round once; --stats-sync (device syncs at phase ends, a no-op on the CPU) changes no output.
printf '{"id":"a","prompt_ids":[1,2,3]}\n{"id":"b","prompt_ids":[4,5]}\n' > two.jsonl
run gen-check --model model --temperature 1 --top-p 0.9 --max-tokens 4 --plain two.jsonl -o plain.jsonl --stats s1.json
expect_rc 0
run gen-check --model model --temperature 1 --top-p 0.9 --max-tokens 4 --plain two.jsonl -o prof.jsonl --stats s2.json --stats-sync
expect_rc 0
cmp -s plain.jsonl prof.jsonl || fail "--stats-sync changed the output"
"$DELIB_PYTHON" - <<'PY' || fail "stats phases/syncs"
import json
for name, prof in (("s1.json", False), ("s2.json", True)):
    s = json.load(open(name))
    assert s["stats_sync"] is prof, s
    assert s["decode_steps"] == 3 and s["generated_tokens"] == 8, s
    assert s["decode_syncs"] == 3 and s["syncs_per_decode_step"] == 1.0 and s["prefill_syncs"] == 1, s
    for k in ("step_forward_seconds", "step_sample_seconds", "step_host_seconds"):
        assert 0 < s[k] <= s["wall_seconds"], (k, s)
    assert s["device_to_host_bytes"] > 0, s
PY
