# --chat-template is the flag (as in chat-render, cot-gen, sft-train and the backends); the old
# name --template still works, warns once, and conflicts as the flag does; --help hides it.
TOK="$DELIB_SHARED/data/tokenizers/qwen3"
[ -d "$TOK" ] || fail "missing shared test data $TOK"
printf '%s\n' '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}' >chat.jsonl
"$DELIB_PYTHON" -c 'import json,subprocess,sys
cfg = json.loads(subprocess.run(["cat", sys.argv[1]], capture_output=True, text=True).stdout)
open("tpl.jinja", "w").write(cfg["chat_template"])' "$TOK/tokenizer_config.json" || fail "cannot read the Qwen3 template"
run tokenize --tokenizer "$TOK" --plain chat.jsonl; expect_rc 0; default=$out
run tokenize --tokenizer "$TOK" --chat-template tpl.jinja --plain chat.jsonl; expect_rc 0
[ "$out" = "$default" ] || fail "--chat-template with the model's own template gives other ids"
[ -z "$err" ] || fail "unexpected stderr: $err"
run tokenize --tokenizer "$TOK" --template tpl.jinja --plain chat.jsonl; expect_rc 0
[ "$out" = "$default" ] || fail "--template gives other ids than --chat-template"
[ "$err" = "tokenize: warning: --template is deprecated: use --chat-template" ] || fail "warning: '$err'"
run tokenize --tokenizer "$TOK" --template tpl.jinja --format qwen3 --plain chat.jsonl; expect_rc 2
expect_err_glob '*--template*excludes*'
run tokenize --tokenizer "$TOK" --chat-template tpl.jinja --format qwen3 --plain chat.jsonl; expect_rc 2
run tokenize --help; expect_rc 0
expect_out_has '--chat-template'
[[ "$out" != *"--template "* ]] || fail "--help lists the deprecated --template"
