# rl-train --rollout-backend openai --async --drop-uniform-groups with two processes: the run
# finishes (no hang: every rank makes the same draws and collectives, the prefetched first draw
# included) and each group records the policy version that sampled it, on every rank: a step's
# first draw one update stale (made ahead), its further draws current; the server's log agrees
# (the models the requests named), and the metrics count what was drawn.
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 8
common=(--model model --group-size 2 --max-tokens 4 --temperature 1 --seed 5 --threads 1 --lr 5e-2 --kl-coef 0
        --rule-reward '^[a-z]=1' --reward-weight format=0 --plain -q --lora --lora-rank 4 --async
        --rollout-backend openai --rollout-model base --rollout-max-retries 1 prompts.jsonl)
start_server srv --mode model --model-dir model --model-name base
two() {  # two NAME FLAGS...: two processes, rank 0's rollouts in NAME0.jsonl
  local name=$1; shift
  export MASTER_ADDR=127.0.0.1 MASTER_PORT=$(free_port) WORLD_SIZE=2
  for rank in 0 1; do
    RANK=$rank LOCAL_RANK=$rank timeout 300 rl-train "${common[@]}" --rollout-base-url "$srv_url" --out $name "$@" \
      >$name$rank.jsonl 2>$name$rank.err &
    eval pid$rank=\$!
  done
  wait $pid0 || fail "$name: rank 0 failed (124: hung): $(cat ${name}0.err)"
  wait $pid1 || fail "$name: rank 1 failed (124: hung): $(cat ${name}1.err)"
  unset MASTER_ADDR MASTER_PORT WORLD_SIZE
}
two dyn --steps 3 --prompts-per-step 1 --drop-uniform-groups --max-prompt-draws 6 --metrics dyn.m.jsonl
py "$srv_log" <<'PY' || fail "async + dynamic sampling on 2 processes"
import collections, json, sys
rows = [json.loads(l) for l in open("dyn0.jsonl") if l.strip()]
ms = [json.loads(l) for l in open("dyn.m.jsonl")]
assert [m["step"] for m in ms] == [1, 2, 3]
later = 0
for r in rows:
    k = r["step"]
    want = 0 if k == 1 else (k - 2 if r["draw"] == 0 else k - 1)
    assert r["policy_version"] == want, r
    later += k > 1 and r["draw"] > 0
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
