#!/usr/bin/env bash
# Query and index speed of two builds, alternating (A, B, A, B, ...), so that
# a machine's drift falls on both: what "within noise" rests on when a change
# must not change speed.
#
#   benches/alternate.sh DIR_A DIR_B [ROUNDS]
#
# Each DIR holds the `query-*` and `index-*` bench executables of one build
# (`cargo bench --no-run` prints them; copy them out of target/release/deps
# before building the other). Runs the `query` bench on the cached xquad-en
# and wikiqa-dev indexes of benches/quality/gate.sh (.cache/quality/cache)
# with their first 400 queries, and the criterion `index` bench. Writes
# .cache/alternate/<A|B>-<bench>-<round> and prints medians and B/A ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 rounds=${3:-3}
datasets=${QASEARCH_BENCH_DATASETS:-../shared/datasets}
cache=${QASEARCH_BENCH_WORK:-.cache/quality}/cache/eval
out=.cache/alternate
rm -rf "$out" && mkdir -p "$out"
index_of() { ls -d "$cache/$1"-*-minilm-in-context | head -1; }
for set in xquad-en wikiqa-dev; do
  python3 -c 'import json,sys; print("\n".join(json.loads(l)["text"].replace("\n"," ") for l in list(open(sys.argv[1]))[:400]))' \
    "$datasets/$set/queries.jsonl" >"$out/$set.questions"
done
for i in $(seq "$rounds"); do
  for side in A B; do
    dir=$a; [ "$side" = B ] && dir=$b
    for set in xquad-en wikiqa-dev; do
      "$dir"/query-* "$(index_of "$set")" "$out/$set.questions" >"$out/$side-query-$set-$i" 2>/dev/null
    done
    "$dir"/index-* --bench >"$out/$side-index-$i" 2>&1
  done
done
python3 - "$out" "$rounds" <<'PY'
import json, re, statistics as st, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def query(path):
    d = {}
    for r in (json.loads(l) for l in open(path) if l.startswith("{")):
        if r["what"].startswith("dense"): d["dense p50"], d["dense p95"] = r["p50_ms"], r["p95_ms"]
        elif r["what"].startswith("engine"): d["engine p50"], d["engine p95"] = r["p50_ms"], r["p95_ms"]
        elif r["what"] == "hnsw top 10" and r["ef"] == 128: d["hnsw ef128 p50"] = r["p50_ms"]
        elif r["what"].startswith("exact"): d["exact p50"] = r["p50_ms"]
    return d
def index(path):
    t = re.findall(r"time:\s+\[[\d.]+ \S+ ([\d.]+) (ms|µs)", open(path).read())
    ms = [float(v) * (1 if u == "ms" else 1e-3) for v, u in t]
    return {"full build": ms[0], "unchanged build": ms[1]}
for name, read, kind in [("query xquad-en", query, "query-xquad-en"), ("query wikiqa-dev", query, "query-wikiqa-dev"), ("index bundled data", index, "index")]:
    runs = {s: [read(f"{out}/{s}-{kind}-{i}") for i in range(1, rounds + 1)] for s in "AB"}
    print(f"\n{name} (ms)\n| figure | A rounds | B rounds | B/A medians |\n|---|---|---|---|")
    for k in runs["A"][0]:
        a, b = [r[k] for r in runs["A"]], [r[k] for r in runs["B"]]
        print(f"| {k} | {', '.join(f'{x:.3g}' for x in a)} | {', '.join(f'{x:.3g}' for x in b)} | {st.median(b)/st.median(a):.3f} |")
PY
