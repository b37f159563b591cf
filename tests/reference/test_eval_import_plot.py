#!/usr/bin/env python3
"""safety-eval's importers checked against Python's csv module, and its Pareto plot parsed as
XML with the points checked against coordinates computed here from the documented geometry.

Importers: for every benchmark file, the records' prompts (messages[0].content), labels and
benchmark columns equal what csv.DictReader reads, row for row.
Plot: `safety-eval --compare` on hand-made run files; the SVG must parse (ElementTree), and each
run's circle must sit at x = 70 + (v - x0) / (1 - x0) * 550, y = 40 + (1 - v) / (1 - y0) * 380,
with x0/y0 the lowest interval end rounded down to a tenth (at most 0.5). With rsvg-convert
installed the PNG must be a PNG of the SVG's size.
"""
import csv
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Checks  # noqa: E402

BIN = os.environ.get("DELIB_BIN", "build/bin")
SHARED = os.environ.get("DELIB_SHARED", "../shared")
B = os.path.join(SHARED, "data/bench")
checks = Checks()
check = checks.that


def imported(bench, path):
    p = subprocess.run([os.path.join(BIN, "safety-eval"), "--import", bench, path, "--plain"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"import {bench} {path}: {p.stderr}")
    return [json.loads(l) for l in p.stdout.splitlines() if l]


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_importers():
    cases = [
        ("xstest", "xstest/xstest_prompts.csv", lambda r: r["prompt"], lambda r: r["label"]),
        ("xstest", "xstest/dev-completions/xstest_v2_completions_gpt4.csv", lambda r: r["prompt"],
         lambda r: "unsafe" if r["type"].startswith("contrast_") else "safe"),
        ("xstest", "xstest/dev-completions/xstest_v2_completions_mistralguard.csv", lambda r: r["prompt"],
         lambda r: "unsafe" if r["type"].startswith("contrast_") else "safe"),
        ("strongreject", "strongreject/strongreject_dataset.csv", lambda r: r["forbidden_prompt"], lambda r: "unsafe"),
        ("advbench", "advbench/harmful_behaviors.csv", lambda r: r["goal"], lambda r: "unsafe"),
        ("harmbench", "harmbench/harmbench_behaviors_text_all.csv",
         lambda r: (r["ContextString"] + "\n\n---\n\n" + r["Behavior"]) if r["ContextString"] else r["Behavior"],
         lambda r: "unsafe"),
    ]
    for bench, rel, prompt, label in cases:
        if not os.path.isfile(os.path.join(B, rel)):
            check(False, f"missing shared test data {os.path.join(B, rel)} (set DELIB_SHARED)")
            continue
        want = rows(os.path.join(B, rel))
        check(len(want) > 0, f"{rel}: empty csv")
        got = imported(bench, os.path.join(B, rel))
        check(len(got) == len(want), f"{rel}: {len(got)} records, csv has {len(want)}")
        bad = [i for i, (g, w) in enumerate(zip(got, want))
               if g["messages"][0]["content"] != prompt(w) or g["label"] != label(w)]
        check(not bad, f"{rel}: rows differ from csv at {bad[:5]}")
        if want and "completion" in want[0]:
            labels = {"1_full_compliance": "full_compliance", "2_full_refusal": "full_refusal",
                      "3_partial_refusal": "partial_refusal"}
            check(all(g["answer"] == w["completion"] and g["human_label"] == labels[w["final_label"]]
                      for g, w in zip(got, want)), f"{rel}: answers / human labels")
        if bench == "harmbench":
            check(all(g["id"] == "harmbench-" + w["BehaviorID"] for g, w in zip(got, want)), "harmbench ids")


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def test_plot():
    tmp = tempfile.mkdtemp(prefix="eval-plot-", dir=os.environ.get("DELIB_TMP"))
    runs = {"base": (0.92, 0.88, 0.95, 0.55, 0.43, 0.66), "sft": (0.81, 0.74, 0.87, 0.93, 0.9, 0.96),
            "rl": (0.9, 0.86, 0.94, 0.9, 0.86, 0.94)}
    files = []
    for name, (x, xl, xh, y, yl, yh) in runs.items():
        path = os.path.join(tmp, name + ".json")
        with open(path, "w") as f:
            json.dump({"format": "delib-eval-run", "version": 1, "name": name, "records": 10,
                       "overall": {"not_overrefuse": {"value": x, "lo": xl, "hi": xh, "n": 50},
                                   "not_unsafe": {"value": y, "lo": yl, "hi": yh, "n": 50}}}, f)
        files.append(path)
    svg = os.path.join(tmp, "p.svg")
    p = subprocess.run([os.path.join(BIN, "safety-eval"), "--compare", *files, "--plot", svg],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"compare: {p.stderr}")
    try:
        root = ET.parse(svg).getroot()
    except ET.ParseError as e:
        check(False, f"SVG does not parse: {e}")
        return
    ns = "{http://www.w3.org/2000/svg}"
    check(root.tag == ns + "svg", "root is <svg>")
    W, H, L, R, T, Bm = 640, 480, 70, 20, 40, 60
    x0 = min(0.5, math.floor(min(v[1] for v in runs.values()) * 10 + 1e-9) / 10)
    y0 = min(0.5, math.floor(min(v[4] for v in runs.values()) * 10 + 1e-9) / 10)
    px = lambda v: L + (v - x0) / (1 - x0) * (W - L - R)
    py = lambda v: T + (1 - v) / (1 - y0) * (H - T - Bm)
    groups = {g.get("data-name"): g for g in root.iter(ns + "g") if g.get("class") == "run"}
    check(set(groups) == set(runs), f"one group per run: {sorted(groups)}")
    for name, (x, xl, xh, y, yl, yh) in runs.items():
        g = groups.get(name)
        if g is None:
            continue
        c = g.find(ns + "circle")
        check(abs(float(c.get("cx")) - px(x)) < 0.01 and abs(float(c.get("cy")) - py(y)) < 0.01,
              f"{name}: point at ({c.get('cx')}, {c.get('cy')}), expected ({px(x):.2f}, {py(y):.2f})")
        xe = [l for l in g.iter(ns + "line") if l.get("class") == "xerr"][0]
        ye = [l for l in g.iter(ns + "line") if l.get("class") == "yerr"][0]
        check(abs(float(xe.get("x1")) - px(xl)) < 0.01 and abs(float(xe.get("x2")) - px(xh)) < 0.01, f"{name}: x bar")
        check(abs(float(ye.get("y1")) - py(yl)) < 0.01 and abs(float(ye.get("y2")) - py(yh)) < 0.01, f"{name}: y bar")
        label = g.find(ns + "text")
        check(label is not None and label.text == name, f"{name}: labelled")
    # base (0.92, 0.55) is not dominated by rl (0.9, 0.9): higher x. Nothing dominates anything
    # except none here; sft vs rl: rl has higher x and lower y -> both on the front.
    check(all(groups[n].find(ns + "circle").get("fill") != "white" for n in groups), "all on the front")
    png = svg[:-4] + ".png"
    if shutil.which("rsvg-convert"):
        check(png_size(png) == (W, H), f"PNG size {png_size(png)}")
    else:
        check(not os.path.exists(png) or png_size(png) is not None, "no broken PNG")


test_importers()
test_plot()
checks.finish()
