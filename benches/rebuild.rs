//! Full build versus rebuild after a small change, on a synthetic corpus of
//! more than 10,000 answer sentences. Not criterion: one full build takes
//! about a minute, so each case runs once (use `--repeat N` for more).
//!
//! ```sh
//! cargo bench --bench rebuild                # corpus from ../shared/datasets
//! QASEARCH_BENCH_DATASETS=DIR cargo bench --bench rebuild
//! ```
//!
//! The corpus: every corpus sentence of the BEIR sets under the datasets
//! folder, each in three variants (as is, and after two different lead-ins,
//! so every variant is a distinct text to embed), grouped four sentences to an
//! answer and three Q&A pairs to a `.txt` document.

use std::path::{Path, PathBuf};
use std::time::Instant;

use qasearch::indexer::{self, IndexConfig, IndexSummary};
use qasearch::progress::NoProgress;

mod common;

const LEAD_INS: [&str; 3] = ["", "Reportedly, ", "According to the archive, "];

fn sentences(datasets: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(datasets)
        .unwrap_or_else(|e| panic!("{}: {e}", datasets.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("corpus.jsonl").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let text = std::fs::read_to_string(dir.join("corpus.jsonl")).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let s = v["text"].as_str().unwrap_or("").trim().replace('\n', " ");
            if !s.is_empty() && s.ends_with('.') {
                out.push(s);
            }
        }
    }
    out
}

fn write_corpus(dir: &Path, base: &[String]) -> usize {
    let mut all = Vec::new();
    for lead in LEAD_INS {
        all.extend(base.iter().map(|s| format!("{lead}{s}")));
    }
    let docs = all.chunks(12);
    let mut n = 0;
    for (d, chunk) in docs.enumerate() {
        let mut text = format!("Synthetic document {d} for the rebuild benchmark.\n");
        for (p, answer) in chunk.chunks(4).enumerate() {
            text.push_str(&format!(
                "What does record {d}-{p} say?\n{}\n",
                answer.join(" ")
            ));
        }
        std::fs::write(dir.join(format!("doc{d:05}.txt")), text).unwrap();
        n += 1;
    }
    n
}

fn timed(
    data: &Path,
    index: &Path,
    embedder: &mut qasearch::model::embed::OnnxEmbedder,
    full: bool,
) -> (f64, IndexSummary) {
    let config = IndexConfig {
        full,
        ..IndexConfig::default()
    };
    let t = Instant::now();
    let (s, _) = indexer::build(data, index, embedder, &config, &mut NoProgress).unwrap();
    (t.elapsed().as_secs_f64(), s)
}

fn main() {
    // `cargo bench` passes `--bench`; ignore flags we do not know.
    let args: Vec<String> = std::env::args().collect();
    let repeat = args
        .iter()
        .position(|a| a == "--repeat")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize);
    let datasets = std::env::var_os("QASEARCH_BENCH_DATASETS")
        .map_or_else(|| common::repo().join("../shared/datasets"), PathBuf::from);
    if !datasets.is_dir() {
        eprintln!(
            "rebuild bench: no datasets folder at {} (set QASEARCH_BENCH_DATASETS)",
            datasets.display()
        );
        return;
    }
    let base = sentences(&datasets);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let index = tmp.path().join("index");
    std::fs::create_dir(&data).unwrap();
    let docs = write_corpus(&data, &base);
    let mut embedder = common::embedder(qasearch::model::embed::Workload::Bulk);
    println!(
        "corpus: {docs} documents from {} base sentences in {}",
        base.len(),
        datasets.display()
    );
    let mut rows: Vec<(String, f64, IndexSummary)> = Vec::new();
    for round in 0..repeat {
        let (t, s) = timed(&data, &index, &mut embedder, true);
        rows.push((format!("full build #{}", round + 1), t, s));
        // Change one document: one answer sentence replaced.
        let victim = data.join(format!("doc{:05}.txt", docs / 2));
        let text = std::fs::read_to_string(&victim).unwrap();
        let changed = text.replacen(
            "?\n",
            &format!("?\nThe benchmark changed this answer in round {round}. "),
            1,
        );
        std::fs::write(&victim, changed).unwrap();
        let (t, s) = timed(&data, &index, &mut embedder, false);
        rows.push(("rebuild after changing 1 document".into(), t, s));
        // Add one, remove one.
        std::fs::write(
            data.join(format!("added{round}.txt")),
            "Added passage.\nWhat was added?\nA new document arrived. It has two sentences.\n",
        )
        .unwrap();
        std::fs::remove_file(data.join(format!("doc{:05}.txt", round))).unwrap();
        let (t, s) = timed(&data, &index, &mut embedder, false);
        rows.push(("rebuild after adding 1 and removing 1".into(), t, s));
        let (t, s) = timed(&data, &index, &mut embedder, false);
        rows.push(("rebuild with nothing changed".into(), t, s));
    }
    let full = rows
        .iter()
        .filter(|r| r.0.starts_with("full"))
        .map(|r| r.1)
        .sum::<f64>()
        / repeat as f64;
    println!(
        "{:<40} {:>9} {:>9} {:>8} {:>8} {:>8} {:>10} {:>8}",
        "case", "seconds", "sentences", "vectors", "embedded", "reused", "graph", "vs full"
    );
    for (name, t, s) in &rows {
        println!(
            "{:<40} {:>9.2} {:>9} {:>8} {:>8} {:>8} {:>10} {:>7.1}%",
            name,
            t,
            s.sentences,
            s.vectors,
            s.embedded,
            s.reused,
            s.graph,
            100.0 * t / full
        );
    }
}
