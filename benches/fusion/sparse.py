#!/usr/bin/env python3
"""The sparse arm's fusion: a fixed weight against one scaled by the arm's
lead, on every shared set's candidates.

The numbers behind docs/search.md, "The sparse arm". First dump every view's
candidates of indexes built with the arm:

    QASEARCH_BENCH_DUMP=1 benches/quality/gate.sh minilm:in-context minilm:in-context:sparse

then `python3 benches/fusion/sparse.py .cache/quality/minilm:in-context:sparse`.
It reruns fusion as src/search/fuse.rs does (the best dense view, the lexical
arm at weight 0.2 saturating at BM25 20, the sparse arm by its share of the
best sparse score) for each form and weight, and prints nDCG@10 per set with
the change against no sparse arm. The dumps hold no passage view: the seed
(whose passage questions need it) is left to gate.sh. StackFAQ Q&A is rerun
at the default lexical weight here; its index fits its own.
"""
import json
import math
import os
import sys

SETS = ["stackfaq-dev-beir", "stackfaq-dev-qa", "wikiqa-dev", "xquad-de-para", "xquad-en"]
DEPTH = 40


def ndcg(ranked, qrels):
    rel = {k for k, v in qrels.items() if v > 0}
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in rel)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(10, len(rel))))
    return dcg / idcg if idcg else 0.0


def fuse(q, sw, lead=None, lw=0.2, sat=20.0):
    """Pairs best first; `lead` None: a fixed sparse weight."""
    A, Q, L = q["answers"][:DEPTH], (q.get("questions") or [])[:DEPTH], q["lexical"][:DEPTH]
    S = (q.get("sparse") or [])[:DEPTH]
    a_floor = min((s for _, s in A), default=None)
    q_floor = min((s for _, s in Q), default=None)
    top = max(L[0][1], 0) if L else 0
    w = lw * min(1, top / sat) if top > 0 else 0
    s_top = max(S[0][1], 0) if S else 0
    s_w = sw
    if lead is not None and S:
        second = S[1][1] if len(S) > 1 else 0
        s_w = sw * min(1, (S[0][1] - second) / max(s_top, 1e-6) / lead)
    a, qq, l, sp = dict(A), dict(Q), dict(L), dict(S)
    scored = []
    for d in set(a) | set(qq) | set(l) | set(sp):
        views = [x for x in (a.get(d, a_floor), qq.get(d, q_floor)) if x is not None]
        dense = max(views) if views else 0
        score = dense + w * (l.get(d, 0) / top if top > 0 else 0)
        score += s_w * (sp.get(d, 0) / s_top if s_top > 0 else 0)
        scored.append((-score, d))
    scored.sort()
    return [d for _, d in scored]


def main(work):
    data = {}
    for s in SETS:
        path = os.path.join(work, s + ".dump.jsonl")
        if os.path.exists(path):
            with open(path) as f:
                data[s] = [json.loads(line) for line in f]
    sets = list(data)

    def run(**kw):
        return {s: sum(ndcg(fuse(q, **kw), q["qrels"]) for q in data[s]) / len(data[s]) for s in sets}

    base = run(sw=0.0)
    print("| form | " + " | ".join(sets) + " | worst |")
    print("|---|" + "---|" * (len(sets) + 1))
    print("| no sparse arm | " + " | ".join(f"{base[s]:.4f}" for s in sets) + " | |")
    rows = [(f"fixed {sw}", dict(sw=sw)) for sw in (0.05, 0.1, 0.15)]
    rows += [(f"lead {sw}, full at {k}", dict(sw=sw, lead=k)) for sw in (0.08, 0.1, 0.12) for k in (0.15, 0.2, 0.3, 0.4)]
    for name, kw in rows:
        r = run(**kw)
        worst = min(r[s] - base[s] for s in sets)
        print(f"| {name} | " + " | ".join(f"{r[s]:.4f} ({r[s] - base[s]:+.4f})" for s in sets) + f" | {worst:+.4f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
