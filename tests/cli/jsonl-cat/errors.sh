# Errors name FILE:LINE; --on-error skip counts and writes rejects; usage errors exit 2.
printf '{"a":1}\n{"a":\n{"a":3}\n' > bad.jsonl
run jsonl-cat --plain bad.jsonl; expect_rc 1
expect_err_glob "jsonl-cat: bad.jsonl:2: invalid JSON*"
run jsonl-cat --plain - < bad.jsonl; expect_rc 1
expect_err_glob "jsonl-cat: -:2: invalid JSON*"
run jsonl-cat --plain --on-error skip --rejects rej.jsonl bad.jsonl; expect_rc 0
expect_out '{"a":1}
{"a":3}'
expect_err_glob "*skipped 1 bad line*"
[ "$(cat rej.jsonl)" = '{"a":' ] || fail "rejects"
run jsonl-cat --plain missing.jsonl; expect_rc 3
expect_err_glob "jsonl-cat: missing.jsonl: cannot open*"
run jsonl-cat --where 'a>=' bad.jsonl; expect_rc 2
expect_err_glob "*--where: column*"
run jsonl-cat --head; expect_rc 2
run jsonl-cat --help; expect_rc 0; expect_out_has "--where"
run jsonl-cat --version; expect_rc 0; expect_out_has "jsonl-cat (delib)"
