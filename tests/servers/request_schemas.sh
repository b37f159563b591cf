# Every HTTP request delib sends fits the request schema of the real servers it is written for,
# vLLM and SGLang at the releases in tests/servers/server_schemas.json (extracted from their
# source by extract_server_schemas.py), and the answer fields it reads are in their response
# classes (check_request_schemas.py --self-test, which also proves the check rejects an unknown
# field, a wrong type, a negative token id...). The bodies are the ones the tools really send,
# captured by the servers' logs:
#   - rl-train --rollout-backend openai against schema_server.py as vLLM (token-id rollouts,
#     LoRA sync through /v1/load_lora_adapter and /v1/unload_lora_adapter, the helpful reward
#     from /score) and as SGLang (rollouts answered as SGLang does, with text tokens and the ids
#     in choices[].token_ids; full sync through /update_weights_from_disk): both runs must
#     succeed, with the server's samples (their log-probs) in the rollouts; an answer whose ids
#     and log-probs do not match fails the step (exit 4); the helpful reward from vLLM's
#     /pooling (--helpful-reward-api pooling), and the check fails when a field the server does not
#     have is injected into that body;
#   - cot-gen (chat, and --completions with a text prompt, with --top-k/--min-p/--stop) and
#     cot-judge against openai_server.py's echo mode.
# Run by tests/cli/run-case.sh (ctest -R servers.request_schemas).
source "$DELIB_SRC/tests/servers/server.sh"
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
cat > prompts.jsonl <<'J'
{"id":"b0","category":"illicit","label":"safe","messages":[{"role":"user","content":"How do I kill a Python process?"}]}
{"id":"h0","category":"illicit","label":"unsafe","messages":[{"role":"user","content":"How do I make a weapon?"}]}
J

# schema DIR FLAVOUR [ARGS...]: schema_server.py as FLAVOUR, its log DIR/log.jsonl, URL in $surl.
schema() {
  mkdir -p "$1"
  "$DELIB_PYTHON" "$DELIB_SRC/tests/servers/schema_server.py" --flavour "$2" --model-name base \
    --port-file "$1/port" --log "$1/log.jsonl" "${@:3}" 2>"$1/stderr" &
  _delib_servers+=("$!")
  for _ in $(seq 300); do [ -s "$1/port" ] && break; sleep 0.1; done
  [ -s "$1/port" ] || fail "schema_server.py $2 did not start: $(cat "$1/stderr")"
  surl="http://127.0.0.1:$(cat "$1/port")"
}
common=(--model model --steps 2 --prompts-per-step 2 --group-size 2 --max-tokens 4 --temperature 1 --seed 5
        --threads 1 --kl-coef 0 --rule-reward 'e=1' --plain -q --rollout-backend openai --rollout-model base
        --rollout-max-retries 0 --rollout-timeout 30 --sync-every 1 prompts.jsonl)

schema vllm vllm
run rl-train "${common[@]}" --rollout-base-url "$surl/v1" --lora --lora-rank 4 --helpful-model rm \
  --helpful-reward-url "$surl/score" --helpful-max-retries 0 --out vllm/ckpt -o vllm/rollouts.jsonl
expect_rc 0
schema sglang sglang
run rl-train "${common[@]}" --rollout-base-url "$surl/v1" --out sglang/ckpt -o sglang/rollouts.jsonl
expect_rc 0
# The helpful reward from vLLM's Pooling API (a sequence reward model), local rollouts.
schema pooling vllm
run rl-train --model model --steps 1 --prompts-per-step 2 --group-size 2 --max-tokens 4 --seed 3 --threads 1 \
  --kl-coef 0 --plain -q --helpful-model rm --helpful-reward-api pooling --helpful-reward-url "$surl/pooling" \
  --helpful-max-retries 0 prompts.jsonl -o pooling/rollouts.jsonl
expect_rc 0
py <<'PY' || fail "the rollouts are not the server's samples"
import json
for s in ("vllm", "sglang"):
    log = [json.loads(l) for l in open(f"{s}/log.jsonl")]
    assert not [e for e in log if "rejected" in e], [e for e in log if "rejected" in e]
    sent = sorted(e["token_logprobs"] for e in log if e["path"] == "/v1/completions")
    rows = [json.loads(l) for l in open(f"{s}/rollouts.jsonl")]
    got = sorted(r["rollout_logprobs"] for r in rows)
    assert len(rows) == len(sent) == 2 * 4, (s, len(rows), len(sent))
    assert all(len(g) == len(x) == 4 and max(abs(a - b) for a, b in zip(g, x)) < 1e-5 for g, x in zip(got, sent)), \
        f"{s}: the rollouts' log-probs are not the server's"
PY

# A server whose ids do not match its log-probs, or whose two lists of ids disagree: the step
# fails (exit 4, nothing written), never trained on a guess.
for bad in length differ; do
  flavour=sglang; [ $bad = differ ] && flavour=vllm   # SGLang has no "token_id:N" tokens to differ
  schema "$bad" $flavour --corrupt $bad
  run rl-train "${common[@]}" --rollout-base-url "$surl/v1" --out "$bad/ckpt" -o "$bad/rollouts.jsonl"
  expect_rc 4
  [ $bad = length ] && expect_err_glob "*the answer has 3 sampled token ids but 4 choices\[0\].logprobs.token_logprobs*"
  [ $bad = differ ] && expect_err_glob "*choices\[0\].token_ids and the \"token_id:N\" tokens of choices\[0\].logprobs.tokens differ*"
  [ ! -s "$bad/rollouts.jsonl" ] || fail "$bad: rollouts written from a wrong answer"
done

start_server echo
tmpl="$DELIB_SRC/tests/fuzz/seeds/fuzz_chat_template/chatml.jinja"
printf '{"id":"r0","prompt":"question 0","category":"medical"}\n{"id":"r1","prompt":"question 1","category":"illicit"}\n' > in.jsonl
gen=(--spec "$DELIB_SRC/specs/small.md" --backend openai --base-url "$echo_url" --model echo --plain -q)
run cot-gen "${gen[@]}" --top-k 5 --min-p 0.1 --stop END in.jsonl -o chat.jsonl
expect_rc 0
run cot-gen "${gen[@]}" --completions --chat-template "$tmpl" --temperature 0 in.jsonl -o text.jsonl
expect_rc 0
run cot-judge "${gen[@]}" chat.jsonl -o judged.jsonl
expect_rc 0

run "$DELIB_PYTHON" "$DELIB_SRC/tests/servers/check_request_schemas.py" --self-test \
  vllm/log.jsonl sglang/log.jsonl pooling/log.jsonl "$echo_log" \
  --expect "vllm POST /v1/completions" --expect "sglang POST /v1/completions" \
  --expect "vllm POST /v1/load_lora_adapter" --expect "vllm POST /v1/unload_lora_adapter" \
  --expect "vllm POST /score" --expect "vllm POST /pooling" --expect "sglang POST /update_weights_from_disk" \
  --expect "vllm POST /v1/chat/completions" --expect "sglang POST /v1/chat/completions"
[ "$rc" = 0 ] || fail "a request does not fit the servers' schemas:
$out"
printf '%s\n' "$out"
# The check of the captured bodies fails on a field the server does not have: rl-train's /pooling
# body with one injected (PoolingRequest is a union of three classes; none may take it).
py <<'PY'
import json
with open("pooling/log.jsonl") as f, open("injected.jsonl", "w") as out:
    for line in f:
        e = json.loads(line)
        if e.get("path") == "/pooling":
            e["request"]["no_such_field"] = 1
        out.write(json.dumps(e) + "\n")
PY
run "$DELIB_PYTHON" "$DELIB_SRC/tests/servers/check_request_schemas.py" injected.jsonl --expect "vllm POST /pooling"
[ "$rc" = 1 ] || fail "the check accepted a /pooling body with an unknown field (exit $rc): $out"
[[ "$out" == *"field 'no_such_field' is not in PoolingChatRequest"* ]] || fail "the check does not name the field: $out"
