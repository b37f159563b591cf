# The committed man pages and completions are what the tools generate now, for every tool of
# tools/ (a tool whose generation fails is a failure, never skipped); every man page of
# section 1 belongs to a tool; --help lists every option of the man page's OPTIONS section
# with all its names (-o,--output), wherever they sit on the man page line.
built_tools drift
for f in "$DELIB_SRC"/man/*.1; do
  t=$(basename "$f" .1)
  [ -d "$DELIB_SRC/tools/$t" ] || fail "man/$t.1 belongs to no tool in tools/"
done
for t in "${tools[@]}"; do
  bin="$DELIB_BIN/$t"
  for kind in man bash zsh fish; do
    case $kind in
      man) doc="$DELIB_SRC/man/$t.1" ;;
      bash) doc="$DELIB_SRC/completions/bash/$t" ;;
      zsh) doc="$DELIB_SRC/completions/zsh/_$t" ;;
      fish) doc="$DELIB_SRC/completions/fish/$t.fish" ;;
    esac
    "$bin" --generate $kind >"$work/gen" 2>"$work/gen.err" || fail "$t --generate $kind failed: $(cat "$work/gen.err")"
    [ -s "$work/gen" ] || fail "$t --generate $kind wrote nothing"
    [ -f "$doc" ] || fail "${doc#"$DELIB_SRC"/} is missing: run scripts/gen-docs.sh"
    diff -u "$doc" "$work/gen" >&2 || fail "${doc#"$DELIB_SRC"/} is stale: run scripts/gen-docs.sh"
  done
  # The generated completions are valid in their shells.
  bash -n "$DELIB_SRC/completions/bash/$t" || fail "bash completion for $t does not parse"
  # zsh and fish are installed by scripts/setup.sh --test: a missing shell is a failure, not a
  # check quietly left out.
  command -v zsh >/dev/null || fail "zsh is not installed (scripts/setup.sh --test installs it)"
  command -v fish >/dev/null || fail "fish is not installed (scripts/setup.sh --test installs it)"
  zsh -n "$DELIB_SRC/completions/zsh/_$t" || fail "zsh completion for $t does not parse"
  fish -n "$DELIB_SRC/completions/fish/$t.fish" || fail "fish completion for $t does not parse"
  # --help goes to stdout with status 0 and has an option line for every option entry of the
  # man page: the line after each .TP of the OPTIONS section, e.g. '\fB\-o\fR, \fB\-\-output\fR
  # \fIFILE\fR' must appear in --help as '  -o,--output ...'.
  run "$bin" --help; expect_rc 0
  entries=$(awk '/^\.SH /{opt = ($2 == "OPTIONS")} opt && tp {print} {tp = ($0 == ".TP")}' "$DELIB_SRC/man/$t.1" |
    grep -o '\\fB\\-[^\\]*\(\\-[^\\]*\)*\\fR' | sed 's/\\fB//; s/\\fR//; s/\\-/-/g' | paste -sd' ' -)
  n=0
  while IFS= read -r line; do
    names=$(printf '%s\n' "$line" | grep -o '\\fB\\-[^\\]*\(\\-[^\\]*\)*\\fR' | sed 's/\\fB//; s/\\fR//; s/\\-/-/g' | paste -sd, -)
    [ -n "$names" ] || continue
    n=$((n + 1))
    grep -qE -- "^ +${names}( |$)" <<<"$out" || fail "$t --help has no option line for $names"
  done < <(awk '/^\.SH /{opt = ($2 == "OPTIONS")} opt && tp {print} {tp = ($0 == ".TP")}' "$DELIB_SRC/man/$t.1")
  [ $n -ge 3 ] || fail "$t: only $n option entries found in man/$t.1 ($entries)"
  # A usage error goes to stderr with status 2.
  run "$bin" --no-such-flag; expect_rc 2
  [ -z "$out" ] || fail "$t: usage error printed to stdout"
  [ -n "$err" ] || fail "$t: usage error printed nothing on stderr"
done
