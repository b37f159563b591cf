#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for SECONDS (default 60).
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}; shift || true
venv=${DELIB_VENV:-$HOME/.cache/delib/venv}
prefix=$("$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)
if [ ! -f "$here/build-fuzz/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$here" -B "$here/build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDELIB_FUZZ=ON -DDELIB_TESTS=ON -DDELIB_WITH_TORCH=OFF -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$here"/tests/fuzz/fuzz_*.cpp; do n=$(basename "$f" .cpp); [ "$n" = fuzz_safetensors ] && continue; targets+=("$n"); done
fi
cmake --build "$here/build-fuzz" --target "${targets[@]}"
for t in "${targets[@]}"; do
  corpus="$here/build-fuzz/corpus/$t"; mkdir -p "$corpus"
  seeds="$here/tests/fuzz/seeds/$t"; [ -d "$seeds" ] || seeds=""
  echo "fuzz: $t for ${secs}s" >&2
  "$here/build-fuzz/tests/fuzz/$t" -max_total_time="$secs" -max_len=65536 "$corpus" $seeds 2>&1 | tail -n 3
done
