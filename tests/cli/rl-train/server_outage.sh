# A rollout server that fails stops rl-train with exit 4 and writes nothing of the step it was
# making: every answer 500 (after --rollout-max-retries), or the server killed in the middle of
# a run (the steps done stay complete, with a checkpoint to --resume from). A server that
# answers without the sampled token ids (no return_tokens_as_token_ids) is a failure too, never
# a re-tokenisation of the text.
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 4 >/dev/null 2>&1 || fail "tiny model"
"$DELIB_PYTHON" "$CASE_DIR/prompts.py" prompts.jsonl 4
common=(--model model --prompts-per-step 2 --group-size 2 --max-tokens 4 --seed 1 --kl-coef 0 --threads 1
        --rule-reward e=1 --plain -q --rollout-backend openai --rollout-model base --rollout-max-retries 1
        --rollout-timeout 5 --metrics metrics.jsonl prompts.jsonl)

# 1. Every request answered 500.
start_server down --always-status 500
run rl-train "${common[@]}" --steps 2 --rollout-base-url "$down_url" --out down -o down.jsonl
expect_rc 4
expect_err_glob "rl-train: rollout server: rollout q* sample * (model base, policy version 0): *HTTP 500*(gave up after 2 attempts)*"
[ ! -s down.jsonl ] && [ ! -s metrics.jsonl ] || fail "a failed step wrote records"
[ ! -e down/latest ] || fail "a checkpoint without a step"

# 2. The echo server answers completions without logprobs.tokens: refused, never guessed.
start_server echo
run rl-train "${common[@]}" --steps 1 --rollout-base-url "$echo_url" --out echo -o echo.jsonl
expect_rc 4
expect_err_glob "*choices\[0\].logprobs.tokens / token_logprobs are missing*"
[ ! -s echo.jsonl ] || fail "rollouts written from an answer without token ids"

# 3. The server killed during the run: the steps before stay whole, a checkpoint of them is
# written, and the step being made leaves nothing.
rm -f metrics.jsonl
start_server srv --mode model --model-dir model --model-name base
"$DELIB_PYTHON" - "$srv_url" "${_delib_servers[-1]}" "${common[@]}" <<'PY' || fail "kill the server mid-run"
import os, signal, subprocess, sys, time, json
url, pid, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
with open("killed.jsonl", "w") as out, open("killed.err", "w") as err:
    p = subprocess.Popen(["rl-train", *args, "--steps", "50", "--save-every", "0", "--rollout-base-url", url,
                          "--out", "run"], stdout=out, stderr=err)
    while p.poll() is None:
        with open("killed.jsonl") as f:
            if sum(1 for _ in f) >= 2 * 4:
                os.kill(pid, signal.SIGKILL)
                break
        time.sleep(0.002)
    rc = p.wait(timeout=120)
assert rc == 4, rc
err = open("killed.err").read()
assert "rl-train: rollout server: " in err and "gave up after 2 attempts" in err, err
rows = [json.loads(l) for l in open("killed.jsonl")]
steps = sorted({r["step"] for r in rows})
assert len(rows) == 4 * len(steps) and steps == list(range(1, len(steps) + 1)), (len(rows), steps)
metrics = [json.loads(l) for l in open("metrics.jsonl")]
assert [m["step"] for m in metrics] == steps, (metrics, steps)
latest = open("run/latest").read().strip()
st = json.load(open(f"run/{latest}/trainer_state.json"))
assert st["step"] == steps[-1], (st["step"], steps)
print("stopped after", steps[-1], "complete steps")
PY
