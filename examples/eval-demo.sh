#!/usr/bin/env bash
# The model-free part of the pipeline on real data, in about a minute on 2 cores:
#   1. lint the default spec and show one category view (what cot-gen puts in context);
#   2. turn its labelled examples into seed records;
#   3. import the public benchmarks (XSTest, StrongREJECT, AdvBench, HarmBench) as eval records;
#   4. grade XSTest's two sets of labelled model completions with the rule grader (vs XSTest's
#      own string match, against the human labels), with bootstrap intervals;
#   5. compare the two runs side by side and draw the Pareto plot.
# Output goes to $OUT (default: build/eval-demo). Used by scripts/demo.sh until the quickstart's
# tiny model can run the model stages (see examples/quickstart/README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${DELIB_BIN:-$here/build/bin}
data=${DELIB_SHARED:-$here/../shared}/data/bench
out=${OUT:-$here/build/eval-demo}
export PATH="$bin:$PATH"
mkdir -p "$out"
step() { printf '\n== %s\n' "$*" >&2; }

step "1. spec-lint specs/default.md"
spec-lint --werror "$here/specs/default.md"
spec-lint --list "$here/specs/default.md" | head -n 12
spec-lint --render self-harm "$here/specs/default.md" > "$out/view-self-harm.md"
echo "view for self-harm: $(wc -c < "$out/view-self-harm.md") bytes -> $out/view-self-harm.md" >&2

step "2. labelled spec examples as seed records"
spec-lint --examples "$here/specs/default.md" -o "$out/spec-examples.jsonl.zst"
jsonl-cat --stats "$out/spec-examples.jsonl.zst" | head -n 4

step "3. public benchmarks as eval records"
safety-eval --import xstest "$data/xstest/xstest_prompts.csv" -o "$out/xstest.jsonl.zst"
safety-eval --import strongreject "$data/strongreject/strongreject_dataset.csv" -o "$out/strongreject.jsonl.zst"
safety-eval --import advbench "$data/advbench/harmful_behaviors.csv" -o "$out/advbench.jsonl.zst"
safety-eval --import harmbench "$data/harmbench/harmbench_behaviors_text_test.csv" -o "$out/harmbench.jsonl.zst"
for b in xstest strongreject advbench harmbench; do
  printf '%-13s %5s records, %s unsafe\n' "$b" "$(jsonl-cat --count "$out/$b.jsonl.zst")" \
    "$(jsonl-cat --count --where 'label=="unsafe"' "$out/$b.jsonl.zst")"
done

step "4. grade XSTest's labelled completions (rule grader, 1,000 bootstrap resamples)"
for m in gpt4 mistralguard; do
  safety-eval --import xstest "$data/xstest/dev-completions/xstest_v2_completions_$m.csv" -o "$out/dev-$m.jsonl.zst"
  safety-eval --grade-only -q "$out/dev-$m.jsonl.zst" --name "$m" --json "$out/$m.json" \
    --report "$out/$m.md" -o "$out/graded-$m.jsonl.zst"
done
grep -A4 '^## Refusal graders against human labels' "$out/gpt4.md" || true

step "5. compare and plot"
safety-eval --compare "$out/gpt4.json" "$out/mistralguard.json" --plot "$out/pareto.svg"
echo "Pareto plot: $out/pareto.svg (and .png where a renderer is installed)" >&2
