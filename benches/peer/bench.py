"""qasearch beside the Python FastEmbed + numpy pipeline, on the same corpus,
model file and threads, in one run, alternating. Run by run.sh.

  bench.py --qasearch BIN --models DIR --datasets DIR --work DIR
           [--size 6000] [--rounds 2] [--cold 10] [--threads 2] [--large 100000]

Prints a table (and writes WORK/results.json): indexing throughput, warm
query latency (p50/p95), cold `ask` as a whole process (wall, peak RSS), each
with the ratio to the Python peer; then, for --large, qasearch alone at that
size (warm queries, HNSW recall@10 against exact search, cold `ask`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env=None):
    """Runs a command to completion; returns (stdout, wall seconds, None)."""
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, env=env, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return p.stdout, time.perf_counter() - t, None


def run_measured(cmd, env=None):
    """Wall time and peak RSS (MB) of one whole process (os.wait4 gives its own rusage)."""
    import tempfile

    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        if status != 0:
            err.seek(0)
            sys.exit(f"failed: {' '.join(cmd)}\n{err.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def last_json(text):
    return [json.loads(l) for l in text.splitlines() if l.startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qasearch", required=True)
    ap.add_argument("--query-bench", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--datasets", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--size", type=int, default=6000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cold", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--large", type=int, default=0)
    a = ap.parse_args()
    py = sys.executable
    peer = os.path.join(HERE, "peer.py")
    fetched = os.path.join(a.models, "fetched")
    env = dict(os.environ, QASEARCH_THREADS=str(a.threads), QASEARCH_MODELS=a.models, NO_COLOR="1")
    env.pop("QASEARCH_MODEL", None)

    work = os.path.join(a.work, f"c{a.size}")
    if not os.path.isdir(os.path.join(work, "data")):
        run([py, os.path.join(HERE, "corpus.py"), a.datasets, str(a.size), work])
    data, sentences, questions = (os.path.join(work, x) for x in ("data", "sentences.txt", "questions.txt"))
    one_question = open(questions, encoding="utf-8").readline().strip()
    q = lambda model, *rest: [a.qasearch, "-q", "--model", model, "--data", data,
                              "--index", os.path.join(work, f"index-{model}"), *rest]

    # Indexing, alternating.
    idx = {"peer": [], "default": [], "fast": []}
    for r in range(a.rounds):
        out, _, _ = run([py, peer, "index", fetched, sentences, os.path.join(work, "peer.npy"), str(a.threads)])
        idx["peer"].append(json.loads(out))
        for model in ("default", "fast"):
            out, _, _ = run(q(model, "index", "--full", "--json"), env=env)
            idx[model].append(json.loads(out))
        print(f"indexing round {r + 1}: peer {idx['peer'][-1]['sentences_per_second']:.0f}/s, "
              f"default {idx['default'][-1]['sentences_per_second']:.0f}/s, "
              f"fast {idx['fast'][-1]['sentences_per_second']:.0f}/s", file=sys.stderr)

    # Warm queries, alternating.
    warm = {"peer": [], "default": [], "fast": []}
    for r in range(a.rounds):
        out, _, _ = run([py, peer, "query", fetched, os.path.join(work, "peer.npy"), questions, str(a.threads)])
        warm["peer"].append(json.loads(out))
        for model in ("default", "fast"):
            out, _, _ = run([a.query_bench, os.path.join(work, f"index-{model}"), questions, "--model", model], env=env)
            warm[model].append(last_json(out)[0])

    # Cold ask as a whole process, alternating.
    cold = {"peer": [], "default": [], "fast": []}
    for _ in range(a.cold):
        cold["peer"].append(run_measured([py, peer, "ask", fetched, os.path.join(work, "peer.npy"), one_question, str(a.threads)]))
        for model in ("default", "fast"):
            cold[model].append(run_measured(q(model, "ask", "--no-update", "-k", "10", one_question), env=env))

    med = statistics.median
    rows = []
    peer_idx = med(x["sentences_per_second"] for x in idx["peer"])
    peer_whole = med(x["sentences"] / x["seconds"] for x in idx["peer"])
    rows.append(("indexing, sentences/s (embedding)", peer_idx,
                 *(med(x["embedded_per_second"] for x in idx[m]) for m in ("default", "fast")), "higher"))
    rows.append(("indexing, sentences/s (whole job)", peer_whole,
                 *(med(x["sentences_per_second"] for x in idx[m]) for m in ("default", "fast")), "higher"))
    for key, label in (("p50_ms", "warm query p50, ms"), ("p95_ms", "warm query p95, ms")):
        rows.append((label, med(x[key] for x in warm["peer"]),
                     *(med(x[key] for x in warm[m]) for m in ("default", "fast")), "lower"))
    rows.append(("cold ask, wall ms", med(w for w, _ in cold["peer"]) * 1000,
                 *(med(w for w, _ in cold[m]) * 1000 for m in ("default", "fast")), "lower"))
    rows.append(("cold ask, peak RSS MB", max(r for _, r in cold["peer"]),
                 *(max(r for _, r in cold[m]) for m in ("default", "fast")), "lower"))

    print(f"\n{a.size} answer sentences, {a.threads} threads, {a.rounds} rounds (indexing, warm), {a.cold} cold runs each; medians")
    print(f"{'measure':38} {'python peer':>12} {'qasearch':>10} {'ratio':>7} {'qasearch fast':>14} {'ratio':>7}")
    results = {"size": a.size, "threads": a.threads, "rows": []}
    for label, p, d, f, better in rows:
        ratio = (lambda x: x / p) if better == "higher" else (lambda x: p / x)
        print(f"{label:38} {p:12.1f} {d:10.1f} {ratio(d):6.2f}x {f:14.1f} {ratio(f):6.2f}x")
        results["rows"].append({"measure": label, "peer": p, "default": d, "fast": f,
                                "ratio_default": ratio(d), "ratio_fast": ratio(f)})
    print("(ratio: how many times better qasearch is; >1 is better)")

    if a.large:
        big = os.path.join(a.work, f"c{a.large}")
        if not os.path.isdir(os.path.join(big, "data")):
            run([py, os.path.join(HERE, "corpus.py"), a.datasets, str(a.large), big])
        bq = lambda *rest: [a.qasearch, "-q", "--model", "fast", "--data", os.path.join(big, "data"),
                            "--index", os.path.join(big, "index-fast"), *rest]
        out, secs, _ = run(bq("index", "--json"), env=env)
        built = json.loads(out)
        out, _, _ = run([a.query_bench, os.path.join(big, "index-fast"), os.path.join(big, "questions.txt"), "--model", "fast"], env=env)
        lines = last_json(out)
        colds = [run_measured(bq("ask", "--no-update", "-k", "10", one_question), env=env) for _ in range(a.cold)]
        print(f"\nqasearch alone at {a.large} answer sentences (fast model; index {built['graph']}, {built['seconds']:.0f} s this run)")
        w = lines[0]
        print(f"warm query (embed + HNSW ef {w['ef']} + group): p50 {w['p50_ms']:.2f} ms, p95 {w['p95_ms']:.2f} ms")
        for l in lines[1:]:
            if l["what"] == "hnsw top 10":
                print(f"HNSW ef {l['ef']:3}: recall@10 {l['recall@10']:.4f} vs exact, {l['mean_ms']:.3f} ms mean, p95 {l['p95_ms']:.3f} ms")
            else:
                print(f"exact top 10: p50 {l['p50_ms']:.2f} ms, p95 {l['p95_ms']:.2f} ms")
        print(f"cold ask: {med(x for x, _ in colds) * 1000:.0f} ms wall (median), {max(r for _, r in colds):.0f} MB peak RSS")
        results["large"] = {"size": a.large, "warm": w, "hnsw": lines[1:],
                            "cold_ms": med(x for x, _ in colds) * 1000, "cold_rss_mb": max(r for _, r in colds)}
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
