#!/usr/bin/env python3
"""A stand-in for a real vLLM or SGLang server on the endpoints rl-train calls, answering in the
shape that release's response classes have (tests/servers/server_schemas.json) and validating
every request against that release's request schema as the real server would:

  --flavour vllm    POST /v1/completions (token-id prompts: choices[].logprobs.tokens are
                    "token_id:N" with return_tokens_as_token_ids, else token text; the ids in
                    choices[].token_ids with return_token_ids), /v1/load_lora_adapter,
                    /v1/unload_lora_adapter (400 when the name is loaded, 404 when unknown),
                    /score and /v1/score (text_1/text_2: data[0].score in [0, 1]), /pooling
                    (a sequence reward model: data[0].data [S], S in [-4, 4]);
                    a `model` that is neither --model-name nor a loaded adapter: 404
  --flavour sglang  POST /v1/completions (tokens are always text, as SGLang 0.5.23 answers;
                    return_tokens_as_token_ids is ignored; the ids in choices[].token_ids with
                    return_token_ids), /update_weights_from_disk ({success, message,
                    num_paused_requests}; 400 with success false when model_path has no
                    config.json)

A request the schema rejects (a missing required field, a value of another type) gets 400, as
from pydantic in the real server; a field the schema lacks is ignored, as both servers do
(their extra-field handling is in the fixture), and reported by check_request_schemas.py.
The sampled "completion" is max_tokens ids drawn with the request's seed from the prompt's ids
(so they are in the model's vocabulary), each with a log-prob in [-3, -0.1]; finish_reason
"length". No model runs.

--log FILE: one JSON line per POST: {"path", "request"}, and for a completion "token_ids" and
"token_logprobs" answered; "rejected": [the schema's objections] when it answered 400 for them,
"status" when it answered another error (an unknown adapter or model); --port-file FILE: the
port (127.0.0.1, chosen by the OS).
"""
import argparse
import json
import os
import random
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_request_schemas import Fixture, check_body  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flavour", choices=["vllm", "sglang"], required=True)
    p.add_argument("--model-name", default="base")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--corrupt", choices=["length", "differ"],
                   help="answer completions wrongly: length: one token id fewer than token_logprobs; differ: "
                        "choices[].token_ids other than the 'token_id:N' tokens (vllm)")
    a = p.parse_args()
    fx = Fixture()
    lock = threading.RLock()
    loras = set()
    log = open(a.log, "a", encoding="utf-8")

    def write_log(entry):
        with lock:
            log.write(json.dumps(entry) + "\n")
            log.flush()

    class H(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, obj):
            out = (json.dumps(obj) if not isinstance(obj, str) else obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if not isinstance(obj, str) else "text/plain")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def error(self, status, msg):
            self.answer(status, {"error": {"message": msg, "type": "BadRequestError", "code": status}})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            ep = f"POST {self.path}"
            entry = {"path": self.path, "request": body}
            if fx.endpoint(a.flavour, ep) is None:
                write_log(entry)
                return self.error(404, f"{a.flavour} has no {ep}")
            # The real server rejects what its schema rejects; unknown fields it ignores.
            problems = check_body(fx, a.flavour, ep, body, as_server=True)
            if problems:
                write_log({**entry, "rejected": problems})
                return self.error(400, "; ".join(problems))
            if self.path == "/v1/completions":
                return self.completion(body, entry)
            if self.path == "/v1/load_lora_adapter":
                with lock:
                    if body["lora_name"] in loras:
                        write_log({**entry, "status": 400})
                        return self.error(400, f"The lora adapter '{body['lora_name']}' has already been loaded.")
                    if not os.path.isfile(os.path.join(body["lora_path"], "adapter_config.json")):
                        return self.error(400, f"no adapter_config.json in {body['lora_path']}")
                    loras.add(body["lora_name"])
                write_log(entry)
                return self.answer(200, f"Success: LoRA adapter '{body['lora_name']}' added successfully.")
            if self.path == "/v1/unload_lora_adapter":
                with lock:
                    if body["lora_name"] not in loras:
                        write_log({**entry, "status": 404})
                        return self.error(404, f"The lora adapter '{body['lora_name']}' cannot be found.")
                    loras.discard(body["lora_name"])
                write_log(entry)
                return self.answer(200, f"Success: LoRA adapter '{body['lora_name']}' removed successfully.")
            if self.path in ("/score", "/v1/score"):
                write_log(entry)
                s = random.Random(json.dumps(body, sort_keys=True)).random()
                return self.answer(200, {"id": "score-1", "object": "list", "created": 0, "model": body.get("model"),
                                         "data": [{"index": 0, "object": "score", "score": s}],
                                         "usage": {"prompt_tokens": 1, "total_tokens": 1}})
            if self.path == "/pooling":
                write_log(entry)
                s = random.Random(json.dumps(body, sort_keys=True)).uniform(-4, 4)
                return self.answer(200, {"id": "pool-1", "object": "list", "created": 0, "model": body.get("model"),
                                         "data": [{"index": 0, "object": "pooling", "data": [s]}],
                                         "usage": {"prompt_tokens": 1, "total_tokens": 1}})
            if self.path == "/update_weights_from_disk":
                write_log(entry)
                if not os.path.isfile(os.path.join(body["model_path"], "config.json")):
                    return self.answer(400, {"success": False, "num_paused_requests": 0,
                                             "message": f"no config.json in {body['model_path']}"})
                return self.answer(200, {"success": True, "message": "Succeeded to update model weights.",
                                         "num_paused_requests": 0})
            write_log(entry)
            return self.error(404, f"not served here: {self.path}")

        def completion(self, body, entry):
            model = body.get("model")
            if a.flavour == "vllm" and model != a.model_name and model not in loras:
                write_log({**entry, "status": 404})
                return self.error(404, f"The model `{model}` does not exist.")
            prompt = body["prompt"]
            if not (isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt)):
                return self.error(400, "schema_server answers token-id prompts only")
            rng = random.Random(body.get("seed", 0))
            n = body.get("max_tokens") or 16
            ids = [rng.choice(prompt) for _ in range(n)]
            lps = [round(rng.uniform(-3, -0.1), 6) for _ in ids]
            choice = {"index": 0, "text": "<think>r</think>e", "finish_reason": "length"}
            if body.get("logprobs") is not None:
                as_ids = a.flavour == "vllm" and body.get("return_tokens_as_token_ids") is True
                toks = [f"token_id:{t}" if as_ids else f"<{t}>" for t in ids]
                choice["logprobs"] = {"text_offset": [-1] * n if a.flavour == "sglang" else list(range(n)),
                                      "token_logprobs": lps, "tokens": toks,
                                      "top_logprobs": [{k: v} for k, v in zip(toks, lps)]}
            if body.get("return_token_ids") is True:
                choice["token_ids"] = ids
                choice["prompt_token_ids"] = prompt
                if a.corrupt == "length":
                    choice["token_ids"] = ids[:-1]
                elif a.corrupt == "differ":
                    choice["token_ids"] = [t + 1 for t in ids]
            write_log({**entry, "token_ids": ids, "token_logprobs": lps})
            self.answer(200, {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": model,
                              "choices": [choice],
                              "usage": {"prompt_tokens": len(prompt), "completion_tokens": n,
                                        "total_tokens": len(prompt) + n}})

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
