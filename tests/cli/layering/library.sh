# The library does not depend on the command line: no public header but delib/cli.h, and no
# source outside lib/src/cli (the tools' command-line layer, delib_cli), includes delib/cli.h or
# CLI11, and the built library archives hold no CLI11 code. The tools' flags reach the library
# through its own option structs (BackendOptions, SamplingParams, CotGenOptions, ...).
lib="$DELIB_SRC/lib"
hits=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](CLI/|delib/cli\.h)' "$lib/include" "$lib/src" |
         grep -v -e "^$lib/include/delib/cli\.h:" -e "^$lib/src/cli/" || true)
[ -z "$hits" ] || fail "the library includes the command-line layer:
$hits"

# The archives: delib_core always; delib_torch whenever a LibTorch tool was built.
archives=("$DELIB_BIN/../lib/libdelib_core.a")
[ -x "$DELIB_BIN/sft-train" ] && archives+=("$DELIB_BIN/../lib/libdelib_torch.a")
for a in "${archives[@]}"; do
  [ -f "$a" ] || fail "$a is not built"
  nm -C "$a" >"$work/syms" 2>/dev/null || fail "nm cannot read $a"
  [ -s "$work/syms" ] || fail "nm found no symbols in $a"
  n=$(grep -c 'CLI::' "$work/syms" || true)
  [ "$n" = 0 ] || fail "$(basename "$a") holds $n CLI11 symbols, e.g.: $(grep -m3 'CLI::' "$work/syms")"
done
