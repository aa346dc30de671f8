//! Indexing the bundled data from scratch (embed every sentence, build the
//! graph, write a generation), and a no-change rebuild.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use qasearch::indexer::{self, IndexConfig};
use qasearch::progress::NoProgress;

mod common;

fn index(c: &mut Criterion) {
    let mut embedder = common::embedder(qasearch::model::embed::Workload::Bulk);
    let data = common::repo().join("data");
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("index");
    let full = IndexConfig {
        full: true,
        ..IndexConfig::default()
    };
    let (summary, _) =
        indexer::build(&data, &index, &mut embedder, &full, &mut NoProgress).unwrap();
    let mut group = c.benchmark_group("index bundled data");
    group.sample_size(10);
    group.throughput(Throughput::Elements(summary.sentences as u64));
    group.bench_function("full", |b| {
        b.iter(|| indexer::build(&data, &index, &mut embedder, &full, &mut NoProgress).unwrap())
    });
    group.bench_function("unchanged", |b| {
        b.iter(|| {
            indexer::build(
                &data,
                &index,
                &mut embedder,
                &IndexConfig::default(),
                &mut NoProgress,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, index);
criterion_main!(benches);
