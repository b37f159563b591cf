#!/usr/bin/env bash
# Record-stream benchmark (issue 2): ~400 MB of realistic records (prompt, long reasoning,
# answer), zstd level 3. Times, in the same run:
#   jsonl-cat --where 'sample>=0' (every record parsed, filtered, re-written as zstd)
#   zstd -dc | zstd -3            (the floor: decompress + recompress, no parsing)
#   zstd -dc | jq -c .            (a typical ad-hoc JSON pipeline)
# Appends a section to tests/bench/RESULTS.md.
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
t_delib=$(t "'$bin/jsonl-cat' --where 'sample>=0' --zstd-threads 2 '$src' -o /tmp/delib-bench.zst")
t_zstd=$(t "zstd -dc '$src' | zstd -q -3 -c > /tmp/zstd-bench.zst")
t_zstdT=$(t "zstd -dc '$src' | zstd -q -3 -T2 -c > /tmp/zstd-bench.zst")
if command -v jq >/dev/null; then t_jq=$(t "zstd -dc '$src' | jq -c . > /dev/null"); else t_jq=NaN; fi
# Sanity: the filtered output holds every record.
n_out=$(zstd -dc /tmp/delib-bench.zst | wc -l)
[ "$n_out" = "$records" ] || { echo "records_bench: jsonl-cat wrote $n_out of $records records" >&2; exit 1; }
rm -f /tmp/delib-bench.zst /tmp/zstd-bench.zst
mbps() { echo "scale=0; $raw / 1000000 / $1" | bc; }
cat >> "$here/tests/bench/RESULTS.md" <<MD

## Record stream: jsonl-cat --where vs zstd and jq ($(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))
Input: $records records, $((raw / 1000000)) MB uncompressed, zstd -3. Wall time, same run.

| pipeline | seconds | MB/s (uncompressed) | vs jsonl-cat |
|---|---|---|---|
| \`jsonl-cat --where 'sample>=0' --zstd-threads 2\` | $t_delib | $(mbps $t_delib) | 1.00x |
| \`zstd -dc \| zstd -3\` | $t_zstd | $(mbps $t_zstd) | $(echo "scale=2; $t_zstd / $t_delib" | bc)x |
| \`zstd -dc \| zstd -3 -T2\` | $t_zstdT | $(mbps $t_zstdT) | $(echo "scale=2; $t_zstdT / $t_delib" | bc)x |
| \`zstd -dc \| jq -c .\` | $t_jq | $(mbps $t_jq) | $(echo "scale=1; $t_jq / $t_delib" | bc)x |
MD
tail -n 9 "$here/tests/bench/RESULTS.md"
