#!/usr/bin/env bash
# One prepared script for a GPU machine (H100/H200): build delib with CUDA, run the
# gpu-labelled tests (ctest -L gpu: the CUDA kernels, bf16 autocast with activation
# checkpointing) and the benchmarks, write everything under $OUT (results.md pasteable
# into tests/bench/RESULTS.md, plus logs). Budget: at most 8 minutes in total.
#
# Uses only what travels: the working tree and .debs/ (from tests/gpu/fetch-debs.sh, run on a
# machine with apt), unpacked with `dpkg -x` into /tmp/delib-prefix. The GPU machine provides
# python3 with torch 2.11.0+cu130 (LibTorch comes from it) and transformers, cmake, ninja, nvcc.
#
#   OUT=/tmp/out bash tests/gpu/run.sh
#   DELIB_GPU_PREBUILT=build-gpu-carry OUT=/tmp/out bash tests/gpu/run.sh
#       no build: the binaries tests/gpu/pack.sh packed here (carry build-gpu-carry); the
#       device's minutes then go to the tests and benchmarks alone.
#   DELIB_GPU_DRYRUN=1 DELIB_BIN=build-x/bin OUT=/tmp/out bash tests/gpu/run.sh
#       dry run on CPU: skips the build when DELIB_BIN is given, runs the same steps with a tiny
#       model on the CPU (plumbing check; numbers meaningless).
# Exit status: 0 when everything ran and passed, 1 when a step failed (the others still ran).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
DRY=${DELIB_GPU_DRYRUN:-0}
PY=${DELIB_PYTHON:-python3}
BUILD=${DELIB_GPU_BUILD:-$ROOT/build-gpu-run}
START=$(date +%s)
status=0
log() { echo "[run.sh $(( $(date +%s) - START ))s] $*" | tee -a "$OUT/run.log" >&2; }
step() {  # step NAME TIMEOUT_S CMD...: run with a time limit, output to $OUT/NAME.log
  local name=$1 t=$2; shift 2
  log "$name: $*"
  if timeout "$t" "$@" >"$OUT/$name.log" 2>&1; then log "$name: ok"; else
    log "$name: FAILED (exit $?; see $name.log)"; tail -20 "$OUT/$name.log" >&2; status=1; return 1; fi
}

# 1. Prefix with the carried Debian packages.
PREFIX=/tmp/delib-prefix
if [ -d "$ROOT/.debs" ] && ls "$ROOT"/.debs/*.deb >/dev/null 2>&1; then
  mkdir -p "$PREFIX"
  for d in "$ROOT"/.debs/*.deb; do dpkg -x "$d" "$PREFIX"; done
  # Debian's .pc files and CMake configs say prefix=/usr: point them into the prefix.
  grep -rl "^prefix=/usr" "$PREFIX/usr" 2>/dev/null | xargs -r sed -i "s|^prefix=/usr\$|prefix=$PREFIX/usr|"
  ML=$PREFIX/usr/lib/x86_64-linux-gnu
  export PKG_CONFIG_PATH=$ML/pkgconfig:$PREFIX/usr/lib/pkgconfig:$PREFIX/usr/share/pkgconfig:${PKG_CONFIG_PATH:-}
  export LD_LIBRARY_PATH=$ML:$PREFIX/usr/lib:${LD_LIBRARY_PATH:-}
  export LIBRARY_PATH=$ML:${LIBRARY_PATH:-}
  export CPATH=$PREFIX/usr/include:${CPATH:-}
  export CMAKE_PREFIX_PATH=$PREFIX/usr:${CMAKE_PREFIX_PATH:-}
  if [ -x "$PREFIX/usr/bin/pkgconf" ] && ! command -v pkg-config >/dev/null; then
    ln -sf "$PREFIX/usr/bin/pkgconf" "$PREFIX/usr/bin/pkg-config"; export PATH=$PREFIX/usr/bin:$PATH; fi
  log "unpacked $(ls "$ROOT"/.debs/*.deb | wc -l) .debs into $PREFIX"
else
  log "no .debs/ (run tests/gpu/fetch-debs.sh where apt works); using system packages"
fi

# 2. Build (Release, CUDA on, only the needed targets: the tools, the benches and one
# test_<area>_gpu per tests/unit/<area>/gpu folder).
GPU_TARGETS=$(for d in tests/unit/*/gpu; do [ -d "$d" ] && printf 'test_%s_gpu ' "$(basename "$(dirname "$d")")"; done)
TORCH_PREFIX=$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
# NCCL headers for ProcessGroupNCCL (lib/src/train/distributed.cpp) from the nvidia-nccl wheel.
NCCL_INC=$("$PY" -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "include"))' 2>/dev/null || true)
[ -n "$NCCL_INC" ] && [ -f "$NCCL_INC/nccl.h" ] && export CPATH=$NCCL_INC:${CPATH:-}
PREBUILT=${DELIB_GPU_PREBUILT:-}
if [ -n "$PREBUILT" ]; then
  # A build made elsewhere by tests/gpu/pack.sh: its libraries, then LibTorch and the CUDA
  # runtime of this machine's python3 torch (the same version the build linked against).
  BIN=$(cd "$PREBUILT/bin" && pwd)
  TORCH_LIBS=$("$PY" -c 'import os, torch; d = os.path.dirname(torch.__file__); print(os.path.join(d, "lib") + ":" + os.path.join(os.path.dirname(d), "nvidia", "cu13", "lib"))')
  export LD_LIBRARY_PATH=$(cd "$PREBUILT/lib" && pwd):$TORCH_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  log "prebuilt: $BIN (LD_LIBRARY_PATH=$LD_LIBRARY_PATH)"
  if ldd "$BIN"/* | grep -q 'not found'; then
    log "prebuilt: FAILED: unresolved libraries:"; ldd "$BIN"/* | grep 'not found' | sort -u | tee -a "$OUT/run.log" >&2; status=1
  fi
elif [ "$DRY" = 1 ] && [ -n "${DELIB_BIN:-}" ]; then
  BIN=$DELIB_BIN
  log "dry run: using the existing build in $BIN"
else
  BIN=$BUILD/bin
  step configure 120 cmake -S tests/gpu -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;${CMAKE_PREFIX_PATH:-}" -DDELIB_PYTHON="$PY" \
    -DDELIB_WITH_CUDA=$([ "$DRY" = 1 ] && echo OFF || echo ON) -DCMAKE_CUDA_ARCHITECTURES=90
  step build 330 ninja -C "$BUILD" -j"$(nproc)" sft-train gen-check loss_bench $GPU_TARGETS
fi

# 3. GPU tests: every gpu-labelled ctest test (tests/unit/<area>/gpu/*.cpp -> test_<area>_gpu,
# tests/reference/*.py whose header says 'label: gpu'), through ctest in the build that made
# them. On the GPU machine DELIB_REQUIRE_GPU=1 makes "no CUDA device" a failure, not a skip;
# the dry run must report each of them as skipped (exit 77, ctest's SKIP_RETURN_CODE).
CTEST_DIR=$( [ "$DRY" = 1 ] && [ -n "${DELIB_BIN:-}" ] && echo "$BIN/.." || echo "$BUILD")
if [ -n "$PREBUILT" ]; then
  # No ctest tree travels with a prebuilt bundle: run the same tests directly, with the
  # environment tests/CMakeLists.txt gives them.
  export DELIB_BIN=$BIN DELIB_SRC=$ROOT
  [ "$DRY" = 1 ] || export DELIB_REQUIRE_GPU=1
  : > "$OUT/gpu_tests.log"; n_run=0; n_ok=0; n_skip=0
  for t in "$BIN"/test_*_gpu $(grep -l '^# label: gpu' tests/reference/*.py); do
    n_run=$((n_run + 1)); name=$(basename "$t")
    case $t in *.py) cmd=("$PY" "$t");; *) cmd=("$t");; esac
    timeout 240 "${cmd[@]}" >>"$OUT/gpu_tests.log" 2>&1; rc=$?
    echo "== $name: exit $rc" >>"$OUT/gpu_tests.log"
    case $rc in 0) n_ok=$((n_ok + 1)); log "gpu test $name: passed";;
                77) n_skip=$((n_skip + 1)); log "gpu test $name: SKIPPED"; [ "$DRY" = 1 ] || status=1;;
                *) log "gpu test $name: FAILED (exit $rc)"; status=1;; esac
  done
  echo "$n_ok tests passed of $n_run, $n_skip skipped" >>"$OUT/gpu_tests.log"
  log "gpu_tests: $n_ok of $n_run passed, $n_skip skipped"
elif [ "$DRY" = 1 ]; then
  step gpu_tests 300 ctest --test-dir "$CTEST_DIR" -L gpu --output-on-failure --timeout 240
  n_gpu=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$OUT/gpu_tests.log" || true)
  n_skip=$(grep -cE '\*\*\*Skipped' "$OUT/gpu_tests.log" || true)
  if [ "$n_gpu" -eq 0 ] || [ "$n_gpu" != "$n_skip" ]; then
    log "gpu_tests: FAILED: the dry run must report every gpu test as skipped ($n_skip of $n_gpu)"; status=1
  else log "gpu_tests: $n_skip gpu tests reported as skipped on the CPU (expected in a dry run)"; fi
else
  step gpu_tests 300 env DELIB_REQUIRE_GPU=1 ctest --test-dir "$CTEST_DIR" -L gpu --output-on-failure --timeout 240
  grep -qE '\*\*\*Skipped' "$OUT/gpu_tests.log" && { log "gpu_tests: FAILED: a gpu test was skipped on the GPU machine"; status=1; }
fi
grep -E "tests passed|Skipped|Failed" "$OUT/gpu_tests.log" | tail -8 >&2

# 4. Benchmarks.
if [ "$DRY" != 1 ] && [ -x "$BIN/loss_bench" ]; then
  step loss_bench 90 "$BIN/loss_bench" 16384 1024 151936 2048
fi
# --sharding full on one GPU through NCCL (a process group of one) = --sharding none.
step sharding 150 bash tests/gpu/sharding_check.sh "$BIN" "$([ "$DRY" = 1 ] && echo cpu || echo cuda)" "$PY"
step bench 300 "$PY" tests/gpu/bench.py --bin "$BIN" --out "$OUT" $([ "$DRY" = 1 ] && echo --dry-run)

# 5. results.md: a section for tests/bench/RESULTS.md.
{
  echo "## gpu: CUDA kernels, SFT MFU, decoding vs transformers, loss memory ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "Machine: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'no GPU (dry run)'),"\
       "$(nproc) CPU cores; $("$PY" -c 'import torch; print("torch", torch.__version__)'). Script: \`tests/gpu/run.sh\`$([ "$DRY" = 1 ] && echo ' (DRY RUN on CPU: numbers meaningless)')."
  echo
  if [ -n "$PREBUILT" ]; then
    [ -f "$OUT/gpu_tests.log" ] && echo "GPU tests (the prebuilt test_*_gpu and the gpu-labelled reference tests, run directly):"\
      "\`$(grep -E 'tests passed' "$OUT/gpu_tests.log" | tail -1)\`; $(grep -E '^== ' "$OUT/gpu_tests.log" | sed 's/^== //' | paste -sd, - | sed 's/,/, /g')" && echo
  else
    [ -f "$OUT/gpu_tests.log" ] && echo "GPU tests (ctest -L gpu): \`$(grep -E 'tests passed' "$OUT/gpu_tests.log" | tail -1)\`,"\
      "$(grep -c '(Skipped)$' "$OUT/gpu_tests.log") of them skipped (no CUDA device)" && echo
  fi
  [ -f "$OUT/loss_bench.log" ] && cat "$OUT/loss_bench.log" && echo
  [ -f "$OUT/sharding.log" ] && echo "Sharding (tests/gpu/sharding_check.sh): \`$(tail -1 "$OUT/sharding.log")\`" && echo
  [ -f "$OUT/bench.md" ] && cat "$OUT/bench.md"
  echo "Total script time: $(( $(date +%s) - START )) s; exit status $status."
} > "$OUT/results.md"
log "wrote $OUT/results.md"
exit $status
