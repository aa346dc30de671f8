//! The two stores side by side on one index: loading a folder index into
//! PostgreSQL + pgvector, warm question latency (embedding included) and
//! recall@10 of each store's approximate search against its exact search.
//!
//! ```sh
//! cargo bench --bench store -- --index DIR --data DIR --questions FILE \
//!     [--url postgresql://… | --shared-buffers 1GB] [--queries 500] [--ef N]
//! ```
//!
//! Without `--url` it starts a throwaway PostgreSQL from the `pgserver`
//! package (as the tests do: `tests/pg/server.py`, installed into
//! `target/pgserver-py`; `--shared-buffers` sets its cache, docs/postgres.md "Scaling
//! out") and loads into a fresh database `qasearch_bench`
//! there. The index must be fresh for `--data` (build it with
//! `qasearch index` first); loading embeds nothing. Prints one JSON object
//! a line, then a Markdown table.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use qasearch::engine::{Engine, SharedEmbedder};
use qasearch::indexer::BuildTarget;
use qasearch::search::{self, SearchConfig};
use qasearch::store::Snapshot;
use qasearch::store::{Folder, Store};

mod common;

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let pick =
        |p: f64| ms[((p / 100.0 * (ms.len() - 1) as f64).round() as usize).min(ms.len() - 1)];
    (pick(50.0), pick(95.0))
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[path = "../tests/pg/start.rs"]
mod pg_start;

/// A fresh database `name` on the server at `url`, and its URL.
fn fresh_database(url: &str, name: &str) -> String {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("server");
    c.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[])
        .unwrap();
    c.execute(&format!("CREATE DATABASE {name}"), &[]).unwrap();
    let (head, query) = url.split_once('?').unwrap_or((url, ""));
    let head = head.rsplit_once('/').map_or(head, |h| h.0);
    if query.is_empty() {
        format!("{head}/{name}")
    } else {
        format!("{head}/{name}?{query}")
    }
}

struct Measured {
    p50: f64,
    p95: f64,
    recall: f64,
    ef: usize,
}

/// Warm latency of whole questions (embed + every view + fusion + answers)
/// and the answers view's recall@10 against exact search.
fn measure(engine: &Engine, questions: &[String], ef: Option<usize>) -> Measured {
    let config = SearchConfig {
        ef_search: ef,
        ..SearchConfig::default()
    };
    for q in questions.iter().take(20) {
        engine.ask(q, &config).expect("ask");
    }
    let mut ms = Vec::new();
    for q in questions {
        let t = Instant::now();
        let a = engine.ask(q, &config).expect("ask");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(!a.results.is_empty());
    }
    let snapshot = engine.snapshot();
    let ten = SearchConfig {
        top_k: 10,
        ..config
    };
    let exact = SearchConfig {
        exact: true,
        ..ten.clone()
    };
    let (mut found, mut wanted) = (0usize, 0usize);
    for q in questions {
        let v = engine.embed_question(q).expect("embed");
        let approx = search::search_vector(&snapshot, &v, &ten).expect("search");
        let truth = search::search_vector(&snapshot, &v, &exact).expect("search");
        wanted += truth.len();
        found += truth
            .iter()
            .filter(|t| approx.iter().any(|a| a.pair == t.pair))
            .count();
    }
    let (p50, p95) = percentiles(ms);
    Measured {
        p50,
        p95,
        recall: found as f64 / wanted.max(1) as f64,
        ef: ten.ef_for(snapshot.manifest.counts.rows),
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(index), Some(data), Some(questions)) = (
        flag(&args, "--index"),
        flag(&args, "--data"),
        flag(&args, "--questions"),
    ) else {
        eprintln!(
            "usage: cargo bench --bench store -- --index DIR --data DIR --questions FILE [--url URL | --shared-buffers SIZE] [--queries N] [--ef N]"
        );
        return;
    };
    let (index, data) = (PathBuf::from(index), PathBuf::from(data));
    let n: usize = flag(&args, "--queries").map_or(500, |s| s.parse().expect("--queries N"));
    // The search breadth of both stores (default: the engine's, by index size).
    let ef: Option<usize> = flag(&args, "--ef").map(|s| s.parse().expect("--ef N"));
    let questions: Vec<String> = std::fs::read_to_string(&questions)
        .expect("questions file")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .map(String::from)
        .collect();
    let server = flag(&args, "--url").unwrap_or_else(|| {
        let cache = flag(&args, "--shared-buffers");
        pg_start::start_with(&common::repo(), cache.as_deref())
    });
    let url = fresh_database(&server, "qasearch_bench");
    let model = || {
        Box::new(common::embedder(
            qasearch::model::embed::Workload::Interactive,
        )) as SharedEmbedder
    };

    // The folder.
    let folder: Arc<dyn BuildTarget> = Arc::new(Folder::new(&index));
    let snapshot: Snapshot = folder
        .open()
        .expect("a folder index (run qasearch index first)");
    let vectors = snapshot.manifest.counts.vectors;
    let folder_engine = Engine::from_store(folder, snapshot, model()).expect("engine");
    let f = measure(&folder_engine, &questions, ef);
    drop(folder_engine);

    // Loading it into the database: nothing embedded.
    let pg = qasearch::store::pg::Postgres::connect(&url, None)
        .expect("database")
        .with_seed(&index);
    let mut embedder = model();
    let corpus = qasearch::corpus::load(&data).expect("data folder");
    let t = Instant::now();
    let (summary, _) = pg
        .build(
            corpus,
            &data,
            embedder.as_mut(),
            &qasearch::indexer::IndexConfig::default(),
            &mut qasearch::progress::NoProgress,
            qasearch::indexer::Begun::now(),
        )
        .expect("load");
    let load_s = t.elapsed().as_secs_f64();
    let answering_s = pg
        .committed_at()
        .map_or(load_s, |c| c.duration_since(t).as_secs_f64());
    assert_eq!(
        summary.embedded, 0,
        "the folder index is not fresh for --data"
    );
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let pg_bytes: i64 = c
        .query_one(
            "SELECT pg_total_relation_size('qasearch_rows') + pg_total_relation_size('qasearch_store') \
             + pg_total_relation_size('qasearch_pairs')",
            &[],
        )
        .unwrap()
        .get(0);
    let shared_buffers: String = c
        .query_one("SELECT current_setting('shared_buffers')", &[])
        .unwrap()
        .get(0);
    let snapshot = pg.open().expect("open the store");
    let pg_engine = Engine::from_store(Arc::new(pg), snapshot, embedder).expect("engine");
    let p = measure(&pg_engine, &questions, ef);

    let folder_mb = dir_bytes(&index) as f64 / 1e6;
    let pg_mb = pg_bytes as f64 / 1e6;
    for (store, m, mb) in [("folder", &f, folder_mb), ("postgres", &p, pg_mb)] {
        println!(
            "{}",
            serde_json::json!({"store": store, "vectors": vectors, "queries": questions.len(),
                "p50_ms": m.p50, "p95_ms": m.p95, "recall@10": m.recall, "ef": m.ef, "size_mb": mb})
        );
    }
    println!(
        "{}",
        serde_json::json!({"load_vectors": vectors, "load_seconds": load_s,
            "load_vectors_per_s": vectors as f64 / load_s, "answering_after_s": answering_s,
            "answering_vectors_per_s": vectors as f64 / answering_s, "shared_buffers": shared_buffers})
    );
    println!("\nPostgreSQL's shared_buffers: {shared_buffers}");
    println!("\n| store | load: answering / indexed | warm ask p50 / p95 (embedding included) | recall@10 vs exact (ef) | size |");
    println!("|---|---|---|---|---|");
    println!(
        "| folder | — | {:.2} / {:.2} ms | {:.4} ({}) | {:.1} MB |",
        f.p50, f.p95, f.recall, f.ef, folder_mb
    );
    println!(
        "| PostgreSQL + pgvector | {:.1} s ({:.0} vectors/s) / {:.1} s ({:.0} vectors/s) | {:.2} / {:.2} ms | {:.4} ({}) | {:.1} MB |",
        answering_s,
        vectors as f64 / answering_s,
        load_s,
        vectors as f64 / load_s,
        p.p50,
        p.p95,
        p.recall,
        p.ef,
        pg_mb
    );
}
