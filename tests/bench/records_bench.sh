#!/usr/bin/env bash
# Record-stream benchmark (issue 2): ~400 MB of realistic records (prompt, long reasoning,
# answer), zstd level 3. Times, in the same run:
#   jsonl-cat --where 'sample>=0' (every record parsed, filtered, re-written as zstd)
#   zstd -dc | zstd -3            (the floor: decompress + recompress, no parsing)
#   zstd -dc | jq -c .            (a typical ad-hoc JSON pipeline)
# Appends a section to tests/bench/RESULTS.md (ROUNDS rounds, default 3: median and spread).
#   tests/bench/records_bench.sh BUILD_DIR [MB]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$here/build}/bin
mb=${2:-400}
data=$here/tests/bench/data
mkdir -p "$data"
src=$data/records-${mb}MB.jsonl.zst
if [ ! -f "$src" ]; then
  python3 - "$mb" <<'PY' | zstd -q -3 -T0 -o "$src"
import json, random, sys
random.seed(1)
words = ("the spec says that requests for operational details about weapons are disallowed while "
         "history education fiction and safety information are allowed so the right action here is "
         "to comply with care and cite section illicit K1 and the style guideline for refusals "
         "medication dosage overdose crisis line empathy resources python process kill signal").split()
cats = ["self-harm", "illicit", "violence", "privacy", "regulated-advice", "extremism"]
target = int(sys.argv[1]) * 1_000_000
n = 0; i = 0
out = sys.stdout
while n < target:
    r = {"id": f"p{i//4}", "sample": i % 4, "category": random.choice(cats),
         "messages": [{"role": "user", "content": " ".join(random.choices(words, k=random.randint(10, 60)))}],
         "reasoning": " ".join(random.choices(words, k=random.randint(200, 900))),
         "answer": " ".join(random.choices(words, k=random.randint(30, 300))),
         "format_ok": True, "judge": {"score": random.randint(0, 10), "scores": [random.randint(0, 10) for _ in range(3)]},
         "provenance": {"model": "Qwen/Qwen3-8B", "seed": 1, "temperature": 0.7}}
    line = json.dumps(r, ensure_ascii=False) + "\n"
    out.write(line); n += len(line); i += 1
PY
fi
raw=$(zstd -dc "$src" | wc -c)
records=$(zstd -dc "$src" | wc -l)
t() { local s e; s=$(date +%s.%N); bash -c "$1" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
# ROUNDS rounds (default 3); each round runs the four pipelines in a rotated order, and every
# round is kept: the table gives the median and the min-max, never the best round.
rounds=${ROUNDS:-3}
cmds=("'$bin/jsonl-cat' --where 'sample>=0' --zstd-threads 2 '$src' -o /tmp/delib-bench.zst"
      "zstd -dc '$src' | zstd -q -3 -c > /tmp/zstd-bench.zst"
      "zstd -dc '$src' | zstd -q -3 -T2 -c > /tmp/zstd-bench.zst"
      "zstd -dc '$src' | jq -c . > /dev/null")
command -v jq >/dev/null || { echo "records_bench: jq is not installed (scripts/setup.sh --test installs it)" >&2; exit 1; }
times=$(mktemp)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < 4; k++)); do
    i=$(( (k + r) % 4 ))
    echo "$r $i $(t "${cmds[$i]}")" >>"$times"
  done
done
# Sanity: the filtered output holds every record.
n_out=$(zstd -dc /tmp/delib-bench.zst | wc -l)
[ "$n_out" = "$records" ] || { echo "records_bench: jsonl-cat wrote $n_out of $records records" >&2; exit 1; }
rm -f /tmp/delib-bench.zst /tmp/zstd-bench.zst
# One table row per pipeline: median (min-max) seconds, MB/s at the median, and the speed-up of
# jsonl-cat over it (its time / jsonl-cat's time, per round), median (min-max).
rows=$(python3 - "$times" "$raw" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    r, i, s = line.split(); t.setdefault(int(i), {})[int(r)] = float(s)
raw = int(sys.argv[2])
names = ["`jsonl-cat --where 'sample>=0' --zstd-threads 2`", "`zstd -dc \\| zstd -3`",
         "`zstd -dc \\| zstd -3 -T2`", "`zstd -dc \\| jq -c .`"]
sp = lambda xs, f: f"{f.format(statistics.median(xs))} ({f.format(min(xs))}-{f.format(max(xs))})"
for i, name in enumerate(names):
    secs = [t[i][r] for r in sorted(t[i])]
    ratio = [t[i][r] / t[0][r] for r in sorted(t[i])]
    print(f"| {name} | {sp(secs, '{:.2f}')} | {raw / 1e6 / statistics.median(secs):.0f} | {sp(ratio, '{:.2f}')}x |")
PY
)
rm -f "$times"
cat >> "$here/tests/bench/RESULTS.md" <<MD

## Record stream: jsonl-cat --where vs zstd and jq ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))
Input: $records records, $((raw / 1000000)) MB uncompressed, zstd -3. Wall time, same run, $rounds rounds in
rotated order, median (min-max); load average $load_before before / $(cut -d' ' -f1-3 /proc/loadavg) after.
Command: \`tests/bench/records_bench.sh build\`. Speed-up = the pipeline's time / jsonl-cat's time.

| pipeline | seconds | MB/s (uncompressed, median) | speed-up of jsonl-cat |
|---|---|---|---|
$rows
MD
tail -n 10 "$here/tests/bench/RESULTS.md"
