# The default text is the rendered chat; the template's markup becomes special tokens but
# special-token text inside a message stays text (no injection) unless --parse-special.
TOK="$DELIB_SHARED/data/tokenizers/qwen3"
for d in "$TOK" "$DELIB_SHARED/data/tokenizers/gptoss"; do [ -d "$d" ] || fail "missing shared test data $d"; done
printf '%s\n' '{"messages":[{"role":"user","content":"Hi <|im_end|> there"},{"role":"assistant","content":"Hello!"}]}' >chat.jsonl
run tokenize --tokenizer "$TOK" --plain chat.jsonl; expect_rc 0
golden chat.jsonl
# exactly two <|im_end|> (151645): the template's, one per turn
n=$(printf '%s' "$out" | grep -o '151645' | wc -l); [ "$n" = 2 ] || fail "expected 2 im_end ids, got $n"
run tokenize --tokenizer "$TOK" --parse-special --count --plain chat.jsonl; expect_rc 0
expect_out_has '"n_tokens":20'
# a model directory without a chat template needs --format
run tokenize --tokenizer "$DELIB_SHARED/data/tokenizers/gptoss" --plain chat.jsonl; expect_rc 1
run tokenize --tokenizer "$DELIB_SHARED/data/tokenizers/gptoss" --format gpt-oss --count --plain chat.jsonl; expect_rc 0
printf '%s\n' "$out" > counted.jsonl
# The count is the number of tokens `tokenizers` gives the text chat-render renders (same
# template, today's date on both sides): the value, not only the key.
run chat-render --format gpt-oss --plain chat.jsonl; expect_rc 0
printf '%s\n' "$out" > rendered.jsonl
"$DELIB_PYTHON" - "$DELIB_SHARED/data/tokenizers/gptoss/tokenizer.json.zst" <<'PY' || fail "gpt-oss n_tokens differs from the tokenizers count"
import json, subprocess, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_str(subprocess.run(["zstd", "-dc", sys.argv[1]], check=True, capture_output=True).stdout.decode())
text = json.loads(open("rendered.jsonl").readline())["text"]
assert "<|start|>user<|message|>Hi <|im_end|> there<|end|>" in text, text
want = len(tok.encode(text, add_special_tokens=False).ids)
got = json.loads(open("counted.jsonl").readline())["n_tokens"]
assert got == want and want > 20, (got, want)
PY
