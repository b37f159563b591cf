#!/usr/bin/env python3
"""Extracts the request and response schemas of the vLLM and SGLang HTTP endpoints delib calls
into tests/servers/server_schemas.json, the fixture that check_request_schemas.py checks
delib's requests against (ctest -R servers.).

Reads the servers' source with `ast` only: nothing of vLLM or SGLang is imported or installed,
so their dependencies (CUDA, torch builds, msgspec...) are not needed. For each endpoint below,
the request classes (a union alias such as vLLM's ScoreRequest gives several), their fields
with base classes merged (the subclass wins), each field's annotation with the module's type
aliases and numeric constants written out (StopParam, _INT64_MIN), whether it is required, its
default, the Field(...) constraints (ge, le, gt, lt, min_length, max_length, alias) and how the
class treats a field it does not have (pydantic's model_config extra: vLLM's OpenAIBaseModel
"allow", pydantic's default "ignore"; SGLang's msgspec structs are validated with
extra_behavior="ignore", sglang/srt/utils/msgspec_utils.py). Response classes are followed into
the classes their fields name (choices -> CompletionResponseChoice -> CompletionLogProbs), so
the check can resolve a path such as choices[].logprobs.tokens. Each endpoint's route string
must appear in the file that declares it; a refresh fails loudly when a route or class moved.

Refreshing it for a new version (needs network; nothing here runs in the test suite):

    pip download vllm --no-deps -d ~/.cache/delib/wheels      # ~240 MB
    pip download sglang --no-deps -d ~/.cache/delib/wheels
    python tests/servers/extract_server_schemas.py \\
        --vllm ~/.cache/delib/wheels/vllm-X-*.whl --sglang ~/.cache/delib/wheels/sglang-Y-*.whl \\
        -o tests/servers/server_schemas.json
    ctest -R servers. --output-on-failure

A wheel (read in place) or an unpacked one (the directory holding vllm/ or sglang/ and the
.dist-info with the version) is accepted; a source checkout works too, but its version.py may
only say "dev". When a class or route moved to another file, update ENDPOINTS below (the error names
what is missing); then rerun the check and update delib or its ignored-field table
(check_request_schemas.py IGNORED) for what changed.
"""
import argparse
import ast
import json
import os
import re
import sys
import zipfile


def routes(route, source, *endpoints):
    """ENDPOINTS entries of the endpoints whose route is declared in file `route` and whose
    classes are defined in file `source`: each endpoint is (path, request class or union alias,
    response class or None[, note on the answer])."""
    return {f"POST {path}": dict(route=route, source=source, request=request, response=response,
                                 **({"note": note[0]} if note else {}))
            for path, request, response, *note in endpoints}


# server -> endpoint -> the file declaring its route, the file defining its request classes, the
# request class or union alias, the response class or None (and a note on the answer).
V, S = "vllm/entrypoints/", "sglang/srt/"
ENDPOINTS = {
    "vllm": {
        **routes(V + "openai/completion/api_router.py", V + "openai/completion/protocol.py",
                 ("/v1/completions", "CompletionRequest", "CompletionResponse")),
        **routes(V + "openai/chat_completion/api_router.py", V + "openai/chat_completion/protocol.py",
                 ("/v1/chat/completions", "ChatCompletionRequest", "ChatCompletionResponse")),
        **routes(V + "serve/lora/api_router.py", V + "serve/lora/protocol.py",
                 ("/v1/load_lora_adapter", "LoadLoRAAdapterRequest", None,
                  "200 with a plain-text body; an error is an ErrorResponse JSON with its HTTP code "
                  "(400 when the name is already loaded)"),
                 ("/v1/unload_lora_adapter", "UnloadLoRAAdapterRequest", None,
                  "200 with a plain-text body; an unknown name is an ErrorResponse with a 4xx code")),
        **routes(V + "pooling/scoring/api_router.py", V + "pooling/scoring/protocol.py",
                 ("/score", "ScoreRequest", "ScoreResponse"),
                 ("/v1/score", "ScoreRequest", "ScoreResponse")),
        **routes(V + "pooling/pooling/api_router.py", V + "pooling/pooling/protocol.py",
                 ("/pooling", "PoolingRequest", "PoolingResponse")),
    },
    "sglang": {
        **routes(S + "entrypoints/http_server.py", S + "entrypoints/openai/protocol.py",
                 ("/v1/completions", "CompletionRequest", "CompletionResponse"),
                 ("/v1/chat/completions", "ChatCompletionRequest", "ChatCompletionResponse")),
        **routes(S + "entrypoints/http_server.py", S + "managers/io_struct.py",
                 ("/update_weights_from_disk", "UpdateWeightFromDiskReqInput", "UpdateWeightFromDiskReqOutput",
                  "answers {success, message, num_paused_requests} (the output struct's fields, "
                  "http_server.py): HTTP 200 when success, else 400"),
                 ("/load_lora_adapter", "LoadLoRAAdapterReqInput", None,
                  "at the server root, not under /v1 (vLLM's path)"),
                 ("/unload_lora_adapter", "UnloadLoRAAdapterReqInput", None,
                  "at the server root, not under /v1 (vLLM's path)"),
                 ("/generate", "GenerateReqInput", None,
                  "SGLang's native API; its answer is a dict built from the scheduler's output "
                  "(text, output_ids, meta_info), not a class")),
    },
}

# Names that are the typing machinery or builtins: kept as written.
TYPING = {"Optional", "Union", "List", "Dict", "Tuple", "Set", "Literal", "Annotated", "Any",
          "list", "dict", "tuple", "set", "str", "int", "float", "bool", "bytes", "None",
          "object", "TypeAlias", "ClassVar", "Sequence", "Mapping", "Iterable", "Callable"}
# External base classes: how a class built on them treats unknown fields by default.
KINDS = {"BaseModel": ("pydantic", "ignore"), "Struct": ("msgspec", "ignore"),
         "TypedDict": ("typeddict", "ignore")}
CONSTRAINTS = ("ge", "le", "gt", "lt", "min_length", "max_length", "alias")


class Source:
    """A wheel (read in place) or a directory holding the package."""

    def __init__(self, path):
        self.path = path
        self.zip = zipfile.ZipFile(path) if path.endswith(".whl") else None
        self.names = set(self.zip.namelist()) if self.zip else None

    def exists(self, rel):
        return rel in self.names if self.zip else os.path.isfile(os.path.join(self.path, rel))

    def read(self, rel):
        if self.zip:
            return self.zip.read(rel).decode("utf-8")
        with open(os.path.join(self.path, rel), encoding="utf-8") as f:
            return f.read()

    def version(self, package):
        """The release: the wheel's METADATA (also in an unpacked wheel), else version.py."""
        names = self.names if self.zip else [
            f"{d}/METADATA" for d in os.listdir(self.path) if d.endswith(".dist-info")]
        for n in names:
            if re.fullmatch(rf"{package}-[^/]+\.dist-info/METADATA", n) and self.exists(n):
                m = re.search(r"^Version: (\S+)", self.read(n), re.M)
                if m:
                    return m.group(1)
        print(f"{self.path}: no {package}-*.dist-info/METADATA; the version is read from version.py "
              "(a source checkout may say 'dev': prefer the wheel)", file=sys.stderr)
        for rel in (f"{package}/version.py", f"{package}/_version.py"):
            if self.exists(rel):
                m = re.search(r"""__version__\s*(?::[^=]*)?=\s*['"]([^'"]+)""", self.read(rel))
                if m:
                    return m.group(1)
        sys.exit(f"cannot find {package}'s version in {self.path}")


class Module:
    def __init__(self, src, rel):
        self.rel = rel
        self.tree = ast.parse(src.read(rel), rel)
        self.defs = {}     # name -> ClassDef or the value expression of a module-level assignment
        self.imports = {}  # name -> (module file, name there)
        pkg = rel.rsplit("/", 1)[0].split("/")
        for node in self.tree.body:
            if isinstance(node, ast.ClassDef):
                self.defs[node.name] = node
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.defs[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.defs[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg[: len(pkg) - node.level + 1]
                    mod = "/".join(base + (node.module.split(".") if node.module else []))
                else:
                    mod = (node.module or "").replace(".", "/")
                for a in node.names:
                    self.imports[a.asname or a.name] = (mod, a.name)


class Extractor:
    def __init__(self, src):
        self.src = src
        self.modules = {}
        self.classes = {}  # name -> extracted entry (names are unique within one server's table)

    def module(self, rel):
        if rel not in self.modules:
            self.modules[rel] = Module(self.src, rel)
        return self.modules[rel]

    def file_of(self, mod):
        for rel in (mod + ".py", mod + "/__init__.py"):
            if self.src.exists(rel):
                return rel
        return None

    def resolve(self, rel, name, depth=0):
        """(module file, definition) of `name` as seen from module `rel`; None when external."""
        if depth > 20:
            return None
        m = self.module(rel)
        if name in m.defs:
            return rel, m.defs[name]
        if name in m.imports:
            mod, orig = m.imports[name]
            f = self.file_of(mod)
            if f:
                return self.resolve(f, orig, depth + 1)
        return None

    def render(self, rel, expr, refs, seen=()):
        """The annotation (or Field argument) as text, module aliases and constants inlined;
        class names it references are added to `refs` as (module, name)."""
        ex = self

        class Inline(ast.NodeTransformer):
            def visit_Name(self, node):
                if node.id in TYPING:
                    return node
                r = ex.resolve(rel, node.id)
                if r is None:
                    return node
                frel, d = r
                if isinstance(d, ast.ClassDef):
                    refs.add((frel, node.id))
                    return node
                if (frel, node.id) in seen:
                    return node
                try:  # a numeric constant such as _INT64_MIN = -(2**63)
                    v = eval(compile(ast.Expression(d), "<const>", "eval"), {"__builtins__": {}})
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        return ast.Constant(v)
                except Exception:
                    pass
                return ast.parse(ex.render(frel, d, refs, seen + ((frel, node.id),)), mode="eval").body

        tree = Inline().visit(ast.parse(ast.unparse(expr), mode="eval"))
        return ast.unparse(tree)

    def request_classes(self, rel, name):
        """The classes a request name stands for: itself, or each class of a union alias."""
        r = self.resolve(rel, name)
        if r is None:
            raise SystemExit(f"{self.src.path}: {rel}: no class or alias {name}")
        frel, d = r
        if isinstance(d, ast.ClassDef):
            return [(frel, name)]
        refs = set()
        self.render(frel, d, refs)
        order = [n.id for n in ast.walk(d) if isinstance(n, ast.Name)]
        out = sorted(refs, key=lambda x: order.index(x[1]) if x[1] in order else 99)
        if not out:
            raise SystemExit(f"{self.src.path}: {rel}: {name} names no class")
        return out

    def extract(self, rel, name, follow):
        """Adds class `name` of module `rel` (and, when follow, the classes its fields name)."""
        if name in self.classes:
            return
        r = self.resolve(rel, name)
        if r is None or not isinstance(r[1], ast.ClassDef):
            raise SystemExit(f"{self.src.path}: {rel}: no class {name}")
        frel, cls = r
        kind, extra = "plain", None

        def bases(frel, cls):
            """The package's base classes of cls, in order; sets `kind` from an external base."""
            nonlocal kind
            out = []
            for b in cls.bases:
                bname = b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else None
                if bname is None:
                    continue
                if bname in KINDS:
                    kind = KINDS[bname][0]
                    continue
                rb = self.resolve(frel, bname) if isinstance(b, ast.Name) else None
                if rb and isinstance(rb[1], ast.ClassDef):
                    out.append(rb)
            return out

        def mro(frel, cls):
            """Python's C3 linearisation over the package's classes: [(file, ClassDef)], cls first."""
            seqs = [mro(*b) for b in bases(frel, cls)] + [bases(frel, cls)]
            out = [(frel, cls)]
            key = lambda x: (x[0], x[1].name)  # noqa: E731
            while any(seqs):
                for seq in seqs:
                    if not seq:
                        continue
                    head = seq[0]
                    if not any(key(head) in [key(x) for x in q[1:]] for q in seqs):
                        break
                else:
                    raise SystemExit(f"{self.src.path}: {frel}: no consistent MRO for {cls.name}")
                out.append(head)
                seqs = [q[1:] if q and key(q[0]) == key(head) else q for q in seqs]
            return out

        chain = list(reversed(mro(frel, cls)))  # the most basic first: later entries win
        if any(isinstance(d, ast.Name) and d.id == "dataclass" or
               isinstance(d, ast.Call) and getattr(d.func, "id", None) == "dataclass"
               for d in cls.decorator_list):
            kind = "dataclass"
        fields, refs = {}, set()
        for mrel, c in chain:
            for st in c.body:
                if (isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)
                        and st.targets[0].id == "model_config" and isinstance(st.value, ast.Call)):
                    for kw in st.value.keywords:
                        if kw.arg == "extra" and isinstance(kw.value, ast.Constant):
                            extra = kw.value.value
                if not (isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)):
                    continue
                fname = st.target.id
                if fname.startswith("_") or "ClassVar" in ast.unparse(st.annotation):
                    continue
                entry = {"type": self.render(mrel, st.annotation, refs)}
                required, default = st.value is None, None
                v = st.value
                if isinstance(v, ast.Call) and getattr(v.func, "id", None) == "Field":
                    kws = {k.arg: k.value for k in v.keywords if k.arg}
                    if v.args:
                        a = v.args[0]
                        required = isinstance(a, ast.Constant) and a.value is Ellipsis
                        default = None if required else ast.unparse(a)
                    elif "default" in kws:
                        default = ast.unparse(kws["default"])
                    elif "default_factory" in kws:
                        default = "factory: " + ast.unparse(kws["default_factory"])
                    else:
                        required = True
                    cons = {}
                    for k in CONSTRAINTS:
                        if k in kws:
                            txt = self.render(mrel, kws[k], set())
                            try:
                                cons[k] = ast.literal_eval(txt)
                            except Exception:
                                cons[k] = txt  # e.g. envs.VLLM_MAX_STOP_STRINGS: a server setting
                    if cons:
                        entry["constraints"] = cons
                elif v is not None:
                    default = ast.unparse(v)
                entry["required"] = required
                if default is not None:
                    entry["default"] = default
                fields.pop(fname, None)
                fields[fname] = entry
        if extra is None:
            extra = "ignore"  # pydantic's default; msgspec_utils.py's extra_behavior; dataclasses
        self.classes[name] = {"source": frel, "kind": kind, "extra": extra, "fields": fields}
        if follow:
            for mrel, ref in sorted(refs):
                self.extract(mrel, ref, True)


def extract_server(server, path):
    src = Source(path)
    ex = Extractor(src)
    out = {"version": src.version(server), "source": os.path.basename(path.rstrip("/")), "endpoints": {},
           "classes": ex.classes}
    for ep, spec in ENDPOINTS[server].items():
        route = ep.split(" ", 1)[1]
        if not src.exists(spec["route"]) or f'"{route}"' not in src.read(spec["route"]):
            raise SystemExit(f"{path}: the route {route} is not in {spec['route']}: update ENDPOINTS")
        if not src.exists(spec["source"]):
            raise SystemExit(f"{path}: no {spec['source']}: update ENDPOINTS")
        reqs = ex.request_classes(spec["source"], spec["request"])
        for rel, name in reqs:
            ex.extract(rel, name, follow=False)
        e = {"route_source": spec["route"], "request": [n for _, n in reqs]}
        if spec["request"] not in e["request"]:
            e["request_alias"] = spec["request"]
        if spec["response"]:
            ex.extract(spec["source"], spec["response"], follow=True)
            e["response"] = spec["response"]
        if spec.get("note"):
            e["note"] = spec["note"]
        out["endpoints"][ep] = e
    out["classes"] = dict(sorted(ex.classes.items()))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vllm", required=True, help="vLLM wheel or source directory")
    p.add_argument("--sglang", required=True, help="SGLang wheel or source directory")
    p.add_argument("-o", "--output", default=os.path.join(os.path.dirname(__file__), "server_schemas.json"))
    a = p.parse_args()
    fixture = {
        "generated_by": "tests/servers/extract_server_schemas.py (see its docstring to refresh)",
        "servers": {"vllm": extract_server("vllm", a.vllm), "sglang": extract_server("sglang", a.sglang)},
    }
    with open(a.output, "w", encoding="utf-8") as f:
        json.dump(fixture, f, indent=1, sort_keys=False)
        f.write("\n")
    for s, v in fixture["servers"].items():
        print(f"{s} {v['version']}: {len(v['endpoints'])} endpoints, {len(v['classes'])} classes", file=sys.stderr)


if __name__ == "__main__":
    main()
