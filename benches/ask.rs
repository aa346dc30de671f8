//! One `ask` in process: embed the question, search the graph, group by pair.
//! Also the exact scan over the same vectors, for comparison.

use criterion::{criterion_group, criterion_main, Criterion};
use qasearch::indexer::{self, IndexConfig};
use qasearch::progress::NoProgress;
use qasearch::search::{self, SearchConfig};
use qasearch::store;

mod common;

fn ask(c: &mut Criterion) {
    let mut embedder = common::embedder(qasearch::model::embed::Workload::Interactive);
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    indexer::build(
        &common::repo().join("data"),
        &index,
        &mut embedder,
        &IndexConfig::default(),
        &mut NoProgress,
    )
    .unwrap();
    let snapshot = store::open(&index).unwrap();
    let question = "What does the Coalition of the Willing aim to achieve?";
    let mut group = c.benchmark_group("ask");
    group.bench_function("embed+hnsw", |b| {
        b.iter(|| {
            search::ask(&snapshot, &mut embedder, question, &SearchConfig::default()).unwrap()
        })
    });
    let exact = SearchConfig {
        exact: true,
        ..SearchConfig::default()
    };
    group.bench_function("embed+exact", |b| {
        b.iter(|| search::ask(&snapshot, &mut embedder, question, &exact).unwrap())
    });
    let vector = search::embed_question(&mut embedder, question).unwrap();
    group.bench_function("hnsw only", |b| {
        b.iter(|| search::search_vector(&snapshot, &vector, &SearchConfig::default()))
    });
    group.bench_function("open index", |b| b.iter(|| store::open(&index).unwrap()));
    group.finish();
}

criterion_group!(benches, ask);
criterion_main!(benches);
