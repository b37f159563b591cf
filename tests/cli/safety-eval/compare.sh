# --compare: a Markdown table of runs and the Pareto plot as SVG (PNG only when a renderer is
# installed; its absence is not an error).
mk() {  # NAME NOT_OVERREFUSE LO HI NOT_UNSAFE LO HI
  printf '{"format":"delib-eval-run","version":1,"name":"%s","records":10,"overall":{"not_overrefuse":{"value":%s,"lo":%s,"hi":%s,"n":5},"not_unsafe":{"value":%s,"lo":%s,"hi":%s,"n":5}}}\n' "$@" > "$1.json"
}
mk base 0.9 0.8 0.95 0.6 0.5 0.7
mk sft 0.85 0.8 0.9 0.9 0.85 0.95
run safety-eval --compare base.json sft.json --plot pareto.svg
expect_rc 0
expect_out_has "| metric | base | sft |"
expect_out_has "| not_unsafe | 0.600 [0.500, 0.700] | 0.900 [0.850, 0.950] |"
[ -s pareto.svg ] || fail "no SVG"
"$DELIB_PYTHON" -c "import xml.etree.ElementTree as E; E.parse('pareto.svg')" || fail "SVG is not well-formed XML"
grep -q 'data-name="base"' pareto.svg || fail "SVG lacks the base point"
# A PNG only when a renderer worked; otherwise a warning says so.
if [[ "$err" == *"wrote pareto.svg and pareto.png"* ]]; then
  [ "$(head -c 8 pareto.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "pareto.png is not a PNG"
else
  expect_err_glob "*no SVG renderer*"
  [ ! -e pareto.png ] || fail "a PNG was left although rendering failed"
  ! command -v rsvg-convert >/dev/null || fail "rsvg-convert is installed but no PNG was written"
fi
# A file that is not a run is rejected with its name.
echo '{"x":1}' > bogus.json
run safety-eval --compare bogus.json; expect_rc 1
expect_err_glob "*bogus.json*not a safety-eval run file*"
