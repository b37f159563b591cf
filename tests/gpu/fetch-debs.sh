#!/usr/bin/env bash
# Downloads (HERE, on a machine with Debian apt access) the Debian 12 packages delib's build
# needs that a bare GPU machine lacks, into ./.debs (git-ignored), for tests/gpu/run.sh to
# unpack with `dpkg -x` into /tmp/delib-prefix. Carry .debs to the GPU machine with the tree.
#   bash tests/gpu/fetch-debs.sh            # from the repository root
# Downloads each -dev package, its runtime library and their direct library dependencies
# (not libc/libstdc++/gcc, which every machine has). Re-running skips files already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .debs
cd .debs
pkgs=(libsimdjson-dev libsimdjson14 libfmt-dev libfmt9 libcli11-dev catch2
      libzstd-dev libzstd1 libxxhash-dev libxxhash0
      libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
      libutf8proc-dev libutf8proc2 libcurl4-openssl-dev libcurl4
      pkgconf pkgconf-bin libpkgconf3 pkg-config)
# direct dependencies of the runtime libraries (libcurl4 pulls nghttp2, ssh2, rtmp, psl, ...)
deps=$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
         --no-enhances "${pkgs[@]}" 2>/dev/null |
       awk '/Depends:/ {print $2}' | tr -d '<>' | sed 's/:any$//' |
       grep -Ev '^(libc6|libgcc-s1|libstdc\+\+6|gcc-.*-base|debconf.*|dpkg)$' | sort -u)
all=$(printf '%s\n' "${pkgs[@]}" $deps | sort -u)
for p in $all; do
  if ls "${p}"_*.deb >/dev/null 2>&1; then continue; fi
  apt-get download "$p" >/dev/null 2>&1 || echo "fetch-debs: could not download $p (virtual or missing; skipped)" >&2
done
echo "fetch-debs: $(ls *.deb | wc -l) packages, $(du -sh . | cut -f1) in $(pwd)"
