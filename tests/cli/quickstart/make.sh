# The quickstart pipeline as file targets (examples/quickstart/pipeline.mk), at CI size
# (QUICK=1). A full `make -j2 demo` (the two cot-gen shards at once) builds every stage and
# prints the report; then `make -q demo` says up to date, and make's dry run (--trace: the
# targets it would remake) says what each change reruns: touching the spec, spec-lint, both
# cot-gen shards and every stage after them, but not the prompts; a rebuilt sft-train, SFT, RL,
# their evaluations and the report; only EVAL_OPTS, only the three evaluations and the report,
# and a real rerun with it remakes those files and no other. The shards merged by jsonl-cat hold
# the same records as one unsharded cot-gen run. A failing stage stops make with the tool's
# status in its message and leaves no partial output for the next make to trust.
QS=$DELIB_SRC/examples/quickstart
PY=${DELIB_PYTHON:-python3}
# Private copies of the tools (a rebuild of build/bin during the case must not make the
# pipeline out of date, and the case touches one) and of the spec (touched below).
mkdir bin
for t in spec-lint cot-gen jsonl-cat cot-judge sft-train rl-train safety-eval; do
  cp -p "$DELIB_BIN/$t" bin/ || fail "no $DELIB_BIN/$t"
done
# cot-gen behind a wrapper that shows whether make -j2 ran the two shards at once: each shard
# waits (up to 30 s) for the other one to start before it runs.
mv bin/cot-gen bin/cot-gen.real
cat > bin/cot-gen <<'SH'
#!/bin/sh
marks=$(dirname "$0")/../shard-marks
prev=; for a; do [ "$prev" = --shard ] && shard=$a; prev=$a; done
case $shard in
  [01]/2)
    k=${shard%/2}; mkdir -p "$marks"; touch "$marks/started-$k"
    i=0; while [ ! -e "$marks/started-$((1 - k))" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e "$marks/started-$((1 - k))" ] && touch "$marks/overlapped-$k" ;;
esac
exec "$0.real" "$@"
SH
chmod +x bin/cot-gen
cp -p "$QS/toy-spec.md" spec.md
vars=(QUICK=1 BIN="$PWD/bin" SPEC="$PWD/spec.md" PY="$PY")
mk() { make -C "$QS" --no-print-directory "$@"; }

# remade DIR [VAR=VALUE...]: the stages `make -n demo OUT=DIR` would run, named by the files
# they remake (make's --trace names one file of each recipe), in pipeline order.
remade() {
  local dir=$1 f stage seen=" " list=()
  shift
  local trace
  trace=$(mk -n --trace demo "${vars[@]}" OUT="$PWD/$dir" "$@" 2>&1) || fail "make -n failed: $trace"
  while read -r f; do
    case $f in
      spec-lint.txt) stage=lint ;;
      prompts/train.jsonl) stage=prompts ;;
      gen-in.jsonl) stage=gen-in ;;
      eval-in.jsonl) stage=eval-in ;;
      gen.part-*-of-2.jsonl) stage=${f#gen.part-}; stage=gen-${stage%%-*} ;;
      gen.jsonl) stage=merge ;;
      kept.jsonl) stage=judge ;;
      sft.model) stage=sft ;;
      rl.model) stage=rl ;;
      base-eval.jsonl) stage=eval-base ;;
      sft-eval.jsonl) stage=eval-sft ;;
      rl-eval.jsonl) stage=eval-rl ;;
      acceptance.txt) stage=acceptance ;;
      report.txt) stage=report ;;
      *) fail "make would remake $f, which this case does not know: $trace" ;;
    esac
    [[ $seen == *" $stage "* ]] || { seen+="$stage "; list+=("$stage"); }
  done < <(sed -n "s|.*target '$PWD/$dir/\([^']*\)'.*|\1|p" <<<"$trace")
  local order="lint prompts gen-in eval-in gen-0 gen-1 merge judge sft rl eval-base eval-sft eval-rl acceptance report"
  local s out=""
  for s in $order; do [[ $seen == *" $s "* ]] && out+="$s "; done
  echo "${out% }"
}
expect_remade() {  # expect_remade WHAT EXPECTED DIR [VAR=VALUE...]
  local what=$1 want=$2 got
  shift 2
  got=$(remade "$@")
  [ "$got" = "$want" ] || fail "$what: make would rerun '$got', expected '$want'"
}
all="lint prompts gen-in eval-in gen-0 gen-1 merge judge sft rl eval-base eval-sft eval-rl acceptance report"
# From nothing, every stage (so the names above are the pipeline's, and each is recognised).
expect_remade "empty output directory" "$all" fresh

run mk -s -j2 demo "${vars[@]}" OUT="$PWD/demo"
expect_rc 0
expect_out_has "| base | seen-topics (36) |"
expect_out_has "| rl | unseen-topics (64) |"
[ -s demo/pareto.svg ] && [ -s demo/report.txt ] || fail "no report or Pareto plot"
# cot-gen ran as 2 shards, merged in shard order: 18 seen topics x 2 phrasings x 2 samples.
[ -s demo/gen.part-0-of-2.jsonl ] && [ -s demo/gen.part-1-of-2.jsonl ] || fail "no cot-gen shards"
cat demo/gen.part-0-of-2.jsonl demo/gen.part-1-of-2.jsonl | cmp -s - demo/gen.jsonl || fail "gen.jsonl is not the shards' concatenation"
[ "$(wc -l < demo/gen.jsonl)" = 72 ] || fail "gen.jsonl: $(wc -l < demo/gen.jsonl) samples, expected 72"
[ -e shard-marks/overlapped-0 ] && [ -e shard-marks/overlapped-1 ] || fail "make -j2 did not run the 2 cot-gen shards at once"

run mk -q demo "${vars[@]}" OUT="$PWD/demo"
expect_rc 0
expect_remade "nothing changed" "" demo

# The merged shards are the records of one unsharded run (a sample's random stream depends only
# on --seed, the id and the sample index, not on the shard or the batch it ran in).
run mk -s "$PWD/one/gen.jsonl" "${vars[@]}" OUT="$PWD/one" SHARDS=1
expect_rc 0
[ -s one/gen.part-0-of-1.jsonl ] || fail "SHARDS=1 did not run one shard"
diff <(sort one/gen.jsonl) <(sort demo/gen.jsonl) >&2 || fail "2 shards merged differ from 1 shard as a set of records"

# Touching the spec reruns spec-lint, cot-gen and everything after it (not the prompts).
touch -r spec.md spec.mtime
touch spec.md
expect_remade "spec touched" "lint gen-0 gen-1 merge judge sft rl eval-base eval-sft eval-rl acceptance report" demo
run mk -q demo "${vars[@]}" OUT="$PWD/demo"
expect_rc 1
touch -r spec.mtime spec.md
expect_remade "spec's time restored" "" demo

# A rebuilt sft-train reruns SFT and what depends on its model only.
touch -r bin/sft-train sft-train.mtime
touch bin/sft-train
expect_remade "sft-train rebuilt" "sft rl eval-sft eval-rl acceptance report" demo
touch -r sft-train.mtime bin/sft-train
expect_remade "sft-train's time restored" "" demo

# Only the evaluation options changed: only the evaluations and the report rerun, for real.
new_eval="--temperature 0 --max-tokens 64 --batch-size 32"
expect_remade "EVAL_OPTS changed" "eval-base eval-sft eval-rl acceptance report" demo EVAL_OPTS="$new_eval"
grep -qF -- "$new_eval" demo/eval.opts || fail "eval.opts does not hold the new EVAL_OPTS: $(cat demo/eval.opts)"
others=$(cd demo && ls spec-lint.txt prompts/*.jsonl gen-in.jsonl eval-in.jsonl gen.part-*.jsonl gen.jsonl \
  kept.jsonl sft.model sft-metrics.jsonl rl.model rl-rollouts.jsonl)
evals="base.json base-eval.jsonl sft.json sft-eval.jsonl rl.json rl-eval.jsonl acceptance.txt report.txt pareto.svg"
stamps() { (cd demo && stat -c '%n %.9Y' "$@"); }
before_others=$(stamps $others)
before_evals=$(stamps $evals)
run mk -s demo "${vars[@]}" OUT="$PWD/demo" EVAL_OPTS="$new_eval"
expect_rc 0
expect_out_has "| sft | seen-topics (36) |"
[[ $err != *"== cot-"* && $err != *"== sft-train"* && $err != *"== rl-train"* ]] || fail "a stage before the eval ran: $err"
[ "$(stamps $others)" = "$before_others" ] || fail "files before the eval were rewritten:
$(diff <(echo "$before_others") <(stamps $others))"
after_evals=$(stamps $evals)
for f in $evals; do
  [ "$(grep "^$f " <<<"$before_evals")" != "$(grep "^$f " <<<"$after_evals")" ] || fail "$f was not remade"
done
run mk -q demo "${vars[@]}" OUT="$PWD/demo" EVAL_OPTS="$new_eval"
expect_rc 0
# Going back to the default options is a change too.
expect_remade "EVAL_OPTS back to the default" "eval-base eval-sft eval-rl acceptance report" demo

# A spec that fails spec-lint stops make before any model runs.
printf '# Not a spec\n' > bad.md
run mk -s demo "${vars[@]}" SPEC="$PWD/bad.md" OUT="$PWD/bad"
[ "$rc" != 0 ] || fail "make succeeded with a bad spec"
expect_err_glob "*bad.md:1:1: error: expected '# Spec: NAME'*"
for f in bad/spec-lint.txt bad/{base,sft,rl}-eval.jsonl bad/{base,sft,rl}.json bad/gen.part-{0,1}-of-2.jsonl; do
  [ ! -e "$f" ] || fail "$f made despite the bad spec"
done

# A cot-gen that fails after writing part of its output: make reports its status and deletes
# the partial shard, so the next make reruns it instead of taking it as done.
mkdir failbin
for t in bin/*; do ln -s "$PWD/$t" failbin/; done
rm failbin/cot-gen.real
rm failbin/cot-gen
cat > failbin/cot-gen <<'SH'
#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
printf '{"id": "partial"' > "$out"
echo "cot-gen: the server went away" >&2
exit 4
SH
chmod +x failbin/cot-gen
run mk -s "$PWD/failed/gen.jsonl" "${vars[@]}" BIN="$PWD/failbin" OUT="$PWD/failed"
[ "$rc" != 0 ] || fail "make succeeded with a failing cot-gen"
expect_err_glob "*cot-gen: the server went away*gen.part-0-of-2.jsonl] Error 4*"
for f in failed/gen.part-0-of-2.jsonl failed/gen.part-1-of-2.jsonl failed/gen.jsonl; do
  [ ! -e "$f" ] || fail "a failed cot-gen left $f behind"
done
