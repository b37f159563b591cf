#!/usr/bin/env python3
"""Lists the longest C++ function bodies, longest first: LINES FILE:LINE NAME.

  scripts/longest-functions.py                 # lib/src/**/*.cpp, the 10 longest
  scripts/longest-functions.py -n 30 tools lib/src/generate/engine.cpp

A brace-matching heuristic, not a parser (no clang or ctags needed): comments, string and
character literals and preprocessor lines are blanked out; a '{' whose preceding declaration
text (back to the last ';', '{' or '}') holds a '(' and does not open a namespace, class,
struct, union or enum, or an initializer after '=', starts a function body. Lambdas and
local classes count as part of the function that holds them; member functions defined inside
a class body count on their own. LINES runs from the declaration's first line to the closing
brace, both included (Engine::run at lines 169-429 is 261), the count issue #17 uses.
"""
import argparse
import pathlib
import re
import signal
import sys


def blank_non_code(text: str) -> str:
    """Comments, literals and preprocessor lines become spaces; newlines are kept."""
    out = []
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#":  # a preprocessor line (with its continuations)
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append(" \n")
                    i += 2
                    continue
                out.append(" ")
                i += 1
            continue
        if c == "\n":
            at_line_start = True
            out.append(c)
            i += 1
            continue
        if not c.isspace():
            at_line_start = False
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i)
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c in "\"'":
            # a digit separator (1'000'000) is not a character literal
            if c == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum() and \
                    re.match(r"[0-9a-fA-FxX']", text[i - 1]):
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else " " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


NOT_FUNCTION = re.compile(r"\b(namespace|class|struct|union|enum)\b|^\s*extern\s*\"")


def without_templates(header: str) -> str:
    """The header without its template<...> parameter lists (their `class` opens no class)."""
    out, i = [], 0
    for m in re.finditer(r"\btemplate\s*<", header):
        if m.start() < i:
            continue
        out.append(header[i:m.start()])
        depth, j = 0, m.end() - 1
        while j < len(header):
            depth += {"<": 1, ">": -1}.get(header[j], 0)
            j += 1
            if depth == 0:
                break
        i = j
    out.append(header[i:])
    return "".join(out)


def functions(path: pathlib.Path):
    """Yields (first_line, last_line, name) for every function body in the file."""
    code = blank_non_code(path.read_text(errors="replace"))
    line_of = [0] * (len(code) + 1)
    line = 1
    for k, ch in enumerate(code):
        line_of[k] = line
        if ch == "\n":
            line += 1
    header_start = 0  # where the text before the next '{' began
    depth_stack = []  # kinds of open braces: "scope" (namespace/class) or "other"
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if c == ";" or c == "}":
            if c == "}" and depth_stack:
                depth_stack.pop()
            header_start = i + 1
        elif c == "{":
            header = code[header_start:i]
            plain = without_templates(header)
            if "(" in plain and not NOT_FUNCTION.search(plain) and "=" not in plain.split("(")[0]:
                # a function body: skip to its matching brace
                depth, j = 0, i
                while j < n:
                    if code[j] == "{":
                        depth += 1
                    elif code[j] == "}":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                first = header_start + (len(header) - len(header.lstrip()))
                m = re.search(r"((?:[A-Za-z_~][\w]*\s*::\s*)*(?:operator\s*\S+?|~?[A-Za-z_]\w*))\s*\(", header)
                name = re.sub(r"\s+", "", m.group(1)) if m else header.strip().split("(")[0]
                yield line_of[first], line_of[min(j, n - 1)], name
                i = j + 1
                header_start = i
                continue
            depth_stack.append("scope" if NOT_FUNCTION.search(plain) else "other")
            header_start = i + 1
        i += 1


def main() -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends quietly
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=["lib/src"], help="files or folders (default: lib/src)")
    ap.add_argument("-n", type=int, default=10, help="how many to list (default: 10)")
    args = ap.parse_args()
    rows = []
    for p in map(pathlib.Path, args.paths):
        files = sorted(p.rglob("*.cpp")) if p.is_dir() else [p]
        if not files:
            print(f"longest-functions: {p}: no .cpp files", file=sys.stderr)
            return 1
        for f in files:
            for first, last, name in functions(f):
                rows.append((last - first + 1, f"{f}:{first}", name))
    rows.sort(key=lambda r: (-r[0], r[1]))
    for lines, where, name in rows[: args.n]:
        print(f"{lines:5d} {where} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
