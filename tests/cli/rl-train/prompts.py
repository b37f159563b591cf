"""Writes prompt records for the rl-train CLI cases: N records with `messages`, a `category`
and an unknown nested field that must pass through to the rollouts untouched.

usage: prompts.py OUT.jsonl [N]
"""
import json
import sys

n = int(sys.argv[2]) if len(sys.argv) > 2 else 8
with open(sys.argv[1], "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": f"q{i}", "category": "general",
                            "messages": [{"role": "user", "content": f"say something {i}"}],
                            "meta": {"source": "test", "n": i, "tags": ["a", None, 1.5]}}) + "\n")
