"""Prepares a .jsonl FAQ corpus (qasearch's own format) for the Python peer.

  faq.py DATA_DIR QUESTIONS_TSV OUT

Writes OUT/sentences.txt (every answer split into sentences with the
regular expression a user's script would use) and OUT/questions.txt (the
first column of the questions file). qasearch reads DATA_DIR itself.
"""

import json
import os
import re
import sys

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def main(data, questions_tsv, out):
    os.makedirs(out, exist_ok=True)
    sentences, pairs = [], 0
    for name in sorted(os.listdir(data)):
        if not name.endswith(".jsonl"):
            continue
        with open(os.path.join(data, name), encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                for qa in json.loads(line).get("qa", []):
                    pairs += 1
                    answer = " ".join(qa["answer"].split())
                    sentences.extend(s for s in SENTENCE_END.split(answer) if s.strip())
    with open(os.path.join(out, "sentences.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")
    with open(questions_tsv, encoding="utf-8") as f:
        rows = [l.split("\t")[0].strip() for l in f if l.strip() and not l.startswith("#")]
    # Drop a header line and repeated questions (one line per right answer).
    questions = list(dict.fromkeys(q for q in rows[1 if rows and rows[0] == "question" else 0 :] if q))
    with open(os.path.join(out, "questions.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(questions) + "\n")
    print(f"{pairs} pairs, {len(sentences)} sentences, {len(questions)} questions in {out}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
