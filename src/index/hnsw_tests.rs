//! Tests of the HNSW graph (`index/hnsw.rs`).

use super::*;
use crate::index::ann::{exact_search, tests::random_unit};
use crate::index::links::lock;

fn recall(graph: &MmapGraph, data: &[f32], dim: usize, queries: usize, ef: usize) -> f64 {
    let rows = data.len() / dim;
    let mut found = 0;
    for q in (0..rows).step_by((rows / queries).max(1)).take(queries) {
        let query = &data[q * dim..(q + 1) * dim];
        let exact = exact_search(data, dim, query, 10, None);
        let approx = graph.search(data, dim, query, 10, ef, None);
        found += approx
            .iter()
            .filter(|h| exact.iter().any(|e| e.row == h.row))
            .count();
    }
    found as f64 / (queries * 10) as f64
}

#[test]
fn a_graph_over_members_finds_members_only_and_extends_the_same_way() {
    let dim = 16;
    let data = random_unit(3000, dim, 21);
    let member = |r: usize| r.is_multiple_of(3);
    let params = HnswParams::default();
    let old = &data[..2400 * dim];
    let graph = build_over(old, dim, &params, 2, &member, &mut |_| {});
    assert_eq!(graph.rows(), 2400, "rows keep their numbers");
    let check = |graph: &MmapGraph, data: &[f32]| {
        let rows = data.len() / dim;
        let mut found = 0;
        let mut asked = 0;
        for q in (0..rows).step_by(37) {
            let query = &data[q * dim..(q + 1) * dim];
            let hits = graph.search(data, dim, query, 10, 64, None);
            assert!(hits.iter().all(|h| member(h.row)), "only members");
            let exact = exact_search(data, dim, query, 10, Some(&member));
            found += crate::index::ann::hits_as_good(&exact, &hits);
            asked += exact.len();
        }
        found as f64 / asked as f64
    };
    let r = check(&graph, old);
    assert!(r >= 0.95, "recall@10 over members {r}");
    let grown = extend_over(&graph, &data, dim, &params, &member, &mut |_| {});
    assert_eq!(grown.rows(), 3000);
    let r = check(&grown, &data);
    assert!(r >= 0.95, "recall@10 over members after extending {r}");
    // New members are found by their own vector: all but 1% of them (a
    // graph built on several threads is not the same twice, and HNSW
    // may leave a node or two hard to reach; the indexer's reach check
    // compares new rows with old ones for that reason).
    let new: Vec<usize> = (2400..3000).filter(|&r| member(r)).collect();
    let missed = new
        .iter()
        .filter(|&&row| {
            let own = &data[row * dim..(row + 1) * dim];
            grown.search(&data, dim, own, 1, 64, None)[0].row != row
        })
        .count();
    assert!(
        missed * 100 <= new.len(),
        "{missed} of {} missed",
        new.len()
    );
    // An old row that has become a member is inserted too.
    let and_one = |r: usize| member(r) || r == 1;
    let grown = extend_over(&graph, &data, dim, &params, &and_one, &mut |_| {});
    assert_eq!(
        grown.search(&data, dim, &data[dim..2 * dim], 1, 64, None)[0].row,
        1
    );
    // No member yet: an extension with members builds afresh.
    let none = build_over(old, dim, &params, 2, &|_| false, &mut |_| {});
    let some = extend_over(&none, &data, dim, &params, &member, &mut |_| {});
    assert!(check(&some, &data) >= 0.95);
}

/// Told which old rows have become members, an extension makes the
/// graph it makes when it looks at every old row; it looks at no other.
#[test]
fn an_extension_told_the_rows_that_joined_makes_the_same_graph() {
    let dim = 16;
    let data = random_unit(1500, dim, 5);
    let params = HnswParams::default();
    let before = |r: usize| r.is_multiple_of(3);
    let graph = build_over(&data[..1200 * dim], dim, &params, 1, &before, &mut |_| {});
    // Rows 1 and 4 join; the list may hold old members, new rows and repeats.
    let now = |r: usize| before(r) || r == 1 || r == 4;
    let lists = |g: &MmapGraph| -> Vec<Vec<Vec<u32>>> {
        (0..g.rows() as u32).map(|r| g.row_links(r)).collect()
    };
    let every = extend_on(&graph, &data, dim, &params, &now, 1, None, &mut |_| {});
    let joined = [4, 1, 3, 1299, 4];
    let told = extend_on(
        &graph,
        &data,
        dim,
        &params,
        &now,
        1,
        Some(&joined),
        &mut |_| {},
    );
    assert_eq!(lists(&told), lists(&every));
    assert!(
        !told.row_links(4)[0].is_empty(),
        "a row that joined is linked"
    );
    // Not told of row 4: it is left out.
    let partly = extend_on(
        &graph,
        &data,
        dim,
        &params,
        &now,
        1,
        Some(&[1]),
        &mut |_| {},
    );
    assert!(partly.row_links(4).iter().all(Vec::is_empty));
    assert!(!partly.row_links(1)[0].is_empty());
}

#[test]
fn levels_are_geometric_and_capped() {
    let counts = (0..100_000).fold([0usize; 4], |mut c, r| {
        c[level_of(r, 16, 16).min(3)] += 1;
        c
    });
    // P(level >= 1) = 1/16.
    assert!(
        (5_500..7_000).contains(&(100_000 - counts[0])),
        "{counts:?}"
    );
    assert!((0..20).all(|r| level_of(r, 16, 1) == 0));
}

#[test]
fn built_graph_finds_the_exact_neighbours() {
    let dim = 24;
    let data = random_unit(3000, dim, 7);
    let mut inserted = 0;
    let g = build(&data, dim, &HnswParams::default(), &mut |n| inserted += n);
    assert_eq!(inserted, 3000);
    assert_eq!(g.rows(), 3000);
    let r = recall(&g, &data, dim, 100, 64);
    assert!(r >= 0.98, "recall@10 {r}");
}

/// Clustered unit vectors (clusters of about 20, cosine about 0.6 inside).
fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let centres = random_unit(n / 20 + 1, dim, seed);
    let noise = random_unit(n, dim, seed + 1);
    let mut out = Vec::with_capacity(n * dim);
    for i in 0..n {
        let c = &centres[(i % (n / 20 + 1)) * dim..][..dim];
        let mut v: Vec<f32> = c
            .iter()
            .zip(&noise[i * dim..(i + 1) * dim])
            .map(|(a, b)| a + 0.8 * b)
            .collect();
        crate::model::vector::normalize(&mut v);
        out.extend(v);
    }
    out
}

#[test]
fn setting_a_rows_links_keeps_those_added_while_it_was_inserted() {
    // Rows inserted at the same time find each other: while row 0 is
    // being inserted, another thread links it to row 3. Row 0's own
    // links, set after its search, must not drop that one (dropping it
    // cost 1.5% recall on a 1,185-row real set).
    let dim = 8;
    let data = random_unit(5, dim, 2);
    let layered = Layered {
        vectors: &data,
        dim,
        m: 2,
        ef_construction: 8,
        links: (0..5)
            .map(|_| Mutex::new(vec![Vec::new()]))
            .collect::<RowLinks>(),
        entry: RwLock::new(None),
    };
    layered.connect(0, 3, 0);
    layered.set_links(0, 0, &[(0.5, 1), (0.4, 2)]);
    let mut got = lock(&layered.links[0])[0].clone();
    got.sort();
    assert_eq!(got, [1, 2, 3]);
    // Past the layer's room (2M = 4), the heuristic prunes.
    layered.connect(0, 4, 0);
    layered.set_links(0, 0, &[(0.5, 1), (0.4, 2)]);
    assert!(lock(&layered.links[0])[0].len() <= 4);
}

/// Extending a graph through an overlay of it makes, on one thread,
/// the very graph that reading every row's lists out of it made (the
/// way before `links.rs`): old rows that became members included.
#[test]
fn an_overlay_extends_as_reading_every_row_did() {
    let (dim, params) = (
        16,
        HnswParams {
            m: 4,
            ef_construction: 32,
            ..HnswParams::default()
        },
    );
    for seed in 0..4u64 {
        let data = random_unit(400, dim, seed);
        let old = 300 + 20 * seed as usize;
        let before = |r: usize| !r.is_multiple_of(3);
        let after = |r: usize| !r.is_multiple_of(3) || r.is_multiple_of(7);
        let graph = build_over(&data[..old * dim], dim, &params, 1, &before, &mut |_| {});
        let overlay = extend_on(&graph, &data, dim, &params, &after, 1, None, &mut |_| {});
        // Every row's lists read out, then extended.
        let (top, entry, mut links) = graph.links();
        links.truncate(old);
        let linked = |l: &Vec<Vec<u32>>| l.iter().any(|layer| !layer.is_empty());
        let todo: Vec<u32> = (0..400)
            .filter(|&r| after(r) && r != entry && links.get(r).is_none_or(|l| !linked(l)))
            .map(|r| r as u32)
            .collect();
        let layered = Layered {
            vectors: &data,
            dim,
            m: params.m,
            ef_construction: params.ef_construction,
            links: links
                .into_iter()
                .map(Mutex::new)
                .chain((old..400).map(|r| Mutex::new(empty_links(r, &params))))
                .collect::<RowLinks>(),
            entry: RwLock::new(Some((entry as u32, top))),
        };
        layered.insert_all(&todo, 1, &mut |_| {});
        let read_out = layered.finish();
        assert_eq!(overlay.to_bytes(), read_out.to_bytes(), "seed {seed}");
        // Every member is linked, the old rows that became members too.
        for r in (0..400).filter(|&r| after(r)) {
            assert!(!overlay.neighbours(0, r as u32).is_empty(), "row {r}");
        }
    }
}

#[test]
fn parallel_insertion_on_many_threads_keeps_recall() {
    let dim = 32;
    let data = clustered(1500, dim, 21);
    for _ in 0..3 {
        let g = build_with_threads(&data, dim, &HnswParams::default(), 8, &mut |_| {});
        let r = recall(&g, &data, dim, 300, 64);
        assert!(r >= 0.98, "recall@10 {r}");
    }
}

#[test]
fn one_thread_builds_the_same_graph_every_time() {
    let dim = 16;
    let data = random_unit(500, dim, 3);
    let p = HnswParams::default();
    let a = build_with_threads(&data, dim, &p, 1, &mut |_| {});
    let b = build_with_threads(&data, dim, &p, 1, &mut |_| {});
    assert_eq!(a.to_bytes(), b.to_bytes());
}

#[test]
fn extension_keeps_old_rows_and_finds_new_ones() {
    let dim = 24;
    let data = random_unit(2000, dim, 11);
    let p = HnswParams::default();
    let first = build(&data[..1200 * dim], dim, &p, &mut |_| {});
    let mut inserted = 0;
    let grown = extend(&first, &data, dim, &p, &mut |n| inserted += n);
    assert_eq!(inserted, 800);
    assert_eq!(grown.rows(), 2000);
    let r = recall(&grown, &data, dim, 200, 64);
    assert!(r >= 0.98, "recall@10 {r}");
    // A new row finds itself first.
    let q = &data[1999 * dim..2000 * dim];
    assert_eq!(grown.search(&data, dim, q, 1, 64, None)[0].row, 1999);
}

#[test]
fn duplicates_and_tiny_graphs_are_fine() {
    let dim = 8;
    for n in [0usize, 1, 2, 5] {
        let data = random_unit(n, dim, 1);
        let g = build(&data, dim, &HnswParams::default(), &mut |_| {});
        assert_eq!(g.rows(), n);
        if n > 0 {
            let hits = g.search(&data, dim, &data[..dim], 10, 16, None);
            assert_eq!(hits.len(), n);
        }
    }
    // 300 copies of one vector and one other: every copy stays reachable.
    let one = random_unit(2, dim, 5);
    let mut data = Vec::new();
    for _ in 0..300 {
        data.extend_from_slice(&one[..dim]);
    }
    data.extend_from_slice(&one[dim..]);
    let g = build(&data, dim, &HnswParams::default(), &mut |_| {});
    let hits = g.search(&data, dim, &one[dim..], 1, 64, None);
    assert_eq!(hits[0].row, 300);
}

/// A graph file mapped where it lies, as an update's opening maps the
/// previous generation's (`store::open_for_update`): writes to the file
/// show through the mapping.
#[derive(Debug)]
struct MappedFile(memmap2::Mmap);

impl crate::index::mmap_graph::FileWords for MappedFile {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// `graph`'s base written to a file in `dir` and searched where it lies.
fn in_place(graph: &MmapGraph, dir: &std::path::Path) -> (MmapGraph, std::path::PathBuf) {
    use crate::index::mmap_graph::Words;
    let path = dir.join("graph.bin");
    std::fs::write(&path, graph.base_bytes()).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY: a test's own file; what it reads is bounds-checked (`Words::File`).
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    let mapped = MmapGraph::parse(Words::File(std::sync::Arc::new(MappedFile(map)))).unwrap();
    mapped.know_base_crc(crc32fast::hash(graph.base_bytes()));
    assert!(mapped.in_place());
    (mapped, path)
}

/// 1,300 random rows of 16 dimensions (seeded), and a graph of their first
/// 600 built on one thread.
fn first_600_of_1300(seed: u64) -> (Vec<f32>, MmapGraph) {
    let data = random_unit(1300, 16, seed);
    let params = HnswParams::default();
    let graph = build_with_threads(&data[..600 * 16], 16, &params, 1, &mut |_| {});
    (data, graph)
}

/// `graph` extended on one thread over the first `rows` rows of `data`.
fn grown_to(graph: &MmapGraph, data: &[f32], rows: usize) -> MmapGraph {
    let (all, params) = (&|_| true, HnswParams::default());
    let vectors = &data[..rows * 16];
    extend_on(graph, vectors, 16, &params, all, 1, None, &mut |_| {})
}

/// Extended where its file lies, a graph grows as the same graph in memory
/// of its own does, to the byte (one thread): as a patch over the file for
/// a few rows, written whole (the file copied and checked first) for many.
#[test]
fn a_graph_extended_where_its_file_lies_grows_as_one_in_memory() {
    let (data, graph) = first_600_of_1300(31);
    let dir = tempfile::tempdir().unwrap();
    let (mapped, _) = in_place(&graph, dir.path());
    for rows in [603, 1300] {
        let ours = grown_to(&graph, &data, rows);
        let theirs = grown_to(&mapped, &data, rows);
        assert_eq!(ours.patch_bytes().is_some(), rows == 603, "{rows} rows");
        assert_eq!(theirs.base_bytes(), ours.base_bytes(), "{rows} rows");
        assert_eq!(theirs.patch_bytes(), ours.patch_bytes(), "{rows} rows");
    }
}

/// A graph file written over in place while an extension reads it where it
/// lies (checked when mapped, garbage after): the extension neither panics
/// nor reads out of bounds, whatever the words say — links past the graph
/// are passed over, lists are read up to a cap — and gives a graph of every
/// row, which a search walks. (The update then refuses to commit: the
/// file's time moved, `Snapshot::files_intact`.) Written whole, the file
/// is copied and checked again first, and a file that fails keeps only
/// the new rows' lists.
#[cfg(unix)]
#[test]
fn an_extension_survives_its_graph_file_written_over_under_it() {
    use std::os::unix::fs::FileExt;
    let (data, graph) = first_600_of_1300(32);
    let dir = tempfile::tempdir().unwrap();
    let words = graph.base_bytes().len() / 4;
    // Past the header: small and huge offsets and links alike.
    let garbage: [u32; 6] = [0, 1, 599, 600, 0x7fff_ffff, u32::MAX];
    for (round, rows) in [(0u32, 603), (1, 1300), (2, 603), (3, 1300)] {
        let (mapped, path) = in_place(&graph, dir.path());
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        let over: Vec<u8> = (5..words)
            .map(|i| garbage[(i * 7 + round as usize * 3 + i / 5) % garbage.len()])
            .flat_map(u32::to_le_bytes)
            .collect();
        file.write_all_at(&over, 20).unwrap();
        let grown = grown_to(&mapped, &data, rows);
        assert_eq!(grown.rows(), rows);
        let vectors = &data[..rows * 16];
        for q in data.chunks_exact(16).step_by(97) {
            let hits = grown.search(vectors, 16, q, 10, 64, None);
            assert!(hits.iter().all(|h| h.row < rows));
        }
        // Written whole: checked again, and found changed.
        assert!(mapped.checked_copy().is_err(), "round {round}");
    }
}
