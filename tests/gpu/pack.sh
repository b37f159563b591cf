#!/usr/bin/env bash
# Packs a CUDA build made HERE (build/, configured with -DDELIB_WITH_CUDA=ON
# -DCMAKE_CUDA_ARCHITECTURES=90) into build-gpu-carry/ (git-ignored) for tests/gpu/run.sh on a
# GPU machine, so the device's minutes go to tests and benchmarks instead of a build:
#   bin/  the tools run.sh uses, the benches and every test_<area>_gpu
#   lib/  the shared libraries they need that a bare GPU machine lacks (fmt, simdjson, zstd,
#         xxhash, pcre2, utf8proc, curl and its dependencies); not glibc/libstdc++
#         (newer there), not LibTorch (run.sh takes the GPU machine's python3 torch, same
#         version: 2.11.0 cu130, with the CUDA runtime of its nvidia wheels)
#   bash tests/gpu/pack.sh [BUILD_DIR]        # then, on the device:
#   DELIB_GPU_PREBUILT=build-gpu-carry OUT=... bash tests/gpu/run.sh   (carry build-gpu-carry)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
grep -q '^DELIB_WITH_CUDA:BOOL=ON' "$build/CMakeCache.txt" || {
  echo "pack.sh: $build/CMakeCache.txt: DELIB_WITH_CUDA is not ON (configure with -DDELIB_WITH_CUDA=ON)" >&2; exit 2; }
gpu_targets=$(for d in tests/unit/*/gpu; do [ -d "$d" ] && printf 'test_%s_gpu ' "$(basename "$(dirname "$d")")"; done)
tools="sft-train rl-train gen-check model-check"
cmake --build "$build" -j"$(nproc)" --target $tools loss_bench $gpu_targets
out=build-gpu-carry
rm -rf "$out"; mkdir -p "$out/bin" "$out/lib"
for t in $tools loss_bench; do cp "$build/bin/$t" "$out/bin/"; done
for t in $gpu_targets; do cp "$build/tests/$t" "$out/bin/"; done
strip --strip-debug "$out"/bin/*
# Every resolved dependency except the C runtime, LibTorch and the CUDA libraries torch brings.
ldd "$out"/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libpthread|libdl|librt|libresolv|libutil|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so' |
  grep -Ev '/(libtorch[^/]*|libc10[^/]*|libgomp[^/]*|libcu(blas|dnn|fft|rand|solver|sparse|pti|dart|file)[^/]*|libnv[^/]*|libnccl[^/]*)\.so' |
  while read -r so; do cp -L "$so" "$out/lib/"; done
du -sh "$out" | awk '{print "pack.sh: " $1 " in '"$out"' (the carry limit is 64 MiB with the tree)"}'
ls "$out/lib" | tr '\n' ' '; echo
