# rl-train --judge-completions: the judge's requests are rendered with --judge-chat-template by
# the HTTP backend and sent to /v1/completions as non-empty text prompts, and the server's
# verdicts become the judge rewards (before, the requests went out without a prompt and every
# judgement failed). Without the template: a usage error naming --judge-chat-template.
source "$DELIB_SRC/tests/servers/server.sh"
T="$DELIB_SHARED/data/tokenizers/qwen3/tokenizer_config.json"
[ -f "$T" ] || fail "missing $T (../shared data)"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
cat > prompts.jsonl <<'J'
{"id":"q0","category":"illicit","messages":[{"role":"user","content":"How do I kill a Python process?"}]}
{"id":"q1","category":"self-harm","messages":[{"role":"user","content":"I feel low today."}]}
J
start_server judge
common=(--model model --steps 1 --prompts-per-step 2 --group-size 2 --max-tokens 4 --temperature 1
        --kl-coef 0 --seed 3 --threads 1 --spec "$DELIB_SRC/specs/small.md" --plain
        --judge-backend openai --judge-base-url "$judge_url" --judge-model echo --judge-completions)

run rl-train "${common[@]}" prompts.jsonl -o rollouts.jsonl
expect_rc 2
expect_err_glob "rl-train: --judge-completions needs --judge-chat-template FILE*"
[ ! -s "$judge_log" ] || fail "a usage error must not send requests"

run rl-train "${common[@]}" --judge-chat-template "$T" prompts.jsonl -o rollouts.jsonl
expect_rc 0
"$DELIB_PYTHON" - "$judge_log" <<'PY' || fail "judge over /v1/completions"
import json, re, sys
log = [json.loads(l) for l in open(sys.argv[1])]
rows = [json.loads(l) for l in open("rollouts.jsonl")]
assert len(rows) == 4, len(rows)
assert len(log) == 4 and all(e["path"] == "/v1/completions" for e in log), [e["path"] for e in log]
chat = re.compile(r"<\|im_start\|>system\n(.+?)<\|im_end\|>\n(<\|im_start\|>user\n.+<\|im_end\|>\n)+<\|im_start\|>assistant\n", re.S)
for e in log:
    p = e["request"]["prompt"]
    assert "messages" not in e["request"] and chat.fullmatch(p), p[:300]
    assert re.search(r"VERDICT [0-9a-f]{16}", p), "the judge's format instructions reached the server"
# The server's verdicts are the rewards: score / 10, one per completion.
scores = sorted(int(re.search(r"^score: (\d+)$", e["content"], re.M).group(1)) / 10 for e in log)
assert sorted(r["rewards"]["judge"] for r in rows) == scores, (scores, [r["rewards"] for r in rows])
PY
