# Errors: a template that raises (1, naming the template file and line, nothing written for
# that record), a missing template source or bad flag (2), an unreadable file (3), and a
# conversation the template or built-in format refuses (1, with the record's line).
printf '%s\n' '{"messages":[{"role":"user","content":"Hi"}]}' > in.jsonl
# Any template renders (delib used to refuse templates outside its known families).
printf '%s' "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{% endfor %}" > other.jinja
run chat-render --chat-template other.jinja --plain in.jsonl; expect_rc 0
expect_out '{"messages":[{"role":"user","content":"Hi"}],"text":"[user] Hi"}'
# raise_exception: the record's line, then the template file and line; the records before it
# are written, nothing of the failing one.
printf '%s\n' '{% for m in messages %}' "{% if m['role'] == 'tool' %}" "{{ raise_exception('Only user and assistant roles are supported!') }}" '{% endif %}{{ m.content }}{% endfor %}' > strict.jinja
printf '%s\n' '{"messages":[{"role":"user","content":"Hi"}]}' \
  '{"messages":[{"role":"user","content":"q"},{"role":"tool","content":"r"}]}' > tool.jsonl
run chat-render --chat-template strict.jinja --plain tool.jsonl; expect_rc 1
expect_err_glob "chat-render: tool.jsonl:2: chat template strict.jinja:3: TemplateError: Only user and assistant roles are supported!"
expect_out '{"messages":[{"role":"user","content":"Hi"}],"text":"Hi"}'
# A syntax error names the template file and line before any record is read.
printf '%s\n' '{% for m in messages %}' '{{ m.content }' '{% endfor %}' > broken.jinja
run chat-render --chat-template broken.jinja in.jsonl; expect_rc 1
expect_err_glob "chat-render: broken.jinja:2: *"
[ -z "$out" ] || fail "no output expected: $out"
run chat-render in.jsonl; expect_rc 2
run chat-render --format mistral in.jsonl; expect_rc 2
run chat-render --chat-template missing.jinja in.jsonl; expect_rc 3
expect_err_glob "chat-render: missing.jinja: cannot open*"
run chat-render --chat-template other.jinja --template-kwargs '[1]' in.jsonl; expect_rc 2
expect_err_glob "chat-render: --template-kwargs: expected a JSON object*"
run chat-render --format gpt-oss --plain tool.jsonl; expect_rc 1
expect_err_glob "chat-render: tool.jsonl:2: message 1: gpt-oss renders a tool turn only after*"
# Assistant tool calls: a template renders them (Qwen3's does); a built-in format cannot and
# refuses the record rather than drop them.
printf '%s\n' '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":{"x":1}}}]}]}' > calls.jsonl
run chat-render --format qwen3 --plain calls.jsonl; expect_rc 1
expect_err_glob "chat-render: calls.jsonl:1: message 1: \`tool_calls\` cannot be rendered by the built-in 'qwen3' format*"
TOK="$DELIB_SHARED/data/tokenizers"
[ -d "$TOK/qwen3" ] || fail "missing shared test data $TOK/qwen3"
run chat-render --tokenizer "$TOK/qwen3" --plain calls.jsonl; expect_rc 0
expect_out_has '<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n</tool_call>'
