#!/usr/bin/env python3
"""Fusion forms and weights, compared on every view's candidates.

The numbers behind README's "Why this fusion". First dump each set's
candidates (every view, 50 deep, one JSON line a query):

    QASEARCH_EVAL_DUMP=dumps/xquad-en.jsonl qasearch eval --beir ../shared/datasets/xquad-en
    QASEARCH_EVAL_DUMP=dumps/wikiqa-dev.jsonl qasearch eval --beir ../shared/datasets/wikiqa-dev
    QASEARCH_EVAL_DUMP=dumps/xquad-de-para.jsonl qasearch eval --beir ../shared/datasets/xquad-de-para
    QASEARCH_EVAL_DUMP=dumps/stackfaq-qa.jsonl qasearch --data ../shared/datasets/stackfaq-dev/data \
        eval --questions ../shared/datasets/stackfaq-dev/questions.tsv
    QASEARCH_EVAL_DUMP=dumps/seed.jsonl qasearch eval --questions data/questions.tsv

then `python3 benches/fusion/grid.py dumps`. nDCG@10 as `eval` computes it
(linear gains, trec_eval tie order). Queries whose id starts with `corpus-`
are stored questions (left out of the question view in the dump); the rest
are user questions, and only they are scored here.
"""
import collections
import json
import math
import sys
from pathlib import Path

BEIR = ["xquad-en", "wikiqa-dev", "xquad-de-para"]
FAQ = ["stackfaq-qa", "seed"]


def ndcg(run, qrels, k=10):
    run = sorted(run, key=lambda x: (-x[1], tuple(-ord(c) for c in x[0])))[:k]
    dcg = sum(qrels.get(d, 0) / math.log2(i + 2) for i, (d, _) in enumerate(run))
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def mean(name, fuse, dumps):
    qs = [json.loads(l) for l in open(dumps / f"{name}.jsonl")]
    qs = [q for q in qs if not q["id"].startswith("corpus-")]
    return sum(ndcg(fuse(q), q["qrels"]) for q in qs) / len(qs)


def cut(q, n):
    return {v: q[v][:n] for v in ("answers", "questions", "lexical")}


def rrf(q, k=60):
    out = collections.defaultdict(float)
    for v in ("answers", "questions", "lexical"):
        for r, (d, _) in enumerate(q[v]):
            out[d] += 1 / (k + r + 1)
    return list(out.items())


def minmax(q, alpha):
    dense = dict(q["answers"])
    for d, s in q["questions"]:
        dense[d] = max(dense.get(d, -1), s)
    norm = lambda D: {d: (s - min(D.values())) / ((max(D.values()) - min(D.values())) or 1) for d, s in D.items()}
    Dn, Ln = norm(dense) if dense else {}, norm(dict(q["lexical"])) if q["lexical"] else {}
    return [(d, (1 - alpha) * Dn.get(d, 0) + alpha * Ln.get(d, 0)) for d in set(Dn) | set(Ln)]


def engine(q, lam, tau, depth=40, join="max", wq=1.0):
    """What fuse.rs does (join="max"), or a weighted sum of the dense views."""
    q = cut(q, depth)
    A, Q, L = dict(q["answers"]), dict(q["questions"]), dict(q["lexical"])
    top = max(L.values()) if L else 0.0
    a_floor = min(A.values()) if A else 0.0
    q_floor = min(Q.values()) if Q else 0.0
    w = lam * min(1.0, top / tau) if top > 0 else 0.0
    out = []
    for d in set(A) | set(Q) | set(L):
        a = A.get(d, a_floor)
        if Q:
            qq = Q.get(d, q_floor)
            dense = max(a, qq) if join == "max" else (a + wq * qq) / (1 + wq)
        else:
            dense = a
        out.append((d, dense + w * (L.get(d, 0.0) / top if top > 0 else 0.0)))
    return out


def row(label, fuse, sets, dumps):
    print(f"{label:<34}" + "".join(f"{mean(s, fuse, dumps):>15.4f}" for s in sets))


def main():
    dumps = Path(sys.argv[1] if len(sys.argv) > 1 else "dumps")
    print(f"{'BEIR sets':<34}" + "".join(f"{s:>15}" for s in BEIR))
    row("answers view", lambda q: q["answers"], BEIR, dumps)
    row("lexical arm", lambda q: q["lexical"], BEIR, dumps)
    row("RRF k=60", rrf, BEIR, dumps)
    for alpha in (0.1, 0.2, 0.3):
        row(f"min-max linear a={alpha}", lambda q: minmax(q, alpha), BEIR, dumps)
    for lam in (0.1, 0.15, 0.2, 0.25, 0.3):
        for tau in (10, 15, 20, 25, 30):
            row(f"cosine + {lam}*min(1,top/{tau})", lambda q: engine(q, lam, tau), BEIR, dumps)
    for depth in (30, 40, 50):
        row(f"engine 0.2/20, {depth} deep", lambda q: engine(q, 0.2, 20, depth), BEIR, dumps)
    print(f"\n{'sets with stored questions':<34}" + "".join(f"{s:>15}" for s in FAQ))
    row("questions view", lambda q: q["questions"], FAQ, dumps)
    for lam in (0.0, 0.1, 0.2):
        row(f"max join, lexical {lam}", lambda q: engine(q, lam, 20), FAQ, dumps)
        for wq in (1.0, 2.0):
            row(f"sum 1:{wq:g} join, lexical {lam}", lambda q: engine(q, lam, 20, join="sum", wq=wq), FAQ, dumps)


if __name__ == "__main__":
    main()
