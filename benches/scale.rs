//! The HNSW graph at scale, without a model: build time, peak memory, disk,
//! recall@10 against exact search and query latency, on fixed-seed vectors.
//!
//! ```sh
//! cargo bench --bench scale -- [--rows 1000000] [--dim 384] [--queries 1000] [--ef 64[,128,...]] [--dir DIR] [--graph FILE]
//! ```
//!
//! The vectors are clustered like sentence embeddings rather than uniform
//! (uniform vectors in 384 dimensions have no near neighbours to find), in
//! two levels: topics (one per 1,000 rows, random unit vectors), subtopics
//! (one per 20 rows: a topic plus Gaussian noise of the same norm,
//! normalised) and rows (a subtopic plus noise of 0.8 its norm, normalised).
//! Rows of one subtopic have cosine about 0.6, of one topic about 0.3, of
//! different topics about 0. Queries are fresh rows of the same kind (not in
//! the graph). The vectors are written to `DIR/vectors.f32` and
//! memory-mapped, as an index does; the graph goes to `DIR/graph.bin` (the
//! same files an index holds). Prints one JSON object.

use std::io::Write;
use std::time::Instant;

use qasearch::index::ann::{exact_search, HnswParams};
use qasearch::index::mmap_graph::{MmapGraph, Words};

use common::Rng;

mod common;

fn unit(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

/// Row `i` of the clustered set `seed` (subtopic centres are shared by every set).
fn row(centres: &[f32], dim: usize, seed: u64, i: usize, out: &mut [f32]) {
    let mut rng = Rng(seed.wrapping_mul(0x1000_0000_01b3) ^ i as u64);
    let k = (rng.next() as usize) % (centres.len() / dim);
    let scale = 0.8 / (dim as f32).sqrt();
    for (j, o) in out.iter_mut().enumerate() {
        *o = centres[k * dim + j] + rng.normal() * scale;
    }
    unit(out);
}

fn peak_rss_mb() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u.ru_maxrss as f64 / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let opt = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let rows = opt("--rows", 1_000_000);
    let dim = opt("--dim", 384);
    let queries = opt("--queries", 1000);
    // --ef 64,128,256: recall and latency at each breadth over one graph.
    let efs: Vec<usize> = args
        .iter()
        .position(|a| a == "--ef")
        .and_then(|i| args.get(i + 1))
        .map_or_else(
            || vec![64],
            |v| {
                v.split(',')
                    .map(|e| e.parse().expect("--ef takes numbers, e.g. 64,128"))
                    .collect()
            },
        );
    let dir = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map_or_else(
            || std::path::PathBuf::from(format!(".cache/scale-{rows}")),
            std::path::PathBuf::from,
        );
    std::fs::create_dir_all(&dir).expect("bench folder");

    let mut rng = Rng(20261127);
    let topics = (rows / 1000).max(1);
    let mut topic: Vec<f32> = (0..topics * dim).map(|_| rng.normal()).collect();
    topic.chunks_exact_mut(dim).for_each(unit);
    let subtopics = (rows / 20).max(1);
    let scale = 1.0 / (dim as f32).sqrt();
    let mut centres = vec![0f32; subtopics * dim];
    for (k, c) in centres.chunks_exact_mut(dim).enumerate() {
        let t = &topic[(k % topics) * dim..(k % topics + 1) * dim];
        for (x, &y) in c.iter_mut().zip(t) {
            *x = y + rng.normal() * scale;
        }
        unit(c);
    }
    drop(topic);

    // Vectors, streamed to disk, then mapped (or an index's own, --vectors FILE).
    let t = Instant::now();
    let given = args
        .iter()
        .position(|a| a == "--vectors")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let vectors_path = given.clone().unwrap_or_else(|| dir.join("vectors.f32"));
    if given.is_none() {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&vectors_path).unwrap());
        let mut v = vec![0f32; dim];
        for i in 0..rows {
            row(&centres, dim, 1, i, &mut v);
            f.write_all(bytemuck::cast_slice(&v)).unwrap();
        }
        f.flush().unwrap();
    }
    let file = std::fs::File::open(&vectors_path).unwrap();
    // SAFETY: the bench owns the file and does not change it while mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    let vectors: &[f32] = bytemuck::cast_slice(&map[..]);
    let rows = vectors.len() / dim;
    let generate_s = t.elapsed().as_secs_f64();
    eprintln!("{rows} vectors generated in {generate_s:.1} s; building the graph");

    // --graph FILE: measure a graph built by an earlier run over the same vectors.
    let reuse = args
        .iter()
        .position(|a| a == "--graph")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let threads = opt(
        "--threads",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    let (graph_path, build_s, build_rss) = match reuse {
        Some(path) => (path, f64::NAN, f64::NAN),
        None => {
            let t = Instant::now();
            let mut done = 0usize;
            let mut last = Instant::now();
            let graph = qasearch::index::hnsw::build_with_threads(
                vectors,
                dim,
                &HnswParams::default(),
                threads,
                &mut |n| {
                    done += n;
                    if last.elapsed().as_secs() >= 30 {
                        eprintln!(
                            "  {done} of {rows} rows in {:.0} s",
                            t.elapsed().as_secs_f64()
                        );
                        last = Instant::now();
                    }
                },
            );
            let build_s = t.elapsed().as_secs_f64();
            let build_rss = peak_rss_mb();
            let graph_path = dir.join("graph.bin");
            std::fs::write(&graph_path, graph.base_bytes()).unwrap();
            (graph_path, build_s, build_rss)
        }
    };
    let graph_file = std::fs::File::open(&graph_path).unwrap();
    // SAFETY: as above.
    let graph_map = unsafe { memmap2::Mmap::map(&graph_file) }.unwrap();
    let graph = MmapGraph::parse(Words::Mapped(graph_map)).expect("graph");
    eprintln!("graph built in {build_s:.0} s; measuring recall and latency");

    let mut q = vec![0f32; dim];
    let mut asked = Vec::with_capacity(queries);
    for i in 0..queries {
        if given.is_some() {
            // Rows of the file itself, spread over it.
            let r = i * rows / queries.max(1);
            q.copy_from_slice(&vectors[r * dim..(r + 1) * dim]);
        } else {
            row(&centres, dim, 2, i, &mut q);
        }
        let exact = exact_search(vectors, dim, &q, 10, None);
        asked.push((q.clone(), exact));
    }
    let vectors_bytes = std::fs::metadata(&vectors_path).unwrap().len();
    let graph_bytes = std::fs::metadata(&graph_path).unwrap().len();
    for ef in efs {
        let (mut found, mut wanted) = (0usize, 0usize);
        let mut ms = Vec::with_capacity(queries);
        for (q, exact) in &asked {
            let t = Instant::now();
            let approx = graph.search(vectors, dim, q, 10, ef, None);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            wanted += exact.len();
            found += qasearch::index::ann::hits_as_good(exact, &approx);
        }
        ms.sort_by(f64::total_cmp);
        let pick =
            |p: f64| ms[((p / 100.0 * (ms.len() - 1) as f64).round() as usize).min(ms.len() - 1)];
        println!(
            "{}",
            serde_json::json!({
                "rows": rows,
                "dim": dim,
                "threads": threads,
                "m": HnswParams::default().m,
                "ef_construction": HnswParams::default().ef_construction,
                "generate_s": generate_s,
                "build_s": build_s,
                "build_rows_per_s": rows as f64 / build_s,
                "peak_rss_mb_after_build": build_rss,
                "vectors_mb": vectors_bytes as f64 / 1e6,
                "graph_mb": graph_bytes as f64 / 1e6,
                "graph_bytes_per_row": graph_bytes as f64 / rows.max(1) as f64,
                "ef_search": ef,
                "queries": queries,
                "recall@10": found as f64 / wanted.max(1) as f64,
                "query_p50_ms": pick(50.0),
                "query_p95_ms": pick(95.0),
            })
        );
    }
}
