#!/usr/bin/env bash
# Two sft-train processes on one CPU machine without torchrun: the environment torchrun would
# set, by hand. Useful to check a data-parallel setup; the result equals one process with
# --batch-size doubled.
#
#   MODEL=tiny-model ./cpu-gloo.sh data.jsonl
set -euo pipefail
: "${MODEL:?set MODEL to a Hugging Face model directory}"
export MASTER_ADDR=127.0.0.1 MASTER_PORT=${MASTER_PORT:-29511} WORLD_SIZE=2
for r in 0 1; do
  RANK=$r LOCAL_RANK=$r sft-train --model "$MODEL" --threads 1 --batch-size 2 --out cpu-out \
    "$@" > "metrics.rank$r.jsonl" &
done
wait
