"""Synthesize a Q&A corpus of N answer sentences from BEIR datasets.

  corpus.py DATASETS N OUT [one|multi] [record|about]

Every corpus sentence of the datasets under DATASETS is used once; beyond
that, new sentences are made by joining the first half (in words) of one
sentence to the second half of another, pairs drawn with a fixed seed, so
every sentence is distinct. `one`: each answer is one sentence (as in
wikiqa); `multi`: answers of 3 or 4 sentences (as in the seed document).
Ten Q&A pairs to a .txt document. Stored questions: `record` (the default)
"What does record D-J say?", the same template for every pair (a worst
case for a view of stored questions: 50,000 nearly equal vectors); `about`
"What does record D-J say about <the answer's first five words>?", each
question distinct and about its answer, as a FAQ's are.

Writes OUT/data/*.txt (the corpus for qasearch), OUT/sentences.txt (the same
answer sentences, one a line, for the Python peer) and OUT/questions.txt (the
datasets' queries, to ask both).
"""

import json
import os
import random
import re
import sys


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                yield json.loads(line)


def question(record, answer, kind):
    if kind == "about":
        words = re.sub(r"[^\w\s-]", " ", answer).split()[:5]
        return f"What does record {record} say about {' '.join(words)}?"
    return f"What does record {record} say?"


def main(datasets, n, out, shape="one", kind="record"):
    base, questions = [], []
    for name in sorted(os.listdir(datasets)):
        d = os.path.join(datasets, name)
        if not os.path.isfile(os.path.join(d, "corpus.jsonl")):
            continue
        for e in read_jsonl(os.path.join(d, "corpus.jsonl")):
            t = " ".join(e.get("text", "").split())
            # One sentence each: no inner sentence end, ends with a period.
            if t.endswith(".") and ". " not in t[:-1] and "? " not in t and "! " not in t and len(t.split()) >= 6:
                base.append(t)
        for q in read_jsonl(os.path.join(d, "queries.jsonl")):
            questions.append(" ".join(q["text"].split()))
    base = sorted(set(base))
    rng = random.Random(20261126)
    sentences, seen = list(base[:n]), set(base[:n])
    while len(sentences) < n:
        a, b = rng.choice(base).split(), rng.choice(base).split()
        s = " ".join(a[: len(a) // 2] + b[len(b) // 2 :])
        if s not in seen and s[0].isupper():
            seen.add(s)
            sentences.append(s)
    answers, i = [], 0
    while i < n:
        size = 1 if shape == "one" else rng.choice((3, 4))
        answers.append(" ".join(sentences[i : i + size]))
        i += size
    data = os.path.join(out, "data")
    os.makedirs(data, exist_ok=True)
    for d in range(0, len(answers), 10):
        with open(os.path.join(data, f"doc{d // 10:06}.txt"), "w", encoding="utf-8") as f:
            f.write(f"Synthetic document {d // 10}.\n")
            for j, a in enumerate(answers[d : d + 10]):
                f.write(f"{question(f'{d // 10}-{j}', a, kind)}\n{a}\n")
    with open(os.path.join(out, "sentences.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")
    with open(os.path.join(out, "questions.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(questions) + "\n")
    print(f"{n} sentences in {len(answers)} answers ({len(base)} distinct base sentences), "
          f"{len(questions)} questions in {out}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], *sys.argv[4:6])
