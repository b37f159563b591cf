#!/usr/bin/env bash
# Data-parallel sft-train on one machine with torchrun. --no-python makes torchrun start the
# sft-train binary itself (no Python in the training processes); it sets RANK, WORLD_SIZE,
# LOCAL_RANK, MASTER_ADDR and MASTER_PORT, which sft-train reads. Each process trains on its
# part of every global batch (--batch-size x --grad-accum x processes examples); rank 0
# writes the metrics (stdout) and the checkpoints.
#
#   MODEL=Qwen3-0.6B NPROC=8 ./torchrun.sh kept.jsonl.zst helpful.jsonl.zst
#
# CPU-only machines: drop --device cuda (the processes then use c10d Gloo). Several nodes:
# replace --standalone by --nnodes N --node-rank K --rdzv-backend c10d --rdzv-endpoint HOST:PORT.
set -euo pipefail
: "${MODEL:?set MODEL to a Hugging Face model directory}"
NPROC=${NPROC:-$(nvidia-smi -L 2>/dev/null | wc -l || echo 1)}
OUT=${OUT:-sft-out}
exec torchrun --standalone --nproc-per-node "$NPROC" --no-python \
  sft-train --model "$MODEL" --device cuda --out "$OUT" --save-every 500 --keep-last 3 \
    --batch-size 4 --grad-accum 4 --max-length 4096 --epochs 2 --lr 1e-5 --warmup-ratio 0.03 \
    --checkpoint-activations --resume "$OUT" "$@" > "$OUT.metrics.jsonl"
