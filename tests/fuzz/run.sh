#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for SECONDS (default 60),
# printing one summary line per target (execs/s, coverage, corpus, crash or not); exits 1 when
# a target crashed or failed to build (the others still run).
#   tests/fuzz/run.sh [SECONDS] [TARGET...]        SECONDS=0: build only
# Targets (default: all of them): every parser that reads untrusted bytes.
#   fuzz_records        record reader: plain/zstd framing, JSON lines, Record accessors
#   fuzz_spec           spec parser, linter and view renderer
#   fuzz_tokenizer      tokenizer encode/decode ($DELIB_FUZZ_TOKENIZER: a real tokenizer.json)
#   fuzz_safetensors    safetensors header parser
#   fuzz_chat_template  chat-template recognition (ChatTemplate::from_template) and rendering
# Environment: DELIB_SHARED (default ../shared: chat-template seeds), DELIB_FUZZ_JOBS (build
# parallelism, default nproc), DELIB_FUZZ_LOCK (a lock file held while building, e.g.
# /tmp/delib-build.lock on a shared machine), DELIB_VENV (Python with torch: LibTorch for
# fuzz_safetensors).
#
# The hour-long runs (one per target; each a single process, so they can run side by side on
# as many cores), after `tests/fuzz/run.sh 0` has built and seeded everything:
#   F=build-fuzz/tests/fuzz; C=build-fuzz/corpus; S=build-fuzz/seeds; A=build-fuzz/artifacts
#   $F/fuzz_records       -max_total_time=3600 -max_len=65536 -print_final_stats=1 -artifact_prefix=$A/fuzz_records/ $C/fuzz_records $S/fuzz_records
#   $F/fuzz_spec          -max_total_time=3600 -max_len=65536 -print_final_stats=1 -artifact_prefix=$A/fuzz_spec/ $C/fuzz_spec $S/fuzz_spec
#   $F/fuzz_tokenizer     -max_total_time=3600 -max_len=65536 -print_final_stats=1 -artifact_prefix=$A/fuzz_tokenizer/ $C/fuzz_tokenizer $S/fuzz_tokenizer
#   $F/fuzz_safetensors   -max_total_time=3600 -max_len=65536 -print_final_stats=1 -artifact_prefix=$A/fuzz_safetensors/ $C/fuzz_safetensors $S/fuzz_safetensors
#   $F/fuzz_chat_template -max_total_time=3600 -max_len=65536 -print_final_stats=1 -artifact_prefix=$A/fuzz_chat_template/ $C/fuzz_chat_template $S/fuzz_chat_template
# i.e. `tests/fuzz/run.sh 3600 TARGET` per target. A crash leaves its input in $A/TARGET/:
# fix the parser, then add the input to tests/fuzz/seeds/TARGET/ so it stays covered.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}; [ $# -gt 0 ] && shift
shared=${DELIB_SHARED:-$here/../shared}
venv=${DELIB_VENV:-$HOME/.cache/delib/venv}
jobs=${DELIB_FUZZ_JOBS:-$(nproc)}
B=$here/build-fuzz
all=()
for f in "$here"/tests/fuzz/fuzz_*.cpp; do all+=("$(basename "$f" .cpp)"); done
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

prefix=$("$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)') \
  || { echo "fuzz: no torch in $venv (needed for fuzz_safetensors): set DELIB_VENV" >&2; exit 1; }
build() {
  if [ ! -f "$B/build.ninja" ]; then
    CC=clang CXX=clang++ cmake -S "$here" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DDELIB_FUZZ=ON -DDELIB_TESTS=ON -DDELIB_WITH_TORCH=OFF -DCMAKE_PREFIX_PATH="$prefix" >/dev/null || return 1
  fi
  cmake --build "$B" -j "$jobs" --target "${targets[@]}"
}
if [ -n "${DELIB_FUZZ_LOCK:-}" ]; then
  exec 9>"$DELIB_FUZZ_LOCK"; flock 9; build; rc=$?; flock -u 9
else
  build; rc=$?
fi
[ $rc = 0 ] || { echo "fuzz: build failed" >&2; exit 1; }

# Seeds: tests/fuzz/seeds/TARGET, plus the shipped specs for fuzz_spec and, for
# fuzz_chat_template, the shared templates and each shared tokenizer's chat_template.
seed_dir() {
  local t=$1 d="$B/seeds/$1"
  rm -rf "$d"; mkdir -p "$d"
  [ -d "$here/tests/fuzz/seeds/$t" ] && cp "$here/tests/fuzz/seeds/$t"/* "$d"/
  case $t in
    fuzz_spec) cp "$here"/specs/*.md "$d"/ ;;
    fuzz_chat_template)
      [ -d "$shared/data/chat-templates" ] || { echo "fuzz: missing $shared/data/chat-templates" >&2; return 1; }
      cp "$shared"/data/chat-templates/*.jinja "$d"/
      for c in "$shared"/data/tokenizers/*/tokenizer_config.json; do
        "$venv/bin/python" -c 'import json, sys
t = json.load(open(sys.argv[1])).get("chat_template")
if isinstance(t, list): t = next((x["template"] for x in t if x.get("name") == "default"), t[0]["template"])
if t: open(sys.argv[2], "w").write(t)' "$c" "$d/$(basename "$(dirname "$c")").jinja" || return 1
      done ;;
  esac
}

status=0
summary=()
for t in "${targets[@]}"; do
  seed_dir "$t" || { status=1; summary+=("$t: seeds missing"); continue; }
  [ "$secs" = 0 ] && continue
  mkdir -p "$B/corpus/$t" "$B/artifacts/$t"
  log="$B/$t.log"
  echo "fuzz: $t for ${secs}s (log $log)" >&2
  "$B/tests/fuzz/$t" -max_total_time="$secs" -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$B/artifacts/$t/" "$B/corpus/$t" "$B/seeds/$t" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*'); ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*')
  corp=$(grep -o 'corp: [0-9]*/[0-9a-zA-Z]*' <<<"$last" | cut -d' ' -f2)
  if [ $rc = 0 ]; then res="no crash"; else
    res="CRASH (exit $rc): $(grep -m1 -E 'ERROR: |==ERROR|deadly signal|runtime error' "$log"); input in $B/artifacts/$t/"
    status=1
  fi
  summary+=("$t: ${secs}s, ${runs:-?} execs, ${eps:-?} execs/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}; $res")
done
printf '%s\n' "${summary[@]}"
exit $status
