"""Helpers for the reference tests of the HTTP backend, cot-gen and cot-judge: start the
OpenAI-compatible test server (openai_server.py) on a free 127.0.0.1 port, run delib tools,
read records, count results."""
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("DELIB_SRC", os.path.dirname(os.path.dirname(HERE)))
BIN = os.environ.get("DELIB_BIN", os.path.join(SRC, "build", "bin"))
SHARED = os.environ.get("DELIB_SHARED", os.path.join(os.path.dirname(SRC), "shared"))
TMP_ROOT = os.environ.get("DELIB_TMP", tempfile.gettempdir())
SPEC = os.path.join(SRC, "specs", "small.md")


def shared(*parts):
    """The path of shared test data under $DELIB_SHARED; a missing file or folder is a failure
    that names it (a test never passes, or dies with a bare traceback, without its data)."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        raise FileNotFoundError(f"missing shared test data {path} (set DELIB_SHARED to the shared/ checkout)")
    return path


def tmpdir(prefix):
    os.makedirs(TMP_ROOT, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=TMP_ROOT)


class Server:
    """The test server as a context manager: .url is the base URL (ending in /v1)."""

    def __init__(self, *args, log=True):
        self.dir = tmpdir("server-")
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "log.jsonl") if log else None
        cmd = [sys.executable, os.path.join(HERE, "openai_server.py"), "--port-file", self.port_file,
               "--max-lifetime", "900"] + list(args)
        if self.log_path:
            cmd += ["--log", self.log_path]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "stderr"), "w"))
        deadline = time.time() + 120
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("test server exited: " + open(os.path.join(self.dir, "stderr")).read())
            if time.time() > deadline:
                self.proc.kill()
                raise RuntimeError("test server did not start")
            time.sleep(0.05)
        self.port = int(open(self.port_file).read())
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats") as r:
            return json.loads(r.read())

    def log(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return []
        return [json.loads(l) for l in open(self.log_path, encoding="utf-8")]

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tool(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is not built")
    return path


def run(name, *args, env=None, check=None, timeout=300):
    """Runs a delib tool; returns CompletedProcess (text). check: expected exit code."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([tool(name)] + [str(a) for a in args], capture_output=True, text=True,
                       env=e, timeout=timeout)
    if check is not None and p.returncode != check:
        raise AssertionError(f"{name} exited {p.returncode}, expected {check}\nstderr:\n{p.stderr}")
    return p


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    data = open(path, "rb").read()
    if data[:4] == b"\x28\xb5\x2f\xfd":
        data = subprocess.run(["zstd", "-q", "-d", "-c"], input=data, capture_output=True, check=True).stdout
    return [json.loads(l) for l in data.decode("utf-8").splitlines() if l.strip()]


class Suite:
    """Minimal runner: each test a function; prints 'N passed, N failed'."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, fn):
        t0 = time.time()
        try:
            fn()
            self.passed += 1
            print(f"PASS {fn.__name__} ({time.time() - t0:.1f}s)", flush=True)
        except Exception:
            self.failed += 1
            print(f"FAIL {fn.__name__}", flush=True)
            traceback.print_exc()

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)


class Checks:
    """Checks that go on after a failure (the reference tests' style): check(name, ok, detail)
    counts one and prints "FAIL name: detail" when ok is false (that(ok, what) without a name);
    summary() prints 'N passed, N failed' and returns the exit status; finish() exits with it."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}", flush=True)

    def that(self, ok, what):
        """The unnamed form: counts one and prints "FAIL: what" when ok is false."""
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}", flush=True)

    def summary(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0

    def finish(self):
        sys.exit(self.summary())


def check(cond, msg=""):
    if not cond:
        raise AssertionError(msg)
