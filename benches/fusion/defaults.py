#!/usr/bin/env python3
"""The lexical arm's weight and saturation for one model, from every shared set.

Each model's cosines have their own scale (MiniLM's spread over 0..1, e5's
sit in a narrow band near 0.8), so the lexical arm's weight is chosen per
model (`model::ScoreDefaults`). Dump each set's candidates with that model
(`QASEARCH_EVAL_DUMP=DUMPS/<set>.jsonl qasearch --model M eval ...`, the
commands in grid.py), then

    python3 benches/fusion/defaults.py DUMPS

prints nDCG@10 of fuse.rs's formula for each weight and saturation on every
set with a dump and their mean. Then, for every set that also has a dump of
questions about nothing in it (`DUMPS/<set>-unrelated.jsonl`: eval with
`--questions` of such questions, each paired with any document), the share
of related questions answered / unrelated ones abstained at each threshold,
with the weight and saturation given (`--weight W --saturation S`, default
the best mean).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from grid import engine, ndcg  # noqa: E402
import json  # noqa: E402

SETS = ["xquad-en", "wikiqa-dev", "xquad-de-para", "stackfaq-beir", "stackfaq-qa", "seed"]


def load(dumps, name):
    path = dumps / f"{name}.jsonl"
    if not path.exists():
        return None
    qs = [json.loads(l) for l in open(path)]
    return [q for q in qs if not q["id"].startswith("corpus-")]


def main():
    dumps = Path(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "dumps")
    sets = {s: q for s in SETS if (q := load(dumps, s))}
    print(f"{'weight/saturation':<20}" + "".join(f"{s:>15}" for s in sets) + f"{'mean':>10}")
    rows = []
    for lam in (0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2):
        for tau in (10, 20, 30) if lam else (20,):
            scores = [sum(ndcg(engine(q, lam, tau), q["qrels"]) for q in qs) / len(qs) for qs in sets.values()]
            mean = sum(scores) / len(scores)
            rows.append(((lam, tau), scores, mean))
            print(f"{lam:<8}{tau:<12}" + "".join(f"{s:>15.4f}" for s in scores) + f"{mean:>10.4f}")
    best = max(rows, key=lambda r: r[2])
    print(f"best mean: weight {best[0][0]}, saturation {best[0][1]}: {best[2]:.4f}")
    lam = float(arg("--weight", best[0][0]))
    tau = float(arg("--saturation", best[0][1]))
    for name, qs in sets.items():
        path = dumps / f"{name}-unrelated.jsonl"
        if not path.exists():
            continue
        top = lambda q: max((s for _, s in engine(q, lam, tau)), default=0.0)
        rel = [top(q) for q in qs]
        unr = [top(json.loads(l)) for l in open(path)]
        print(f"\n{name}, weight {lam}, saturation {tau}: related answered / unrelated abstained")
        for t in (0.80, 0.82, 0.83, 0.84, 0.85, 0.86, 0.87, 0.88, 0.90):
            ans = sum(x >= t for x in rel) / len(rel)
            abst = sum(x < t for x in unr) / len(unr)
            print(f"  {t:.2f}: {ans:6.1%} / {abst:6.1%}")


def arg(flag, default):
    return sys.argv[sys.argv.index(flag) + 1] if flag in sys.argv else default


if __name__ == "__main__":
    main()
