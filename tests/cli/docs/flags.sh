# What each tool's --generate man|bash|zsh|fish says, checked against the tool's own --help (CLI11's
# rendering of the same option table): a flag (no metavar in --help) is shown without an argument
# in the man page and completes without one in bash, zsh and fish; an option that takes a value
# shows its metavar and completes its value; each option, section and exit status is listed once,
# and the --help footer names the same exit statuses as the man page.
built_tools flags
have_zsh=0; command -v zsh >/dev/null && have_zsh=1
have_fish=0; command -v fish >/dev/null && have_fish=1
# scripts/setup.sh --test installs both shells: a missing one fails instead of skipping its part.
[ $have_zsh = 1 ] || fail "zsh is not installed (scripts/setup.sh --test installs it)"
[ $have_fish = 1 ] || fail "fish is not installed (scripts/setup.sh --test installs it)"
touch somefile.jsonl  # what a shell offers where it completes file names

for t in "${tools[@]}"; do
  bin="$DELIB_BIN/$t"
  "$bin" --generate man >man.1 || fail "$t --generate man failed"
  "$bin" --generate bash >comp.bash || fail "$t --generate bash failed"
  "$bin" --generate zsh >comp.zsh || fail "$t --generate zsh failed"
  "$bin" --generate fish >comp.fish || fail "$t --generate fish failed"
  run "$bin" --help; expect_rc 0
  help=$out

  # The oracle, from --help: "NAMES" and whether the option takes a value (a metavar follows
  # the names, as in '--level INT:INT in [-7 - 22]=3'; a flag has none, or only 'Excludes:').
  printf '%s\n' "$help" | grep -E '^  -' | sed -E 's/^  //; s/  .*//' |
    awk '{v = ($2 != "" && $2 != "Excludes:" && $2 != "Needs:") ? "value" : "flag"; print $1, v}' >oracle
  [ "$(wc -l <oracle)" -ge 5 ] || fail "$t: only $(wc -l <oracle) options in --help: $help"

  # The man page's OPTIONS entries: "NAMES value|flag METAVAR" (names as --help joins them).
  awk '/^\.SH /{opt = ($2 == "OPTIONS")} opt && tp {print} {tp = ($0 == ".TP")}' man.1 | sed 's/\\-/-/g' |
    awk '{names = ""; meta = ""
          for (i = 1; i <= NF; i++) {
            w = $i; sub(/,$/, "", w)
            if (w ~ /^\\fB/) { gsub(/\\f[BR]/, "", w); names = names (names == "" ? "" : ",") w }
            else if (w ~ /^\\fI/) { gsub(/\\f[IR]/, "", w); meta = w }
          }
          print names, (meta == "" ? "flag" : "value"), meta}' >entries
  awk '{print $1, $2}' entries | sort >entries.kinds
  sort oracle >oracle.sorted
  diff -u oracle.sorted entries.kinds >&2 ||
    fail "$t: man page OPTIONS (+) differ from --help (-) in the options or in which take a value"
  dup=$(awk '{print $1}' entries | sort | uniq -d)
  [ -z "$dup" ] || fail "$t: man page lists $dup more than once"
  [ "$(grep -c '^-h,--help flag$' entries.kinds)" = 1 ] || fail "$t: -h, --help is not listed exactly once as a flag"
  [ "$(grep -c '^--version flag$' entries.kinds)" = 1 ] || fail "$t: --version is not listed exactly once as a flag"
  dup=$(grep '^\.SS ' man.1 | sort | uniq -d)
  [ -z "$dup" ] || fail "$t: man page section repeated: $dup"

  # Exit statuses: once each in the man page, the same codes in the --help footer, and the
  # footer's text not repeated in the man page.
  codes=$(awk '/^\.SH /{ex = ($0 == ".SH EXIT STATUS")} ex && /^\.B [0-9]+$/ {print $2}' man.1)
  [ "$(printf '%s\n' "$codes" | sort -n | uniq -d)" = "" ] || fail "$t: man page repeats exit status $(printf '%s\n' "$codes" | sort -n | uniq -d)"
  [ "$(printf '%s\n' "$codes" | sort -n)" = "$codes" ] || fail "$t: exit statuses not in order: $codes"
  for c in 0 1 2 3 4 130 143; do grep -qx "$c" <<<"$codes" || fail "$t: man page lacks exit status $c"; done
  footer=$(printf '%s\n' "$help" | grep '^Exit status:') || fail "$t: --help has no 'Exit status:' line"
  [ "$(printf '%s\n' "$footer" | wc -l)" = 1 ] || fail "$t: --help lists the exit statuses more than once"
  fcodes=$(printf '%s\n' "$footer" | sed 's/^Exit status://' | tr ',' '\n' | awk '{print $1}')
  [ "$fcodes" = "$codes" ] || fail "$t: --help footer codes ($(echo $fcodes)) differ from EXIT STATUS ($(echo $codes))"
  ! grep -q 'Exit status:' man.1 || fail "$t: the man page repeats the --help footer"

  # bash: after a flag the next word completes as usual (file names here); after an option
  # that takes a value, its value: not file names unless the metavar is a path. Each option
  # name is offered once.
  bash -n comp.bash || fail "$t: bash completion does not parse"
  bash -c '
    source ./comp.bash
    fn=$(complete -p "$1" | awk "{print \$(NF-1)}")
    after() { COMP_WORDS=("$1" "$2" ""); COMP_CWORD=2; COMPREPLY=(); "$fn"; printf "%s\n" "${COMPREPLY[@]}"; }
    while read -r names kind meta; do
      name=${names##*,}
      got=$(after "$1" "$name")
      if [ "$kind" = flag ]; then
        grep -qx somefile.jsonl <<<"$got" || { echo "bash: after flag $name: no file names offered ($got)"; exit 1; }
      elif ! [[ $meta =~ FILE|DIR|PATH ]]; then
        ! grep -qx somefile.jsonl <<<"$got" || { echo "bash: after $name $meta: file names offered"; exit 1; }
      fi
    done <entries
    COMP_WORDS=("$1" "-"); COMP_CWORD=1; COMPREPLY=(); "$fn"
    dup=$(printf "%s\n" "${COMPREPLY[@]}" | sort | uniq -d)
    [ -z "$dup" ] || { echo "bash: offered more than once: $dup"; exit 1; }
    [ ${#COMPREPLY[@]} -ge 5 ] || { echo "bash: only ${#COMPREPLY[@]} options offered"; exit 1; }
  ' _ "$t" >bash.out 2>&1 || fail "$t: $(cat bash.out)"

  # zsh: the specs _arguments receives once the script's quoting and brace expansion are done:
  # each option name in exactly one spec, '[help]' and nothing after it for a flag,
  # '[help]:METAVAR:ACTION' for an option.
  if [ $have_zsh = 1 ]; then
    zsh -n comp.zsh || fail "$t: zsh completion does not parse"
    zsh -fc '_arguments() { print -rl -- "$@" }; source ./comp.zsh' >specs || fail "$t: sourcing the zsh completion failed"
    while read -r names kind meta; do
      for n in ${names//,/ }; do
        # (exclusions) *NAME[help]REST, help with \] escaped
        s=$(grep -E -- "^(\([^)]*\))?\*?${n}\[" specs) || fail "$t: zsh: no spec for $n"
        [ "$(printf '%s\n' "$s" | wc -l)" = 1 ] || fail "$t: zsh: $n in several specs: $s"
        rest=$(printf '%s\n' "$s" | sed -E 's/^(\([^)]*\))?\*?[^[]*\[//; s/(\\.|[^]\\])*\]//')
        if [ "$kind" = flag ]; then
          [ -z "$rest" ] || fail "$t: zsh: flag $n takes an argument: $s"
        else
          [[ $rest == :* ]] || fail "$t: zsh: $n takes no argument: $s"
        fi
      done
    done <entries
  fi

  # fish: after a flag, file names; after an option that takes a value and is not a path,
  # none (its choices or nothing).
  if [ $have_fish = 1 ]; then
    fish -n comp.fish || fail "$t: fish completion does not parse"
    while read -r names kind meta; do
      name=${names##*,}
      if [ "$kind" = flag ]; then
        printf '%s\n' "complete -C '$t $name '"
      elif ! [[ $meta =~ FILE|DIR|PATH ]]; then
        printf '%s\n' "echo NOFILES; complete -C '$t $name '"
      fi | sed "s/^/echo 'after $name:'; /"
    done <entries >fish.cmds
    fish -c "source ./comp.fish; source ./fish.cmds" >fish.out || fail "$t: fish completion failed"
    awk -v t="$t" '
      /^after / {if (w != "" && ((flag && !files) || (!flag && files))) {print t ": fish: " w (flag ? ": flag offers no file names" : ": a value offers file names"); bad = 1}
                 w = $0; flag = 1; files = 0; next}
      /^NOFILES$/ {flag = 0; next}
      /^somefile.jsonl/ {files = 1}
      END {if (w != "" && ((flag && !files) || (!flag && files))) {print t ": fish: " w; bad = 1}; exit bad}' fish.out >&2 ||
      fail "$t: fish completions"
  fi
done
