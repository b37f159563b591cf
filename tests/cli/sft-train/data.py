"""Writes small SFT record files for the sft-train CLI cases.

usage: data.py OUT.jsonl [N] [--long]
N chat records (messages + reasoning + answer), one raw text/target record, and with --long
one record longer than any --max-length the cases use.
"""
import json
import sys

TOPICS = ["chemistry", "the weather", "a poem", "Paris", "medical advice", "a recipe", "history",
          "python code", "the policy", "emergency services"]


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else 6
    with open(out, "w") as f:
        for i in range(n):
            t = TOPICS[i % len(TOPICS)]
            rec = {"id": f"r{i}",
                   "messages": [{"role": "user", "content": f"Tell me about {t}, please ({i})."}],
                   "reasoning": f"The user asks about {t}. The policy allows it.",
                   "answer": f"Sure! Here is a short summary about {t}."}
            f.write(json.dumps(rec) + "\n")
        f.write(json.dumps({"id": "raw", "text": "Question: the capital of France?\nAnswer:",
                            "target": " Paris."}) + "\n")
        if "--long" in sys.argv:
            f.write(json.dumps({"id": "long", "prompt": "x " * 400, "answer": "y " * 400}) + "\n")


if __name__ == "__main__":
    main()
