"""scripts/model-table.py (README's model support table) against the family table:

  1. --check passes: every row of families() in lib/src/model/family.cpp has logits, gradient,
     save -> load and generation reference tests, and every tested config is a family;
  2. the printed table has exactly one row per family, in the table's order (the
     architectures counted independently of the script's parser);
  3. a family without tests fails --check, naming it (a copy of family.cpp with an extra row).
"""
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(ROOT, "scripts", "model-table.py")
FAMILY_CPP = os.path.join(ROOT, "lib", "src", "model", "family.cpp")

checks = Checks()
check = checks.that


def main():
    r = subprocess.run([sys.executable, SCRIPT, "--check"], capture_output=True, text=True)
    check(r.returncode == 0, f"model-table --check exit {r.returncode}: {r.stderr}")
    archs = re.findall(r'\.architecture = "([^"]+)"', open(FAMILY_CPP).read())
    rows = [l for l in r.stdout.splitlines() if l.startswith("| ") and not l.startswith(("| family", "| ---"))]
    printed = [re.search(r"\| `([^`]+)` \|", l).group(1) for l in rows]
    check(len(archs) >= 8, f"family.cpp rows: {archs}")
    check(printed == archs, f"table rows {printed} != family.cpp rows {archs}")
    print(f"{len(rows)} families in the table: {', '.join(printed)}")

    # A family with no test: --check must name it.
    tmp = tempfile.mkdtemp(prefix="model-table-")
    fake = os.path.join(tmp, "family.cpp")
    text = open(FAMILY_CPP).read()
    i = text.index("\n  };", text.index("kFamilies = {"))
    text = text[:i] + '\n      {.model_type = "gpt2", .architecture = "GPT2LMHeadModel", .name = "GPT-2"},' + text[i:]
    with open(fake, "w") as f:
        f.write(text)
    spec = importlib.util.spec_from_file_location("model_table", SCRIPT)
    mt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mt)
    mt.FAMILY_CPP = fake
    sys.argv = [SCRIPT, "--check"]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = mt.main()
    check(rc == 1, f"an untested family passes --check (exit {rc})")
    check("GPT2LMHeadModel: no logits reference test" in err.getvalue(), f"stderr: {err.getvalue()}")
    check("| GPT-2 (`gpt2`) | `GPT2LMHeadModel` |" in out.getvalue() and "**no**" in out.getvalue(),
          "the untested family's row shows **no**")
    shutil.rmtree(tmp, ignore_errors=True)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
