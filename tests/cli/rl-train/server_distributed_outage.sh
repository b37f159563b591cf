# rl-train --rollout-backend openai with two processes when the weight push fails: only rank 0
# pushes (POST /update_weights_from_disk, answered 500 here while rollouts are served), yet both
# processes stop with exit 4 after step 1 (rank 1 learns it from the push's collective and says
# so), none hangs, and what rank 0 writes holds whole steps only: step 1's rollouts, metrics and
# checkpoint, nothing of step 2. (server_distributed_rollout_outage.sh: one rank's rollouts fail.)
prompts=4
source "$CASE_DIR/server_distributed.bash"
common+=(--steps 3 --prompts-per-step 1 --group-size 2 --max-tokens 4 --kl-coef 0)
start_server push --mode model --model-dir model --model-name base --fail-path /update_weights_from_disk
run_ranks push 2 rl-train "${common[@]}" --rollout-base-url "$push_url" --out push --metrics push.m.jsonl
ranks_rc push 2 4
grep -q "update_weights_from_disk" push.0.err || fail "rank 0 does not name the push: $(cat push.0.err)"
grep -q "weight push of policy version 1 failed on rank 0" push.1.err || fail "rank 1: $(cat push.1.err)"
only_step1 push
