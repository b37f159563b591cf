# rl-train --rollout-backend openai --async --drop-uniform-groups with two processes: the run
# finishes (no hang: every rank makes the same draws and collectives, the prefetched first draw
# included) and each group records the policy version that sampled it, on every rank: a step's
# first draw one update stale (made ahead), its further draws current; the server's log agrees
# (the models the requests named), and the metrics count what was drawn.
source "$CASE_DIR/server_distributed.bash"
common+=(--group-size 2 --max-tokens 4 --kl-coef 0 --lora --lora-rank 4 --async)
start_server srv --mode model --model-dir model --model-name base
run_ranks dyn 2 rl-train "${common[@]}" --rollout-base-url "$srv_url" --out dyn --steps 3 --prompts-per-step 1 \
  --drop-uniform-groups --max-prompt-draws 6 --metrics dyn.m.jsonl
ranks_ok dyn 2
py "$srv_log" <<'PY' || fail "async + dynamic sampling on 2 processes"
import collections, json, sys
from rollouts import async_draw_versions
rows = [json.loads(l) for l in open("dyn.0.jsonl") if l.strip()]
ms = [json.loads(l) for l in open("dyn.m.jsonl")]
assert [m["step"] for m in ms] == [1, 2, 3]
later = async_draw_versions(rows)
for m in ms:
    step = [r for r in rows if r["step"] == m["step"]]
    assert m["prompts_drawn"] == len(step) // 2 and m["policy_version"] == max(0, m["step"] - 2), m
assert later > 0, "no further draw after step 1: the versions of further draws are not checked"
ev = [json.loads(l) for l in open(sys.argv[1])]
served = collections.Counter(e["request"]["model"] for e in ev if e["path"] == "/v1/completions")
name = lambda v: "base" if v == 0 else f"policy-v{v}"
assert served == collections.Counter(name(r["policy_version"]) for r in rows), (served, rows)
print("async + dynamic sampling, 2 processes: rollouts of further draws after step 1:", later)
PY
