# Sourced by the server_distributed*.sh cases (not a case itself: cases end in .sh): rl-train
# with --rollout-backend openai on several processes against the test server. Loads the test
# server's helpers (tests/servers/server.sh), writes the tiny model (seed 11) into model/ and
# ${prompts:-8} prompts into prompts.jsonl, and sets `common` to the flags every case shares
# (server rollouts of the model served as "base", one retry, a rule reward that about a quarter of
# the answers earn); a case adds its own (steps, group size, --async, --lora, ...) and the server's
# URL. The ranks (run_ranks) are given 300 s: the test server answers every rank's requests on
# the same 2 CPU cores.
RANKS_TIMEOUT=300
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl "${prompts:-8}"
common=(--model model --temperature 1 --seed 5 --threads 1 --lr 5e-2 --rule-reward '^[a-z]=1' --reward-weight format=0
        --plain -q --rollout-backend openai --rollout-model base --rollout-max-retries 1 prompts.jsonl)

# only_step1 NAME: what rank 0 of the stopped run NAME (run_ranks NAME 2 ... --out NAME --metrics
# NAME.m.jsonl, 1 prompt of 2 completions per process and step) wrote holds step 1 whole and
# nothing of step 2: step 1's rollouts (4) and metrics, checkpoint-00000001 and no later one.
only_step1() {
  py "$1" <<'PY' || fail "$1: a partial step was written"
import json, os, sys
name = sys.argv[1]
rows = [json.loads(l) for l in open(f"{name}.0.jsonl")]
ms = [json.loads(l) for l in open(f"{name}.m.jsonl")]
assert [r["step"] for r in rows] == [1] * 4 and [m["step"] for m in ms] == [1], (rows, ms)
assert os.path.isdir(f"{name}/checkpoint-00000001") and not os.path.exists(f"{name}/checkpoint-00000002")
PY
}
