#!/usr/bin/env bash
# Regenerates man/<tool>.1 and completions/{bash,zsh,fish} from the tools' option tables.
#   scripts/gen-docs.sh [BUILD_DIR]     (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build}/bin
for b in "$bin"/*; do
  tool=$(basename "$b")
  "$b" --generate man >/dev/null 2>&1 || continue
  "$b" --generate man >"$here/man/$tool.1"
  "$b" --generate bash >"$here/completions/bash/$tool"
  "$b" --generate zsh >"$here/completions/zsh/_$tool"
  "$b" --generate fish >"$here/completions/fish/$tool.fish"
  echo "gen-docs: $tool" >&2
done
