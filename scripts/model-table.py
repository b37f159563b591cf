#!/usr/bin/env python3
"""Prints README's model support table (Markdown) from what the code and the tests say.

The families are the rows of families() in lib/src/model/family.cpp (model_type, architecture,
name and the columns that set each apart); what covers each is read from the reference tests
without running them:

  logits, gradients, save -> load   a row of CASES in tests/reference/test_model_reference.py
                                    (each row checks all three) built from the family's config
  generation                        KIND_CONFIGS in tests/reference/test_generate_reference.py
  real-shape check                  a transformers config class called in
                                    tests/reference/test_model_*_shape.py

A test's config class is mapped to its model_type with transformers' CONFIG_MAPPING_NAMES.

usage: scripts/model-table.py [--check]
  --check  exit 1 (naming them) when a family lacks a logits / gradients / save / generation
           reference test, or a test builds a model of no family of the table; the table is
           printed either way (a missing real-shape check shows as **no**, not an error).
Run with the test venv's python (~/.cache/delib/venv/bin/python): it needs transformers.
"""
import ast
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILY_CPP = os.path.join(ROOT, "lib", "src", "model", "family.cpp")
REF = os.path.join(ROOT, "tests", "reference")

# Family columns (lib/src/model/family.h) -> what the table says of a row that sets them.
FEATURES = [
    (r"\.fused_qkv = true", "fused qkv_proj"),
    (r"\.fused_gate_up = true", "fused gate_up_proj"),
    (r"AttentionBias::kQkv", "q/k/v bias"),
    (r"AttentionBias::kFromConfig", "attention bias (config)"),
    (r"\.qk_norm = true", "q/k norm"),
    (r"SlidingWindow::kFromConfig", "sliding window"),
    (r"SlidingWindow::kPerLayer", "sliding/full layers"),
    (r"\.partial_rotary = true", "partial rotary"),
    (r"\.norm_plus_one = true", "(1 + w) RMSNorm"),
    (r"\.sandwich_norms = true", "sandwich norms"),
    (r"\.scale_embeddings = true", "scaled embeddings"),
    (r"\.activation_default = \"gelu_pytorch_tanh\"", "GeGLU (tanh)"),
    (r"\.query_pre_attn_scalar = true", "query_pre_attn_scalar"),
    (r"\.attn_softcap = true", "attention soft-cap"),
    (r"\.final_softcap = true", "final logit soft-cap"),
    (r"\.local_rope = true", "local RoPE base"),
    (r"\.moe = true", "MoE (top-k router, load-balancing loss)"),
]


def families():
    """[(model_type, architecture, name, features, rope)] in the order of families()."""
    text = open(FAMILY_CPP).read()
    body = text[text.index("kFamilies = {"):]
    body = body[:body.index("\n  };")] + "\n"
    anyrope = re.search(r"kAnyRope = \{([^}]*)\}", text).group(1)
    rows = []
    for m in re.finditer(r"\{\.model_type = \"([^\"]+)\", \.architecture = \"([^\"]+)\", "
                         r"\.name = \"([^\"]+)\"(.*?)\},\n", body, re.S):
        model_type, arch, name, rest = m.groups()
        feats = [label for pat, label in FEATURES if re.search(pat, rest)]
        rope = re.search(r"\.rope_types = (kAnyRope|\{[^}]*\})", rest)
        types = re.findall(r'"([^"]+)"', anyrope if rope and rope.group(1) == "kAnyRope"
                           else (rope.group(1) if rope else ""))
        rows.append((model_type, arch, name, feats, types))
    if not rows:
        sys.exit(f"model-table: no family rows found in {FAMILY_CPP}")
    return rows


def config_calls(path):
    """Names of *Config classes called in `path` (transformers.X(...) or X(...))."""
    names = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Call):
            f = node.func
            n = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if n.endswith("Config") and n[0].isupper() and n not in ("AutoConfig", "PretrainedConfig"):
                names.append(n)
    return names


def module_constant(path, name):
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            return node.value
    sys.exit(f"model-table: {path} has no {name}")


def coverage():
    """{config class name: set of checks} from the reference tests."""
    cov = {}
    cases = module_constant(os.path.join(REF, "test_model_reference.py"), "CASES")
    for elt in cases.elts:
        cls = elt.elts[1].id
        cov.setdefault(cls, set()).update({"logits", "grads", "save"})
    kinds = ast.literal_eval(module_constant(os.path.join(REF, "test_generate_reference.py"), "KIND_CONFIGS"))
    for cls in kinds.values():
        cov.setdefault(cls, set()).add("generation")
    for path in sorted(glob.glob(os.path.join(REF, "test_model_*_shape.py"))):
        for cls in config_calls(path):
            cov.setdefault(cls, set()).add("shape:" + os.path.basename(path))
    return cov


def main():
    check = "--check" in sys.argv[1:]
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    type_of = {cls: mt for mt, cls in CONFIG_MAPPING_NAMES.items()}
    rows = families()
    by_type = {}
    problems = []
    for cls, checks in coverage().items():
        mt = type_of.get(cls)
        if mt is None or mt not in {r[0] for r in rows}:
            problems.append(f"{cls} (model_type {mt}) is tested but is no family of {FAMILY_CPP}")
            continue
        by_type.setdefault(mt, set()).update(checks)

    yes = lambda c: "yes" if c else "**no**"
    print("| family | HF architecture | features | RoPE scaling | logits | gradients | generation | "
          "save -> transformers | real-shape check |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for model_type, arch, name, feats, types in rows:
        c = by_type.get(model_type, set())
        shape = sorted(x.split(":", 1)[1] for x in c if x.startswith("shape:"))
        print(f"| {name} (`{model_type}`) | `{arch}` | {', '.join(feats) or 'reference layout'} | "
              f"{', '.join(types) or 'default only'} | {yes('logits' in c)} | {yes('grads' in c)} | "
              f"{yes('generation' in c)} | {yes('save' in c)} | "
              f"{', '.join('`' + s + '`' for s in shape) if shape else '**no**'} |")
        # Every family is reference-tested (logits, gradients, save -> load) and generates;
        # the real-shape check is reported, not required (the older families predate it).
        for what in ("logits", "grads", "generation", "save"):
            if what not in c:
                problems.append(f"{arch}: no {what} reference test")
    if check and problems:
        for p in problems:
            print(f"model-table: {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
