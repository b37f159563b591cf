# The committed man pages and completions are what the tools generate now.
for bin in "$DELIB_BIN"/*; do
  tool=$(basename "$bin")
  [ -x "$bin" ] || continue
  "$bin" --generate man >/dev/null 2>&1 || continue   # developer binaries without the option table
  diff -u "$DELIB_SRC/man/$tool.1" <("$bin" --generate man) >&2 || fail "man/$tool.1 is stale: run scripts/gen-docs.sh"
  diff -u "$DELIB_SRC/completions/bash/$tool" <("$bin" --generate bash) >&2 || fail "completions/bash/$tool is stale"
  diff -u "$DELIB_SRC/completions/zsh/_$tool" <("$bin" --generate zsh) >&2 || fail "completions/zsh/_$tool is stale"
  diff -u "$DELIB_SRC/completions/fish/$tool.fish" <("$bin" --generate fish) >&2 || fail "completions/fish/$tool.fish is stale"
  # The generated completions are valid in their shells.
  bash -n "$DELIB_SRC/completions/bash/$tool" || fail "bash completion for $tool does not parse"
  if command -v zsh >/dev/null; then zsh -n "$DELIB_SRC/completions/zsh/_$tool" || fail "zsh completion for $tool does not parse"; fi
  if command -v fish >/dev/null; then fish -n "$DELIB_SRC/completions/fish/$tool.fish" || fail "fish completion for $tool does not parse"; fi
  # --help goes to stdout with status 0 and lists every long option of the man page.
  run "$bin" --help; expect_rc 0
  for opt in $(grep -o '^\\fB\\-\\-[a-z0-9-]*' "$DELIB_SRC/man/$tool.1" | sed 's/\\fB\\-\\-/--/; s/\\-/-/g'); do
    [[ "$out" == *"$opt"* ]] || fail "$tool --help lacks $opt"
  done
  # A usage error goes to stderr with status 2.
  run "$bin" --no-such-flag; expect_rc 2
  [ -z "$out" ] || fail "$tool: usage error printed to stdout"
done
