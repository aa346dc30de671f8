"""Prints the quality table of gate.sh: engine nDCG@10 per set and
configuration, the delta against the first configuration, and the gate
verdict (mean delta >= -0.002 and no set below -0.01).

  gate.py WORK CONFIG [CONFIG ...]
"""

import json
import os
import sys

MEAN_FLOOR, SET_FLOOR = -0.002, -0.01


def main(work, configs):
    base = configs[0]
    sets = sorted(f[:-5] for f in os.listdir(os.path.join(work, base)) if f.endswith(".json"))
    score, abst = {}, {}
    for c in configs:
        for s in sets:
            with open(os.path.join(work, c, s + ".json")) as f:
                r = json.load(f)
            score[c, s] = r["systems"]["engine"]["ndcg@10"]
            a = r["abstention"]
            abst[c, s] = f"{a['related_answered'] * 100:.1f}% / {a['unrelated_abstained'] * 100:.1f}% (at {a['min_score']:.3f})"
    print("| set | " + " | ".join(configs) + " |")
    print("|---|" + "---|" * len(configs))
    for s in sets:
        cells = [f"{score[base, s]:.4f}"]
        for c in configs[1:]:
            cells.append(f"{score[c, s]:.4f} ({score[c, s] - score[base, s]:+.4f})")
        print(f"| {s} | " + " | ".join(cells) + " |")
    verdicts = []
    for c in configs[1:]:
        deltas = [score[c, s] - score[base, s] for s in sets]
        mean, worst = sum(deltas) / len(deltas), min(deltas)
        ok = mean >= MEAN_FLOOR and worst >= SET_FLOOR
        verdicts.append(f"{mean:+.4f} / {worst:+.4f} {'PASS' if ok else 'FAIL'}")
    print("| mean / worst delta, gate | baseline | " + " | ".join(verdicts) + " |")
    print()
    print("Abstention: related questions answered / unrelated ones abstained (threshold)")
    print()
    print("| set | " + " | ".join(configs) + " |")
    print("|---|" + "---|" * len(configs))
    for s in sets:
        print(f"| {s} | " + " | ".join(abst[c, s] for c in configs) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
