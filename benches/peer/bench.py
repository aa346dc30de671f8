"""qasearch beside the Python FastEmbed + numpy pipeline, on the same corpus,
model file and threads, in one run, alternating. Run by run.sh.

  bench.py --qasearch BIN --models DIR --datasets DIR --work DIR
           [--size 6000] [--rounds 2] [--cold 10] [--threads 2]
           [--corpora one,multi,stackfaq] [--qasearch-models minilm-int8,minilm]
           [--large 100000]

For each corpus (one-sentence answers, seed-like answers of 3-4 sentences,
StackFAQ) prints a table (and writes WORK/results.json): indexing throughput
(whole job, sentences/s and Q&A pairs/s), warm query latency (p50/p95), cold
`ask` as a whole process (wall, peak RSS), for each qasearch model beside the
peer running the same model file, with ratios; then, for --large, qasearch
alone at that size (indexing time and peak RSS, index size on disk, warm
queries, HNSW recall@10 against exact search, cold `ask`).
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


def measure_corpus(a, name, data, sentences, questions, env, models, onnx):
    """Indexing, warm queries and cold asks of one corpus: for each qasearch
    model, qasearch and the peer with the same model file, alternating.
    Returns the table rows."""
    py = sys.executable
    peer = os.path.join(HERE, "peer.py")
    work = os.path.dirname(sentences)
    one_question = open(questions, encoding="utf-8").readline().strip()
    q = lambda model, *rest: [a.qasearch, "-q", "--model", model, "--data", data,
                              "--index", os.path.join(work, f"index-{model}"), *rest]
    npy = lambda model: os.path.join(work, f"peer-{model}.npy")
    systems = [s for m in models for s in (f"peer:{m}", m)]
    pairs = None

    # Indexing (the whole process, as the user runs it), alternating.
    idx = {s: [] for s in systems}
    for r in range(a.rounds):
        for model in models:
            out, wall, _ = run([py, peer, "index", onnx[model], sentences, npy(model), str(a.threads)])
            idx[f"peer:{model}"].append(dict(json.loads(out), wall=wall))
            out, wall, _ = run(q(model, "index", "--full", "--json"), env=env)
            idx[model].append(dict(json.loads(out), wall=wall))
            pairs = idx[model][-1]["qa_pairs"]
        print(f"{name}, indexing round {r + 1}: " + ", ".join(
            f"{s} {x[-1]['wall']:.1f} s" for s, x in idx.items()), file=sys.stderr)

    # Warm queries, alternating.
    warm = {s: [] for s in systems}
    for r in range(a.rounds):
        for model in models:
            out, _, _ = run([py, peer, "query", onnx[model], npy(model), questions, str(a.threads)])
            warm[f"peer:{model}"].append(json.loads(out))
            out, _, _ = run([a.query_bench, os.path.join(work, f"index-{model}"), questions, "--model", model], env=env)
            # What `ask` does: every view, fusion, abstention.
            warm[model].append(next(l for l in last_json(out) if l["what"].startswith("engine")))

    # Cold ask as a whole process, alternating.
    cold = {s: [] for s in systems}
    for _ in range(a.cold):
        for model in models:
            cold[f"peer:{model}"].append(run_measured([py, peer, "ask", onnx[model], npy(model), one_question, str(a.threads)]))
            cold[model].append(run_measured(q(model, "ask", "--no-update", "-k", "10", one_question), env=env))

    med = statistics.median
    wall = {s: med(x["wall"] for x in idx[s]) for s in systems}
    count = {s: idx[s][0]["sentences"] for s in systems}
    embed_rate = {s: med(x["sentences_per_second"] if s.startswith("peer:") else x["embedded_per_second"]
                         for x in idx[s]) for s in systems}
    rows = [
        # (label, value per system, how the ratio is taken)
        ("answer sentences", count, None),
        ("indexing, answer sentences/s (whole job)", {s: count[s] / wall[s] for s in systems}, "time"),
        ("indexing, Q&A pairs/s (whole job)", {s: pairs / wall[s] for s in systems}, "time"),
        ("indexing, whole job, s", wall, "lower"),
        ("indexing, texts embedded/s (model only)", embed_rate, "higher"),
        ("warm query p50, ms", {s: med(x["p50_ms"] for x in warm[s]) for s in systems}, "lower"),
        ("warm query p95, ms", {s: med(x["p95_ms"] for x in warm[s]) for s in systems}, "lower"),
        ("cold ask, wall ms", {s: med(w for w, _ in cold[s]) * 1000 for s in systems}, "lower"),
        ("cold ask, peak RSS MB", {s: max(r for _, r in cold[s]) for s in systems}, "lower"),
    ]
    print(f"\n{name}: {pairs} Q&A pairs; {a.threads} threads, {a.rounds} rounds (indexing, warm), "
          f"{a.cold} cold runs each; medians")
    print(f"{'measure':42}" + "".join(f" {('peer ' + m):>18} {('qasearch ' + m):>20} {'ratio':>7}" for m in models))
    table = []
    for label, v, how in rows:
        line = f"{label:42}"
        entry = {"measure": label}
        for m in models:
            p, d = v[f"peer:{m}"], v[m]
            if how == "time":  # same corpus and job: the ratio of wall times
                ratio = wall[f"peer:{m}"] / wall[m]
            elif how == "higher":
                ratio = d / p
            elif how == "lower":
                ratio = p / d
            else:
                ratio = None
            line += f" {p:18.1f} {d:20.1f} " + (f"{ratio:6.2f}x" if ratio else f"{'':7}")
            entry[f"peer:{m}"], entry[m], entry["ratio_" + m] = p, d, ratio
        print(line)
        table.append(entry)
    print("(ratio: how many times better qasearch is, >1 is better; whole-job ratios are the peer's wall time over "
          "qasearch's, for the same corpus; each side counts sentences with its own splitter)")
    return table


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
    ap.add_argument("--corpora", default="one,multi,stackfaq")
    ap.add_argument("--qasearch-models", default="minilm-int8,minilm")
    a = ap.parse_args()
    py = sys.executable
    env = dict(os.environ, QASEARCH_THREADS=str(a.threads), QASEARCH_MODELS=a.models, NO_COLOR="1")
    env.pop("QASEARCH_MODEL", None)
    models = a.qasearch_models.split(",")
    # Each model's ONNX file (fetched and verified by qasearch): the peer uses the same.
    onnx = {}
    for m in models:
        out, _, _ = run([a.qasearch, "-q", "--model", m, "model", "--json"], env=env)
        onnx[m] = json.loads(out)["onnx"]
    results = {"size": a.size, "threads": a.threads, "corpora": {}}
    one_question = None
    for corpus in a.corpora.split(","):
        if corpus in ("one", "multi"):
            work = os.path.join(a.work, f"c{a.size}-{corpus}")
            if not os.path.isdir(os.path.join(work, "data")):
                run([py, os.path.join(HERE, "corpus.py"), a.datasets, str(a.size), work, corpus])
            data = os.path.join(work, "data")
            name = (f"one-sentence answers ({a.size} sentences)" if corpus == "one"
                    else f"answers of 3-4 sentences, seed-like ({a.size} sentences)")
        elif corpus == "stackfaq":
            work = os.path.join(a.work, "stackfaq")
            data = os.path.join(a.datasets, "stackfaq-dev", "data")
            if not os.path.isfile(os.path.join(work, "sentences.txt")):
                run([py, os.path.join(HERE, "faq.py"), data,
                     os.path.join(a.datasets, "stackfaq-dev", "questions.tsv"), work])
            name = "StackFAQ (stackfaq-dev/data, answers of 1-20+ sentences)"
        else:
            sys.exit(f"unknown corpus {corpus!r} (one, multi, stackfaq)")
        sentences, questions = os.path.join(work, "sentences.txt"), os.path.join(work, "questions.txt")
        one_question = one_question or open(questions, encoding="utf-8").readline().strip()
        results["corpora"][corpus] = measure_corpus(a, name, data, sentences, questions, env, models, onnx)
    med = statistics.median

    if a.large:
        big = os.path.join(a.work, f"c{a.large}")
        if not os.path.isdir(os.path.join(big, "data")):
            run([py, os.path.join(HERE, "corpus.py"), a.datasets, str(a.large), big])
        model = models[0]
        index = os.path.join(big, f"index-{model}")
        bq = lambda *rest: [a.qasearch, "-q", "--model", model, "--data", os.path.join(big, "data"),
                            "--index", index, *rest]
        summary = os.path.join(big, "index.json")
        with open(summary, "w") as f:
            t = time.perf_counter()
            p = subprocess.Popen(bq("index", "--full", "--json"), stdout=f, stderr=subprocess.DEVNULL, env=env)
            _, status, usage = os.wait4(p.pid, 0)
            secs = time.perf_counter() - t
        if status != 0:
            sys.exit(f"indexing {big} failed")
        built = json.load(open(summary))
        index_rss = usage.ru_maxrss / 1024
        gen = built["index"]
        disk = {n: os.path.getsize(os.path.join(gen, n)) for n in os.listdir(gen)}
        out, _, _ = run([a.query_bench, index, os.path.join(big, "questions.txt"), "--model", model], env=env)
        lines = last_json(out)
        colds = [run_measured(bq("ask", "--no-update", "-k", "10", one_question), env=env) for _ in range(a.cold)]
        print(f"\nqasearch alone at {a.large} answer sentences ({model} model; {built['vectors']} vectors; "
              f"whole index job {secs:.0f} s, peak RSS {index_rss:.0f} MB)")
        print("index on disk: " + ", ".join(f"{n} {b / 1e6:.1f} MB" for n, b in sorted(disk.items()))
              + f"; total {sum(disk.values()) / 1e6:.1f} MB")
        w = next(l for l in lines if l["what"].startswith("engine"))
        print(f"warm query (what ask does: embed, every view, fusion): p50 {w['p50_ms']:.2f} ms, p95 {w['p95_ms']:.2f} ms")
        for l in lines:
            if l["what"] == "hnsw top 10":
                print(f"HNSW ef {l['ef']:3}: recall@10 {l['recall@10']:.4f} vs exact, {l['mean_ms']:.3f} ms mean, p95 {l['p95_ms']:.3f} ms")
            elif l["what"] == "exact top 10":
                print(f"exact top 10: p50 {l['p50_ms']:.2f} ms, p95 {l['p95_ms']:.2f} ms")
        print(f"cold ask: {med(x for x, _ in colds) * 1000:.0f} ms wall (median), {max(r for _, r in colds):.0f} MB peak RSS")
        results["large"] = {"size": a.large, "model": model, "index_seconds": secs, "index_rss_mb": index_rss,
                            "disk_bytes": disk, "warm": w, "hnsw": lines,
                            "cold_ms": med(x for x, _ in colds) * 1000, "cold_rss_mb": max(r for _, r in colds)}
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
