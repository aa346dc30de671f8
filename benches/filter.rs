//! `--where` filters: recall@10 against exact search over the same filtered
//! pairs, and latency, for filters that keep 1% and 25% of the pairs and
//! for none, on one index.
//!
//! ```sh
//! cargo bench --bench filter -- [--pairs 100000] [--queries 300] [--dir DIR]
//! ```
//!
//! The corpus is one `.jsonl` of pairs with two metadata fields, `bucket`
//! (`i % 100`: a filter on one value keeps 1% of the pairs) and `quarter`
//! (`i % 4`: 25%). Answers are twelve words drawn from one of 500 topics'
//! forty-word vocabularies, questions four more; vectors come from the hash
//! embedder (texts sharing words are near: clustered like sentence
//! embeddings, with no model to load), so the figures are the search's,
//! not a model's. Queries are fresh texts of random topics. Prints one JSON
//! object a line: for each filter, the pairs it keeps, the rows searched,
//! how it was searched (`as ask`: a scan of at most
//! [`scan_up_to`] filtered rows, else the graph; then each path forced),
//! recall@10 against a scan, and p50/p95 latency of the answers view alone.

use std::io::Write;
use std::time::Instant;

use qasearch::model::embed::HashEmbedder;
use qasearch::search::filter::scan_up_to;
use qasearch::search::views::{self, View};
use qasearch::search::{Filter, SearchConfig};

use common::Rng;

mod common;

fn words(rng: &mut Rng, topic: usize, n: usize) -> String {
    (0..n)
        .map(|_| format!("t{topic}w{}", rng.below(40)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let pick = |p: f64| ms[(p / 100.0 * (ms.len() - 1) as f64).round() as usize];
    (pick(50.0), pick(95.0))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pairs: usize = arg(&args, "--pairs", "100000").parse().unwrap();
    let queries: usize = arg(&args, "--queries", "300").parse().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::path::PathBuf::from(arg(&args, "--dir", tmp.path().to_str().unwrap()));
    let (data, index) = (dir.join("data"), dir.join("index"));
    std::fs::create_dir_all(&data).unwrap();
    let mut rng = Rng(7);
    let mut out = std::io::BufWriter::new(std::fs::File::create(data.join("faq.jsonl")).unwrap());
    for i in 0..pairs {
        let topic = rng.below(500);
        let line = serde_json::json!({
            "question": format!("{}?", words(&mut rng, topic, 4)),
            "answer": format!("{}.", words(&mut rng, topic, 12)),
            "bucket": (i % 100).to_string(),
            "quarter": (i % 4).to_string(),
        });
        writeln!(out, "{line}").unwrap();
    }
    drop(out);
    let mut embedder = HashEmbedder::new(384);
    let t = Instant::now();
    let (summary, _) = qasearch::indexer::build(
        &data,
        &index,
        &mut embedder,
        &qasearch::indexer::IndexConfig::default(),
        &mut qasearch::progress::NoProgress,
    )
    .unwrap();
    eprintln!(
        "built {} pairs, {} vectors in {:.1} s",
        summary.qa_pairs,
        summary.vectors,
        t.elapsed().as_secs_f64()
    );
    let snapshot = qasearch::store::open(&index).unwrap();
    let texts: Vec<String> = (0..queries)
        .map(|_| {
            let topic = rng.below(500);
            words(&mut rng, topic, 6)
        })
        .collect();
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| embedder.vector(t)).collect();
    for (name, terms) in [
        ("none", vec![]),
        ("1% (bucket=7)", vec!["bucket=7"]),
        ("25% (quarter=1)", vec!["quarter=1"]),
    ] {
        let filter = Filter::parse(&terms).unwrap();
        let kept = filter.pairs(&snapshot.meta).map_or(pairs, |p| p.len());
        let graph = SearchConfig {
            filter: filter.clone(),
            ..SearchConfig::default()
        };
        let exact = SearchConfig {
            exact: true,
            ..graph.clone()
        };
        // As `ask` searches (a scan of few filtered rows), and the graph
        // path forced whatever the filter keeps.
        let as_ask = scan_up_to(snapshot.meta.row_count());
        for (path, scan_up_to) in [("as ask", as_ask), ("graph", 0), ("scan", usize::MAX)] {
            if terms.is_empty() && scan_up_to != as_ask {
                continue;
            }
            let (mut found, mut wanted, mut ms) = (0, 0, Vec::new());
            for v in &vectors {
                let t = Instant::now();
                let got = if terms.is_empty() {
                    views::dense(&snapshot, v, View::Answers, 10, 10, &graph).unwrap()
                } else {
                    views::dense_filtered(&snapshot, v, View::Answers, 10, &graph, scan_up_to)
                        .unwrap()
                };
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                let want = views::dense(&snapshot, v, View::Answers, 10, 10, &exact).unwrap();
                // Ties at the 10th score count as found.
                let floor = want.last().map_or(f32::MIN, |h| h.score);
                wanted += want.len();
                found += got
                    .iter()
                    .filter(|h| want.iter().any(|w| w.pair == h.pair) || h.score >= floor)
                    .count()
                    .min(want.len());
            }
            let (p50, p95) = percentiles(ms);
            println!(
                "{}",
                serde_json::json!({
                    "filter": name,
                    "path": path,
                    "pairs": pairs,
                    "kept_pairs": kept,
                    "recall@10": found as f64 / wanted.max(1) as f64,
                    "p50_ms": p50,
                    "p95_ms": p95,
                })
            );
        }
    }
}
