"""A corpus whose "question" is a heading its answers share, from a BEIR set.

Every passage of the set becomes a one-pair record of `heading.jsonl`, its
question the article's title; the set's queries and judgements become
`questions.tsv` for `eval --questions`. docs/search.md, "Answers to one
question", measured the thread order on wikiqa-dev and xquad-en built so:

    python3 benches/fusion/heading_corpus.py ../shared/datasets/wikiqa-dev /tmp/heading-wikiqa
    qasearch -q --data /tmp/heading-wikiqa/data --index /tmp/heading-wikiqa/index index
    qasearch -q --data /tmp/heading-wikiqa/data --index /tmp/heading-wikiqa/index \
        eval --questions /tmp/heading-wikiqa/questions.tsv --only-questions --json
"""
import json
import os
import sys


def main(beir, out):
    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    title = {}
    with open(os.path.join(out, "data", "heading.jsonl"), "w") as f:
        for line in open(os.path.join(beir, "corpus.jsonl")):
            d = json.loads(line)
            title[d["_id"]] = d["title"].replace("_", " ")
            qa = [{"question": title[d["_id"]], "answer": d["text"]}]
            f.write(json.dumps({"id": d["_id"], "passage": "", "qa": qa}) + "\n")
    queries = {}
    for line in open(os.path.join(beir, "queries.jsonl")):
        d = json.loads(line)
        queries[d["_id"]] = d["text"]
    with open(os.path.join(out, "questions.tsv"), "w") as f:
        f.write("question\tdoc\tcorpus question\n")
        for i, line in enumerate(open(os.path.join(beir, "qrels", "test.tsv"))):
            if i == 0:
                continue
            q, doc, score = line.strip().split("\t")
            if int(score) > 0:
                f.write(f"{queries[q]}\theading.jsonl#{doc}\t{title[doc]}\n")
    print(f"{len(title)} passages under {len(set(title.values()))} titles")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
