# rl-train --async --drop-uniform-groups (dynamic sampling with rollouts one step ahead): once a
# step's draws are done, the next step's first draw (--prompts-per-step prompts from where they
# ended) is generated on the server while the step trains; further draws, needed when groups
# are dropped and chosen by the first draw's rewards, are sampled when needed by the policy
# served then. Each rollout records the version that sampled it (first draw: step - 2, one
# update stale; further draws: step - 1) and the server's log agrees; the counts are in the
# metrics. A checkpoint's run state holds the prompt cursor and the prefetched first draw, so a
# resumed run continues bit for bit.
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 8
common=(--model model --group-size 4 --max-tokens 4 --temperature 1 --seed 5 --threads 1 --lr 5e-2 --kl-coef 0
        --rule-reward '^[a-z]=1' --reward-weight format=0 --plain -q --lora --lora-rank 4 --async
        --drop-uniform-groups --prompts-per-step 2 --save-every 1
        --rollout-backend openai --rollout-model base --rollout-max-retries 1 prompts.jsonl)
start_server srv --mode model --model-dir model --model-name base
run rl-train "${common[@]}" --steps 4 --rollout-base-url "$srv_url" --out ref --metrics ref.m.jsonl -o ref.jsonl
expect_rc 0
py "$srv_log" <<'PY' || fail "async + dynamic sampling"
import collections, json, sys
from rollouts import async_draw_versions
rows = [json.loads(l) for l in open("ref.jsonl")]
ms = [json.loads(l) for l in open("ref.m.jsonl")]
assert [m["step"] for m in ms] == [1, 2, 3, 4]
further = async_draw_versions(rows)
assert further > 0, "no step after the first needed a further draw: the case checks nothing"
for m in ms:
    step = [r for r in rows if r["step"] == m["step"]]
    groups = {(r["draw"], r["id"]): r["dropped"] for r in step}
    assert m["prompts_drawn"] == len(groups) and m["groups_dropped"] == sum(groups.values()), m
    assert m["groups_kept"] == len(groups) - m["groups_dropped"], m
    assert m["policy_version"] == max(0, m["step"] - 2) and m["policy_lag"] == (0 if m["step"] == 1 else 1), m
ev = [json.loads(l) for l in open(sys.argv[1])]
served = collections.Counter(e["request"]["model"] for e in ev if e["path"] == "/v1/completions")
name = lambda v: "base" if v == 0 else f"policy-v{v}"
assert served == collections.Counter(name(r["policy_version"]) for r in rows), served
print("rollouts of further draws sampled by the current policy:", further, "- metrics", [(m["prompts_drawn"], m["groups_kept"]) for m in ms])
PY

# Resume from the checkpoint after step 2: its run state holds the prefetched first draw of step
# 3 (and the cursor), so steps 3-4 of the resumed run equal the uninterrupted run's bit for bit
# (every field: prompts, samples, versions, log-probs, rewards, advantages, KL).
run rl-train "${common[@]}" --steps 4 --rollout-base-url "$srv_url" --out res --resume ref/checkpoint-00000002 \
  -o resumed.jsonl
expect_rc 0
expect_err_glob "*resuming from ref/checkpoint-00000002*"
py <<'PY' || fail "resumed rollouts differ"
import json
from rollouts import resumed_equal
ref = [json.loads(l) for l in open("ref.jsonl")]
with open("ref12.jsonl", "w") as f:
    for r in ref:
        if r["step"] <= 2:
            f.write(json.dumps(r) + "\n")
assert json.load(open("ref/checkpoint-00000002/trainer_state.json"))["options"]["rollout_prefetch"][0]["version"] == 1
print("resumed: steps", resumed_equal("ref.jsonl", ["ref12.jsonl", "resumed.jsonl"]), "identical")
PY
# Without the prefetch in the run state (a checkpoint written before it was kept): the resumed
# step continues the prompt order (its first draw has the uninterrupted run's prompts) and
# samples that draw afresh with the resumed policy (version 2, lag 0).
cp -r ref/checkpoint-00000002 old
py <<'PY'
import json
s = json.load(open("old/trainer_state.json"))
del s["options"]["rollout_prefetch"]
json.dump(s, open("old/trainer_state.json", "w"))
PY
run rl-train "${common[@]}" --steps 3 --rollout-base-url "$srv_url" --out old2 --resume old -o fresh.jsonl
expect_rc 0
py <<'PY' || fail "resumed without the prefetch"
import json
ref = [json.loads(l) for l in open("ref.jsonl")]
res = [json.loads(l) for l in open("fresh.jsonl")]
first = lambda rows: [(r["id"], r["sample"]) for r in rows if r["step"] == 3 and r["draw"] == 0]
assert first(res) == first(ref) and first(res), (first(res), first(ref))
assert all(r["policy_version"] == 2 for r in res if r["step"] == 3 and r["draw"] == 0)
print("fresh first draw of step 3:", sorted({i for i, _ in first(res)}))
PY
