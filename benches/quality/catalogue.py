"""Writes models/catalogue.json: each model's measured quality on every
shared set (engine and dense nDCG@10), from a gate.sh run.

  python3 benches/quality/catalogue.py WORK MODEL:ANSWER_VECTORS [...] > models/catalogue.json

`qasearch model list` shows these figures beside each model.
"""

import datetime
import json
import os
import sys


def main(work, configs):
    try:
        with open(os.path.join(os.path.dirname(__file__), "../../models/catalogue.json")) as fh:
            previous = json.load(fh)
    except (OSError, ValueError):
        previous = {}
    out = {
        "measured": datetime.date.today().isoformat(),
        "command": "benches/quality/gate.sh " + " ".join(configs),
        "metric": "nDCG@10 (engine: every view fused; dense: answer sentences alone); answered: share of the set's questions answered; unrelated_abstained: share of unrelated questions (gate.sh) with no confident answer",
        "models": {},
    }
    for config in configs:
        model, vectors = config.split(":", 1)
        sets = {}
        folder = os.path.join(work, config)
        for f in sorted(os.listdir(folder)):
            if not f.endswith(".json"):
                continue
            with open(os.path.join(folder, f)) as fh:
                r = json.load(fh)
            a = r["abstention"]
            sets[f[:-5]] = {
                "engine": round(r["systems"]["engine"]["ndcg@10"], 4),
                "dense": round(r["systems"]["dense"]["ndcg@10"], 4),
                "answered": round(a["related_answered"], 4),
                "unrelated_abstained": round(a["unrelated_abstained"], 4),
            }
        out["models"][model] = {"answer_vectors": vectors, "sets": sets}
        # A preset's cost (benches/quality/speed.sh) is written by hand: kept.
        cost = previous.get("models", {}).get(model, {}).get("cost")
        if cost:
            out["models"][model]["cost"] = cost
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
