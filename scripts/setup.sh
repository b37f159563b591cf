#!/usr/bin/env bash
# delib set-up: installs what is missing, then configures and builds. Idempotent: when
# everything is there it only runs the (incremental) build.
#
#   scripts/setup.sh            # runtime deps + build (release tools in build/bin)
#   scripts/setup.sh --test     # also the Python references for the tests
#
# Environment: DELIB_VENV (default ~/.cache/delib/venv), DELIB_BUILD (default build),
# DELIB_JOBS (default nproc).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${DELIB_VENV:-$HOME/.cache/delib/venv}
build=${DELIB_BUILD:-$here/build}
jobs=${DELIB_JOBS:-$(nproc)}
want_test=0
for a in "$@"; do case $a in --test) want_test=1;; *) echo "setup.sh: unknown argument $a" >&2; exit 2;; esac; done

log() { printf 'setup: %s\n' "$*" >&2; }

# 1. Debian packages.
pkgs=(build-essential cmake ninja-build pkg-config ccache python3 python3-venv zstd
      libsimdjson-dev libzstd-dev libxxhash-dev libfmt-dev catch2 libcli11-dev
      libpcre2-dev libutf8proc-dev libcurl4-openssl-dev)
[ $want_test = 1 ] && pkgs+=(jq zsh fish)  # zsh, fish: the completion scripts are run, not skipped
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. LibTorch from PyPI torch==2.11.0 (the CUDA 13.0 build) in a venv outside the checkout.
py=python3
command -v "$py" >/dev/null || { log "python3 not found"; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
  log "creating venv $venv"
  "$py" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.11.0") else 1)' 2>/dev/null; then
  log "installing torch==2.11.0 into $venv (large download, once)"
  "$venv/bin/pip" install -q torch==2.11.0 numpy
fi
if [ $want_test = 1 ] && ! "$venv/bin/python" -c 'import transformers, tokenizers, safetensors, jinja2, peft' 2>/dev/null; then
  log "installing test references (transformers, tokenizers, safetensors, jinja2, peft) into $venv"
  "$venv/bin/pip" install -q transformers tokenizers safetensors jinja2 peft
fi

# 3. Configure (once) and build.
prefix=$("$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
export CCACHE_NOHASHDIR=1 CCACHE_BASEDIR="$here" CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
if [ ! -f "$build/build.ninja" ]; then
  log "configuring $build"
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$prefix" -DDELIB_PYTHON="$venv/bin/python" >/dev/null
fi
log "building ($jobs jobs)"
cmake --build "$build" -j "$jobs"
