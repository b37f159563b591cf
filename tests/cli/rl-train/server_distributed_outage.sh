# rl-train --rollout-backend openai with two processes when the weight push fails: only rank 0
# pushes (POST /update_weights_from_disk, answered 500 here while rollouts are served), yet both
# processes stop with exit 4 after step 1 (rank 1 learns it from the push's collective and says
# so), none hangs, and what rank 0 writes holds whole steps only: step 1's rollouts, metrics and
# checkpoint, nothing of step 2.
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 4
start_server srv --mode model --model-dir model --model-name base --fail-path /update_weights_from_disk
export MASTER_ADDR=127.0.0.1 MASTER_PORT=$(free_port) WORLD_SIZE=2
for rank in 0 1; do
  RANK=$rank LOCAL_RANK=$rank timeout 120 rl-train --model model --steps 3 --prompts-per-step 1 --group-size 2 \
    --max-tokens 4 --seed 5 --threads 1 --kl-coef 0 --rule-reward e=1 --plain -q --rollout-backend openai \
    --rollout-model base --rollout-base-url "$srv_url" --rollout-max-retries 0 --out ckpt --metrics m.jsonl \
    prompts.jsonl >r$rank.jsonl 2>r$rank.err &
  eval pid$rank=\$!
done
set +e
wait $pid0; rc0=$?
wait $pid1; rc1=$?
set -e
unset MASTER_ADDR MASTER_PORT WORLD_SIZE
[ $rc0 = 4 ] && [ $rc1 = 4 ] || fail "exit statuses $rc0 $rc1, expected 4 4 (124: hung): $(cat r0.err r1.err)"
grep -q "update_weights_from_disk" r0.err || fail "rank 0 does not name the push: $(cat r0.err)"
grep -q "weight push of policy version 1 failed on rank 0" r1.err || fail "rank 1: $(cat r1.err)"
py <<'PY' || fail "partial step written"
import json, os
rows = [json.loads(l) for l in open("r0.jsonl")]
ms = [json.loads(l) for l in open("m.jsonl")]
assert [r["step"] for r in rows] == [1] * 4 and [m["step"] for m in ms] == [1], (rows, ms)
assert os.path.isdir("ckpt/checkpoint-00000001") and not os.path.exists("ckpt/checkpoint-00000002")
PY
