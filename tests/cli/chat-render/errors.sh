# Errors: an unrecognised template (1), a missing template source or bad flag (2), an
# unreadable file (3), and a conversation the template refuses (1, with the record's line).
printf '%s\n' '{"messages":[{"role":"user","content":"Hi"}]}' > in.jsonl
printf '%s' "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{% endfor %}" > other.jinja
run chat-render --chat-template other.jinja in.jsonl; expect_rc 1
expect_err_glob "chat-render: other.jinja: unrecognised chat template*"
[ -z "$out" ] || fail "no output expected: $out"
run chat-render in.jsonl; expect_rc 2
run chat-render --format mistral in.jsonl; expect_rc 2
run chat-render --chat-template missing.jinja in.jsonl; expect_rc 3
expect_err_glob "chat-render: missing.jinja: cannot open*"
printf '%s\n' '{"messages":[{"role":"user","content":"Hi"}]}' \
  '{"messages":[{"role":"user","content":"q"},{"role":"tool","content":"r"}]}' > tool.jsonl
run chat-render --format gpt-oss --plain tool.jsonl; expect_rc 1
expect_err_glob "chat-render: tool.jsonl:2: message 1: gpt-oss renders a tool turn only after*"
# Assistant tool calls cannot be rendered (delib messages carry none): refused, not dropped.
printf '%s\n' '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":{}}}]}]}' > calls.jsonl
run chat-render --format qwen3 --plain calls.jsonl; expect_rc 1
expect_err_glob "chat-render: calls.jsonl:1: message 1: tool_calls are not supported*"
