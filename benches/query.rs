//! Warm query latency and HNSW quality on an existing index, in process.
//!
//! ```sh
//! cargo bench --bench query -- INDEX_DIR QUESTIONS_FILE [--model fast]
//! ```
//!
//! Prints one JSON object a line: the latency of whole questions (embed,
//! search, group by pair; p50 and p95 over every question of the file, after
//! 20 warm-up questions), then for several HNSW search breadths the graph's
//! recall@10 against exact search over the same vectors and its latency per
//! query (search only), then exact search's latency. `benches/peer/run.sh`
//! runs it beside the Python peer.

use std::time::Instant;

use qasearch::index::ann::exact_search;
use qasearch::model::embed::OnnxEmbedder;
use qasearch::model::{self, ModelOptions};
use qasearch::search::{self, SearchConfig};
use qasearch::store;

mod common;

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let pick =
        |p: f64| ms[((p / 100.0 * (ms.len() - 1) as f64).round() as usize).min(ms.len() - 1)];
    (pick(50.0), pick(95.0))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [index, questions, rest @ ..] = args.as_slice() else {
        eprintln!("usage: cargo bench --bench query -- INDEX_DIR QUESTIONS_FILE [--model fast]");
        return;
    };
    let variant = rest
        .iter()
        .position(|a| a == "--model")
        .and_then(|i| rest.get(i + 1))
        .cloned();
    let opts = ModelOptions {
        models_dir: common::repo().join("models"),
        fetch: true,
        variant,
        ..Default::default()
    };
    let files = model::resolve(&opts).expect("model files");
    let mut embedder =
        OnnxEmbedder::load(&files, None, qasearch::model::embed::Workload::Interactive)
            .expect("model");
    let t = Instant::now();
    let snapshot = store::open(std::path::Path::new(index)).expect("index");
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    snapshot
        .check_model(&files.identity)
        .expect("index built with this model");
    let questions: Vec<String> = std::fs::read_to_string(questions)
        .expect("questions")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let config = SearchConfig::default();
    for q in questions.iter().take(20) {
        search::ask(&snapshot, &mut embedder, q, &config).unwrap();
    }
    // The answers view alone (the dense path before fusion) and the engine
    // (every view, fusion, abstention), alternating question by question.
    let mut whole = Vec::new();
    let mut engine = Vec::new();
    let mut vectors = Vec::new();
    let m = &snapshot.manifest;
    for q in &questions {
        let t = Instant::now();
        let answers = search::ask(&snapshot, &mut embedder, q, &config).unwrap();
        whole.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!answers.is_empty());
        let t = Instant::now();
        let v = search::embed_question(&mut embedder, q).unwrap();
        let fused = search::retrieve(
            &snapshot,
            &v,
            q,
            None,
            &config,
            &m.fusion,
            m.abstention.min_score,
        )
        .unwrap();
        engine.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!fused.results.is_empty());
        vectors.push(v);
    }
    let (p50, p95) = percentiles(whole);
    println!(
        "{}",
        serde_json::json!({"what": "dense path (embed + answers view + group)", "vectors": snapshot.manifest.counts.vectors,
            "queries": questions.len(), "ef": config.ef_search, "p50_ms": p50, "p95_ms": p95, "open_index_ms": open_ms})
    );
    if std::env::var_os("QASEARCH_BENCH_PARTS").is_some() {
        use qasearch::search::views::{self, View};
        let depth = search::VIEW_DEPTH;
        let mut parts = [Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        for (q, v) in questions.iter().zip(&vectors) {
            let t = Instant::now();
            search::embed_question(&mut embedder, q).unwrap();
            parts[4].push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let a = views::dense(&snapshot, v, View::Answers, 3, depth, &config).unwrap();
            parts[0].push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let b = views::dense(&snapshot, v, View::Questions, 3, depth, &config).unwrap();
            parts[1].push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let c = views::lexical(&snapshot, q, depth, &Default::default());
            parts[2].push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let f = qasearch::search::fuse::fuse(
                &[(View::Answers, a), (View::Questions, b), (View::Lexical, c)],
                &m.fusion,
            );
            parts[3].push(t.elapsed().as_secs_f64() * 1e3);
            assert!(!f.is_empty());
        }
        for (name, ms) in ["answers", "questions", "lexical", "fuse", "embed"]
            .iter()
            .zip(parts)
        {
            println!("{name}: p50 {:.3} ms", percentiles(ms).0);
        }
    }
    let (p50, p95) = percentiles(engine);
    println!(
        "{}",
        serde_json::json!({"what": "engine (embed + every view + fusion + abstention)",
            "queries": questions.len(), "p50_ms": p50, "p95_ms": p95})
    );
    let dim = snapshot.dimension();
    let mut exact_ms = Vec::new();
    let truth: Vec<Vec<qasearch::index::ann::Hit>> = vectors
        .iter()
        .map(|v| {
            let t = Instant::now();
            let hits = exact_search(snapshot.vectors(), dim, v, 10, None);
            exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
            hits
        })
        .collect();
    for ef in [16, 24, 32, 48, 64, 96, 128] {
        let mut ms = Vec::new();
        let (mut found, mut as_good) = (0, 0);
        for (v, t) in vectors.iter().zip(&truth) {
            let start = Instant::now();
            let hits = snapshot
                .graph
                .search(snapshot.vectors(), dim, v, 10, ef, None);
            ms.push(start.elapsed().as_secs_f64() * 1e3);
            found += hits
                .iter()
                .filter(|h| t.iter().any(|e| e.row == h.row))
                .count();
            as_good += qasearch::index::ann::hits_as_good(t, &hits);
        }
        let (p50, p95) = percentiles(ms.clone());
        let mean = ms.iter().sum::<f64>() / ms.len() as f64;
        println!(
            "{}",
            serde_json::json!({"what": "hnsw top 10", "ef": ef, "recall@10": found as f64 / (10 * truth.len()) as f64,
                "recall@10_ties": as_good as f64 / (10 * truth.len()) as f64,
                "mean_ms": mean, "p50_ms": p50, "p95_ms": p95})
        );
    }
    let (p50, p95) = percentiles(exact_ms);
    println!(
        "{}",
        serde_json::json!({"what": "exact top 10", "p50_ms": p50, "p95_ms": p95})
    );
}
