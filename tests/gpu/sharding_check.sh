#!/usr/bin/env bash
# sft-train --sharding full on one device through a process group of one (torchrun's
# environment with WORLD_SIZE=1: NCCL on CUDA, Gloo on the CPU), against --sharding none
# without a launcher: same losses and gradient norms (rel. 1e-4: f32 weights, no autocast, so
# only reduction order differs), for tests/gpu/run.sh. Exit 0 when they agree.
#
#   tests/gpu/sharding_check.sh BIN_DIR cuda|cpu [PYTHON]
set -euo pipefail
bin=$(cd "$1" && pwd) dev=$2 py=${3:-python3}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sharding-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$py" "$here/../cli/sft-train/make_tiny_model.py" model 0 >/dev/null
"$py" "$here/../cli/sft-train/data.py" data.jsonl 12
common=(--model model --device "$dev" --no-autocast --plain --max-length 256 --batch-size 4 --max-steps 4
        --lr 3e-3 --seed 3 --checkpoint-activations data.jsonl)
"$bin/sft-train" "${common[@]}" --sharding none --out none >none.jsonl
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 \
  "$bin/sft-train" "${common[@]}" --sharding full --out full >full.jsonl 2>full.err || { cat full.err >&2; exit 1; }
cat full.err >&2
"$py" - <<'PY'
import json
a = [json.loads(l) for l in open("none.jsonl")]
b = [json.loads(l) for l in open("full.jsonl")]
assert len(a) == len(b) == 4, (len(a), len(b))
for x, y in zip(a, b):
    for k in ("loss", "grad_norm"):
        assert abs(x[k] - y[k]) <= 1e-4 * abs(x[k]), (x["step"], k, x[k], y[k])
print("sharding full (process group of one) = none:",
      " ".join(f"{x['loss']:.6f}/{y['loss']:.6f}" for x, y in zip(a, b)),
      f"peak memory none {a[-1]['memory_mb']:.0f} MB, full {b[-1]['memory_mb']:.0f} MB")
PY
for f in none/checkpoint-00000004/model.safetensors full/checkpoint-00000004/model.safetensors \
         full/checkpoint-00000004/shard-rank-0-of-1.safetensors; do
  [ -s "$f" ] || { echo "sharding_check: missing $f" >&2; exit 1; }
done

# rl-train on the device: local rollouts, the update and a checkpoint with --sharding none
# (no launcher) and full (process group of one). Step 1 samples from the same weights with the
# same seed, so its rewards must be equal; the gradient norm may differ by reduction order only.
"$py" "$here/../cli/rl-train/prompts.py" prompts.jsonl 4
rl=(--model model --device "$dev" --group-size 4 --lr 1e-2 --max-tokens 12 --seed 1 --rule-reward e=1
    --steps 2 --prompts-per-step 2 --plain prompts.jsonl)
"$bin/rl-train" "${rl[@]}" --sharding none --out rl-none --metrics rl-none.m.jsonl >rl-none.jsonl
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 \
  "$bin/rl-train" "${rl[@]}" --sharding full --out rl-full --metrics rl-full.m.jsonl >rl-full.jsonl 2>rl-full.err ||
  { cat rl-full.err >&2; exit 1; }
cat rl-full.err >&2
# The process group is shut down at exit, as destroy_process_group() does (NCCL warns otherwise).
if grep -h "destroy_process_group() was not called" full.err rl-full.err >&2; then
  echo "sharding_check: the process group was not shut down" >&2; exit 1
fi
"$py" - <<'PY'
import json
rows = lambda n: [json.loads(l) for l in open(n) if l.strip()]
a, b = rows("rl-none.jsonl"), rows("rl-full.jsonl")
assert len(a) == len(b) == 2 * 2 * 4, (len(a), len(b))
s1 = lambda r: [x["reward"] for x in r if x["step"] == 1]
assert s1(a) == s1(b), (s1(a), s1(b))
ma, mb = rows("rl-none.m.jsonl"), rows("rl-full.m.jsonl")
assert len(ma) == len(mb) == 2
x, y = ma[0]["grad_norm"], mb[0]["grad_norm"]
assert abs(x - y) <= 1e-4 * max(abs(x), 1e-6), (x, y)
print(f"rl-train on the device: none = full (process group of one) at step 1: grad norm {x:.6f}/{y:.6f}, "
      f"{len(a)} rollouts each")
PY
for f in rl-none/checkpoint-00000002/model.safetensors rl-full/checkpoint-00000002/shard-rank-0-of-1.safetensors; do
  [ -s "$f" ] || { echo "sharding_check: missing $f" >&2; exit 1; }
done
