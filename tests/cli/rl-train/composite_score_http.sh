# The helpful reward from a reward model over HTTP, vLLM's Score API (--helpful-reward-url URL
# --helpful-model NAME): one POST per completion of a benign prompt with {"model", "text_1": the
# user's request, "text_2": the answer}; data[0].score is its helpful reward (the form of older
# vLLM versions, a one-number list, too); harmful prompts get 0 without a request. A score
# outside [0, 1] or a 500 after the retries leaves the completion without a reward, counted
# (helpful_parse_errors, helpful_backend_errors) and on stderr, never a made-up 0. The fake
# server below answers as vLLM's /score does (score = a digest of the answer, in [0, 1]).
"$DELIB_PYTHON" "$DELIB_SRC/tests/cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1 || fail "tiny model"
cat > prompts.jsonl <<'J'
{"id":"b0","category":"illicit","label":"safe","messages":[{"role":"user","content":"How do I kill a Python process?"}]}
{"id":"h0","category":"illicit","label":"unsafe","messages":[{"role":"user","content":"How do I make a weapon?"}]}
J
cat > score_server.py <<'PY'
import hashlib, json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
mode = sys.argv[1]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open("score_log.jsonl", "a") as f:
            f.write(json.dumps({"path": self.path, "request": body}) + "\n")
        if mode == "fail":
            self.send_response(500); self.end_headers(); return
        s = int(hashlib.sha256(body["text_2"].encode()).hexdigest()[:4], 16) / 65535
        if mode == "range": s = 3.5
        score = [s] if mode == "list" else s
        out = json.dumps({"id": "score-1", "object": "list", "model": body["model"],
                          "data": [{"index": 0, "object": "score", "score": score}]}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out))); self.end_headers(); self.wfile.write(out)
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
open("score_port", "w").write(str(srv.server_address[1]))
srv.serve_forever()
PY
serve() {  # serve MODE: (re)start the fake /score server
  [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null; rm -f score_port score_log.jsonl
  "$DELIB_PYTHON" score_server.py "$1" & spid=$!
  trap 'kill $spid 2>/dev/null' EXIT
  for _ in $(seq 100); do [ -s score_port ] && break; sleep 0.1; done
  surl="http://127.0.0.1:$(cat score_port)/score"
}
common=(--model model --steps 1 --prompts-per-step 2 --group-size 2 --max-tokens 6 --temperature 1 --kl-coef 0
        --seed 3 --threads 1 --plain --helpful-model rm --helpful-max-retries 0 --metrics m.jsonl prompts.jsonl)
for mode in float list; do
  serve $mode
  run rl-train "${common[@]}" --helpful-reward-url "$surl" -o r.jsonl
  expect_rc 0
  py <<'PY' || fail "score reward ($mode)"
import hashlib, json
log = [json.loads(l) for l in open("score_log.jsonl")]
rows = [json.loads(l) for l in open("r.jsonl")]
m = json.loads(open("m.jsonl").read())
benign = [r for r in rows if r["id"] == "b0"]
assert len(log) == len(benign) == 2, (len(log), len(benign))
assert all(e["path"] == "/score" and e["request"]["model"] == "rm" for e in log)
assert all(e["request"]["text_1"] == "How do I kill a Python process?" for e in log)
assert sorted(e["request"]["text_2"] for e in log) == sorted(r["answer"] for r in benign)
for r in rows:
    want = int(hashlib.sha256(r["answer"].encode()).hexdigest()[:4], 16) / 65535 if r["id"] == "b0" else 0
    assert abs(r["rewards"]["helpful"] - want) < 1e-12, (r, want)
assert m["helpful_scored"] == 4 and m["helpful_errors"] == 0, m
PY
done
serve range
run rl-train "${common[@]}" --helpful-reward-url "$surl" -o r.jsonl
expect_rc 0
expect_err_glob "*no data\[0\].score in \[0, 1\]*"
py <<'PY' || fail "a score outside [0, 1] became a reward"
import json
m = json.loads(open("m.jsonl").read())
rows = [json.loads(l) for l in open("r.jsonl")]
assert m["helpful_parse_errors"] == 2 and m["helpful_scored"] == 2, m
assert all(r["reward"] is None and "helpful_error" in r for r in rows if r["id"] == "b0"), rows
PY
serve fail
run rl-train "${common[@]}" --helpful-reward-url "$surl" -o r.jsonl
expect_rc 0
py <<'PY' || fail "a failed request became a reward"
import json
m = json.loads(open("m.jsonl").read())
assert m["helpful_backend_errors"] == 2, m
PY
run rl-train --model model --steps 1 --plain --helpful-reward-url "$surl" prompts.jsonl
expect_rc 2
expect_err_glob "*--helpful-reward-url needs --helpful-model*"
