# The spec-view warning fires on records the real cot-gen wrote. cot-gen records
# provenance.spec_view_hash = XXH3-64 of the category's view alone; a prompt whose system
# message holds that view among other text (here: a preamble, the view, a closing line, as a
# spec-in-context prompt set has it) keeps it in cot-gen's output, and sft-train must find it
# by that hash without --spec. Records without the view must not be reported.
spec="$DELIB_SRC/specs/small.md"
"$DELIB_PYTHON" "$CASE_DIR/make_tiny_model.py" model 0 8192 >/dev/null 2>&1 || fail "make_tiny_model.py failed"
spec-lint --render medical "$spec" > view.md || fail "spec-lint --render failed"
hash=$(spec-lint --list --format json "$spec" | "$DELIB_PYTHON" -c '
import json, sys
print(next(r["view_hash"] for r in map(json.loads, sys.stdin) if r["category"] == "medical"))')
[ ${#hash} = 16 ] || fail "no view hash for medical: '$hash'"
"$DELIB_PYTHON" - <<'PY' || fail "writing prompts failed"
import json
view = open("view.md", encoding="utf-8").read()
system = "You are a careful assistant. Follow this policy.\n\n" + view + "\nAnswer briefly."
rows = [
    {"id": "leak", "category": "medical",
     "messages": [{"role": "system", "content": system}, {"role": "user", "content": "Can I take two aspirin?"}]},
    {"id": "clean", "category": "medical",
     "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Is rest good?"}]},
    {"id": "bare", "category": "medical", "prompt": "What is a fever?"},
]
with open("prompts.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
PY
run cot-gen --spec "$spec" --backend local --model model --max-tokens 12 --seed 2 --threads 1 \
  --plain prompts.jsonl -o gen.jsonl
expect_rc 0
"$DELIB_PYTHON" - "$hash" <<'PY' || fail "cot-gen output is not what this test needs"
import json, sys
rows = [json.loads(l) for l in open("gen.jsonl")]
assert [r["id"] for r in rows] == ["leak", "clean", "bare"], rows
for r in rows:
    assert r["provenance"]["tool"] == "cot-gen", r["provenance"]
    assert r["provenance"]["spec_view_hash"] == sys.argv[1], (r["provenance"], sys.argv[1])
view = open("view.md", encoding="utf-8").read()
assert view in rows[0]["messages"][0]["content"] and rows[0]["messages"][0]["content"] != view
PY
run sft-train --model model --plain --max-length 8192 --batch-size 3 --max-steps 1 --threads 1 gen.jsonl
expect_rc 0
[[ "$err" == *"gen.jsonl:1: a system message contains a spec view"* ]] || fail "no warning for the leaking record: $err"
n=$(printf '%s\n' "$err" | grep -c "contains a spec view" || true)
[ "$n" = 1 ] || fail "expected exactly one spec-view warning (record 1), got $n: $err"
