# rl-train --sharding full loads as sft-train does: no rank reads the whole policy; each reads
# its part of each unit from the safetensors file (CausalLM::load_unallocated +
# ShardedAdamW::read_parts, one unit at a time, the unit's mapped pages dropped after it).
# A LoRA run (no optimizer state for the frozen base) of a model of M = 103 MiB of f32 weights
# (16 layers with wide MLPs, units of 7 MB) on 2 Gloo processes, one step with server rollouts
# (local ones gather the whole policy for their phase) and no weight push: each rank holds its
# half of the base (M / 2) and, for the update's passes, a few gathered units: 0.8 M
# above what the same run holds with a 2-layer model of 2.3 MB (the process's libtorch,
# tokenizer and buffers: the baseline). Loading the whole model on every rank and cutting it
# afterwards held the model, its file's mapped pages and the rank's part (1.75 M) and fails
# the 1.2 M limit. Peak RSS: the rank's maximum resident set (getrusage of the rank as the
# child of a Python wrapper), freed memory returned at once (MALLOC_MMAP_THRESHOLD_), so the
# RSS counts live bytes.
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" tiny 0 >/dev/null 2>&1 || fail "tiny model"
cp -r tiny model
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_wide_model.py" model || fail "wide model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 2
# The rank under a wrapper that reports its peak RSS on stderr ("max_rss_kb N") and exits as it did.
maxrss=("$DELIB_PYTHON" -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
print("max_rss_kb", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(rc)')
for m in tiny model; do
  start_server srv_$m --mode model --model-dir $m --model-name base
  url=srv_${m}_url
  MALLOC_MMAP_THRESHOLD_=65536 run_ranks $m 2 "${maxrss[@]}" rl-train --model $m --steps 1 --prompts-per-step 1 \
    --group-size 2 --max-tokens 4 --threads 1 --rule-reward e=1 --seed 1 --lora --lora-rank 4 --sharding full \
    --rollout-backend openai --rollout-base-url "${!url}" --rollout-model base --sync-every 2 --sync-dir sync --plain -q prompts.jsonl
  ranks_ok $m 2
done
py <<'PY' || fail "a rank held about the whole model while loading"
import os
M = sum(os.path.getsize(os.path.join("model", f)) for f in os.listdir("model") if f.endswith(".safetensors")) / 2**20
peak = lambda name, r: max(int(l.split()[1]) for l in open(f"{name}.{r}.err") if l.startswith("max_rss_kb")) / 1024
for r in (0, 1):
    grown = peak("model", r) - peak("tiny", r)
    print(f"rank {r}: model {M:.0f} MiB, peak {grown:.0f} MiB above the 2-layer run's ({grown / M:.2f} M)")
    assert M > 100, M
    assert grown < 1.2 * M, (r, grown, M)
    assert grown > 0.4 * M, (r, grown, M)  # its half of the base is counted: the measure works
PY
