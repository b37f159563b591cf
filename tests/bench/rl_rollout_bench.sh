#!/usr/bin/env bash
# rl-train rollouts on the same CPU and the same tiny model: the local engine against the
# OpenAI-compatible test server (tests/servers/openai_server.py --model-dir: transformers, one
# request at a time, weights pushed back after every update), as rollout tokens per second and
# step time. Prints a Markdown section; --append adds it to tests/bench/RESULTS.md. Run it on an
# idle machine. The test server is a correctness fixture (python, no batching), not vLLM: the
# numbers say what the HTTP path costs on this machine, not what a GPU server delivers.
#
# usage: rl_rollout_bench.sh [--steps N] [--prompts N] [--group N] [--max-tokens N] [--threads N] [--append]
#
# tokens/s: completion tokens of all steps (metrics `tokens`) / the run's wall time (start-up,
# rewards, updates and weight syncs included: step_time_s of the metrics ends before the weight
# push, so it would leave the sync out); wall time per step is the run's wall time / steps, which
# compares sync and --async (the first --async step has nothing prefetched yet).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${DELIB_BIN:-$here/../../build/bin}
python=${DELIB_PYTHON:-$HOME/.cache/delib/venv/bin/python}
steps=8 prompts=4 group=8 max_tokens=32 threads=1 append=0
while [ $# -gt 0 ]; do
  case $1 in
    --steps) steps=$2; shift 2 ;;
    --prompts) prompts=$2; shift 2 ;;
    --group) group=$2; shift 2 ;;
    --max-tokens) max_tokens=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --append) append=1; shift ;;
    *) echo "rl_rollout_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rl-rollout-bench.XXXXXX")
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
"$python" "$here/../cli/sft-train/make_tiny_model.py" model 11 >/dev/null 2>&1
"$python" "$here/../cli/rl-train/prompts.py" prompts.jsonl $((prompts * 2))
common=(--model model --steps "$steps" --prompts-per-step "$prompts" --group-size "$group" --max-tokens "$max_tokens"
        --temperature 1 --seed 1 --threads "$threads" --kl-coef 0 --lr 1e-3 --rule-reward e=1 --plain -q
        -o /dev/null prompts.jsonl)

start_server() {
  rm -f port
  OMP_NUM_THREADS=$threads "$python" "$here/../servers/openai_server.py" --mode model --model-dir model \
    --model-name base --port-file port --max-lifetime 3600 >/dev/null 2>server.err &
  server_pid=$!
  for _ in $(seq 600); do [ -s port ] && break; sleep 0.1; done
  [ -s port ] || { echo "rl_rollout_bench.sh: the test server did not start: $(cat server.err)" >&2; exit 1; }
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=; }

# timed NAME CMD...: runs CMD, its wall seconds into NAME.wall.
timed() {
  local name=$1; shift
  local t0; t0=$(date +%s.%N)
  "$@"
  echo "$(date +%s.%N) - $t0" | bc > "$name.wall"
}
timed local "$bin/rl-train" "${common[@]}" --out local --metrics local.jsonl
start_server
timed server "$bin/rl-train" "${common[@]}" --rollout-backend openai --rollout-base-url "http://127.0.0.1:$(cat port)/v1" \
  --rollout-model base --out server --metrics server.jsonl
stop_server
start_server
timed async "$bin/rl-train" "${common[@]}" --rollout-backend openai --rollout-base-url "http://127.0.0.1:$(cat port)/v1" \
  --rollout-model base --async --out async --metrics async.jsonl
stop_server

section=$("$python" - "$steps" "$prompts" "$group" "$max_tokens" "$threads" local.jsonl server.jsonl async.jsonl <<'PY'
import json, statistics, sys
steps, prompts, group, max_tokens, threads = sys.argv[1:6]
rows = []
for path, name in zip(sys.argv[6:], ["local engine", "test server (sync)", "test server (--async)"]):
    m = [json.loads(l) for l in open(path)]
    tokens = sum(x["tokens"] for x in m)
    wall = float(open(path.replace(".jsonl", ".wall")).read())
    rows.append((name, tokens, tokens / wall, wall / len(m)))
print(f"## rl-train rollouts: local engine vs OpenAI-compatible test server\n")
print(f"Tiny Qwen3 (tests/cli/sft-train/make_tiny_model.py), {steps} steps x {prompts} prompts x {group} "
      f"completions, --max-tokens {max_tokens}, --threads {threads}, CPU; the server is "
      f"tests/servers/openai_server.py (transformers, one request at a time) with a weight sync "
      f"(/update_weights_from_disk) after every update.\n")
print("| rollouts | completion tokens | tokens/s (whole run) | wall time per step (s) |")
print("| --- | ---: | ---: | ---: |")
for name, tokens, tps, med in rows:
    print(f"| {name} | {tokens} | {tps:.1f} | {med:.3f} |")
PY
)
printf '%s\n' "$section"
if [ $append = 1 ]; then printf '\n%s\n' "$section" >> "$here/RESULTS.md"; fi
