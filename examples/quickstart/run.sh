#!/usr/bin/env bash
# The quickstart demo: deliberative alignment end to end on CPU with the shipped toy model.
#   1. spec-lint the toy spec
#   2. cot-gen: the model answers the training prompts WITH the spec view in its context
#      (in 2 shards merged by jsonl-cat)
#   3. cot-judge: the same model judges each sample against the spec, min of k, keeps the good
#   4. sft-train: fine-tune on the kept (prompt -> reasoning, answer) WITHOUT the spec
#   5. rl-train: a short RL run, reward = the spec-aware judge on the answer
#   6. safety-eval: base, SFT and RL models WITHOUT the spec on two held-out splits: new
#      phrasings of the topics trained on (source seen-topics) and 8 topics that none of the
#      demo's data contains (source unseen-topics); table + plot, world.py's per-split table
# The stages are file targets of pipeline.mk (`make -C examples/quickstart demo`), so a rerun
# redoes only what a changed input, binary or option affects. This wrapper runs them with
# `make -j$JOBS` and prints the report on stdout, also when everything was already up to date.
# Usage: examples/quickstart/run.sh [OUT_DIR [MAKE_VARIABLE=VALUE...]]
#   env: DELIB_BIN (default build/bin), PYTHON, QUICK=1 for CI sizes, SEED (1), THREADS (1),
#   MODEL (default the shipped model), JOBS (2)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# make runs in $HERE: paths relative to the caller's directory are made absolute (PYTHON only
# when it is a path, not a command name).
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
OUT=$(abs "${1:-$HERE/work/demo}")
shift $(( $# > 0 ))
PY=${PYTHON:-python3}
[[ $PY == */* ]] && PY=$(abs "$PY")
vars=(OUT="$OUT" BIN="$(abs "${DELIB_BIN:-$ROOT/build/bin}")" PY="$PY")
if [[ -n "${MODEL:-}" ]]; then vars+=(MODEL="$(abs "$MODEL")"); fi
make_demo() { make -s -C "$HERE" --no-print-directory demo "${vars[@]}" "$@"; }
if make_demo -q "$@" 2>/dev/null; then
  echo "run.sh: $OUT is up to date (make -C $HERE demo OUT=$OUT)" >&2
  cat "$OUT/report.txt"
else
  # make's own status is 2 for any failed recipe; delib's 2 means a usage error, so a failed
  # stage is reported as 1 (make's message above names the stage and the tool's exit status).
  make_demo -j"${JOBS:-2}" -Otarget "$@" || { echo "run.sh: the demo failed (see above)" >&2; exit 1; }
fi
