#!/usr/bin/env bash
# Runs one CLI golden case: tests/cli/<tool>/<case>.sh, with the built tools first on PATH, in
# a fresh scratch directory, with the helpers of tests/cli/lib.sh loaded. A case passes when it
# exits 0. Set DELIB_UPDATE_GOLDEN=1 to rewrite golden files instead of comparing.
set -euo pipefail
case_file=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
: "${DELIB_BIN:?}" "${DELIB_SRC:?}"
export PATH="$DELIB_BIN:$PATH"
work=$(mktemp -d "${DELIB_TMP:-/tmp}/cli.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export CASE_DIR=$(dirname "$case_file")
source "$DELIB_SRC/tests/cli/lib.sh"
source "$case_file"
echo "1 passed, 0 failed"
