//! Nearest-neighbour search over unit vectors: an HNSW graph built, saved and
//! extended by hnsw_rs (searched through its memory-mappable export, [`crate::mmap_graph`]), and
//! an exact brute-force scan over the same vectors.
//!
//! This is the only module that names `hnsw_rs`. Distances are dot-product
//! distances (`1 - cos`, vectors are unit length); callers get similarity
//! scores (`cos`, higher is better).

use std::path::Path;

use hnsw_rs::prelude::{AnnT, DistDot, Hnsw, HnswIo};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// HNSW build settings, persisted in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Links per node (`M`). Default 16; more links, better recall, bigger graph. At most 256.
    pub m: usize,
    /// Candidates explored while inserting. Default 200; higher builds slower, finds better links.
    pub ef_construction: usize,
    /// Layers of the graph. Must be 16: hnsw_rs 0.3.5 dumps no other count.
    pub max_layer: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 200,
            max_layer: 16,
        }
    }
}

impl HnswParams {
    /// Checks the values hnsw_rs would otherwise exit or misbehave on.
    pub fn validate(&self) -> Result<()> {
        if self.m < 2 || self.m > 256 {
            return Err(Error::Usage(format!(
                "HNSW M must be in 2..=256, got {}",
                self.m
            )));
        }
        if self.ef_construction < 1 {
            return Err(Error::Usage(format!(
                "HNSW ef_construction must be >= 1, got {}",
                self.ef_construction
            )));
        }
        // hnsw_rs 0.3.5 refuses to dump a graph of any other layer count.
        if self.max_layer != 16 {
            return Err(Error::Usage(format!(
                "HNSW max_layer must be 16 (hnsw_rs saves no other), got {}",
                self.max_layer
            )));
        }
        Ok(())
    }
}

/// One search hit: a row of the vector matrix and its similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Row in the vector matrix (the hnsw data id).
    pub row: usize,
    /// Cosine similarity, higher is better.
    pub score: f32,
}

type Graph<'a> = Hnsw<'a, f32, DistDot>;

self_cell::self_cell!(
    /// A graph reloaded from disk borrows its loader (hnsw_rs upstream issue
    /// #19), so both live in one owner.
    struct LoadedGraph {
        owner: HnswIo,
        #[not_covariant]
        dependent: Graph,
    }
);

enum Inner {
    Built(Box<Graph<'static>>),
    Loaded(LoadedGraph),
}

/// An HNSW graph over the rows of a vector matrix.
pub struct AnnGraph {
    inner: Inner,
}

impl std::fmt::Debug for AnnGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnGraph")
            .field("points", &self.len())
            .finish()
    }
}

impl AnnGraph {
    /// Builds a graph over every row of `vectors` (`rows × dim`).
    pub fn build(vectors: &[f32], dim: usize, params: &HnswParams) -> Result<Self> {
        params.validate()?;
        let rows = vectors.len() / dim.max(1);
        let mut graph: Graph<'static> = Hnsw::new(
            params.m,
            rows.max(1),
            params.max_layer,
            params.ef_construction,
            DistDot,
        );
        let data: Vec<(&[f32], usize)> = vectors.chunks_exact(dim).zip(0..).collect();
        graph.parallel_insert_slice(&data);
        graph.set_searching_mode(true);
        Ok(AnnGraph {
            inner: Inner::Built(Box::new(graph)),
        })
    }

    /// Adds rows `first..` of `vectors` to the graph (ids are row numbers).
    pub fn insert(&mut self, vectors: &[f32], dim: usize, first: usize) {
        let data: Vec<(&[f32], usize)> = vectors
            .chunks_exact(dim)
            .enumerate()
            .skip(first)
            .map(|(i, v)| (v, i))
            .collect();
        match &mut self.inner {
            Inner::Built(g) => {
                g.parallel_insert_slice(&data);
                g.set_searching_mode(true);
            }
            Inner::Loaded(l) => l.with_dependent_mut(|_, g| {
                g.parallel_insert_slice(&data);
                g.set_searching_mode(true);
            }),
        }
    }

    /// The layered adjacency: top layer, an entry row at that layer, and for
    /// each row its neighbour rows per layer (as many layers as the row has).
    pub fn adjacency(&self) -> (usize, usize, Vec<Vec<Vec<usize>>>) {
        self.with(|g| {
            let n = g.get_nb_point();
            let mut links: Vec<Vec<Vec<usize>>> = vec![Vec::new(); n];
            let index = g.get_point_indexation();
            let top = index.get_max_level_observed() as usize;
            let mut entry = 0;
            for layer in 0..=top {
                for point in index.get_layer_iterator(layer) {
                    let row = point.get_origin_id();
                    if row < n {
                        // A point of level `layer` has links in layers 0..=layer
                        // (hnsw_rs allocates all 16; the rest are empty).
                        links[row] = point
                            .get_neighborhood_id()
                            .into_iter()
                            .take(layer + 1)
                            .map(|ns| ns.into_iter().map(|x| x.d_id).filter(|&d| d < n).collect())
                            .collect();
                        if layer == top {
                            entry = row;
                        }
                    }
                }
            }
            // Rows hnsw_rs gave fewer layers than their level still belong to layer 0.
            for l in links.iter_mut() {
                if l.is_empty() {
                    l.push(Vec::new());
                }
            }
            (top, entry, links)
        })
    }

    /// Number of points in the graph.
    pub fn len(&self) -> usize {
        self.with(|g| g.get_nb_point())
    }

    /// True when the graph has no point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn with<R>(&self, f: impl for<'a> FnOnce(&Graph<'a>) -> R) -> R {
        match &self.inner {
            Inner::Built(g) => f(g),
            Inner::Loaded(l) => l.with_dependent(|_, g| f(g)),
        }
    }

    /// Writes `<basename>.hnsw.graph` and `.hnsw.data` into `dir` (which must
    /// exist and should be a fresh folder); returns the basename used.
    pub fn dump(&self, dir: &Path, basename: &str) -> Result<String> {
        self.with(|g| g.file_dump(dir, basename))
            .map_err(|e| Error::Ann {
                op: "dump",
                message: format!("{e:#} (into {})", dir.display()),
            })
    }

    /// Loads a graph written by [`AnnGraph::dump`].
    ///
    /// hnsw_rs panics or exits on damaged files, so callers must verify the
    /// files' checksums first; a panic that still happens becomes an error.
    pub fn load(dir: &Path, basename: &str) -> Result<Self> {
        let io = HnswIo::new(dir, basename);
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            LoadedGraph::try_new(io, |io| io.load_hnsw_with_dist(DistDot))
        }));
        match loaded {
            Ok(Ok(mut graph)) => {
                graph.with_dependent_mut(|_, g| g.set_searching_mode(true));
                Ok(AnnGraph {
                    inner: Inner::Loaded(graph),
                })
            }
            Ok(Err(e)) => Err(Error::corrupt(
                dir.join(format!("{basename}.hnsw.graph")),
                format!("{e:#}"),
            )),
            Err(_) => Err(Error::corrupt(
                dir.join(format!("{basename}.hnsw.graph")),
                "the graph loader failed",
            )),
        }
    }
}

/// Dot product of two equal-length slices.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four independent sums let the compiler vectorise.
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (x, y) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// The exact `k` nearest rows by brute force, best first (ties by row).
pub fn exact_search(
    vectors: &[f32],
    dim: usize,
    query: &[f32],
    k: usize,
    keep: Option<&dyn Fn(usize) -> bool>,
) -> Vec<Hit> {
    let mut hits: Vec<Hit> = vectors
        .chunks_exact(dim)
        .enumerate()
        .filter(|(row, _)| keep.is_none_or(|f| f(*row)))
        .map(|(row, v)| Hit {
            row,
            score: dot(v, query),
        })
        .collect();
    let by_score = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row));
    if hits.len() > k {
        hits.select_nth_unstable_by(k, by_score);
        hits.truncate(k);
    }
    hits.sort_by(by_score);
    hits
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Queries walk the mapped export of the graph; so do these tests.
    fn mapped(graph: &AnnGraph, rows: usize) -> crate::mmap_graph::MmapGraph {
        crate::mmap_graph::MmapGraph::export(graph, rows)
    }

    /// Deterministic pseudo-random unit vectors (splitmix64).
    pub(crate) fn random_unit(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_add(0x9e3779b97f4a7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            ((z ^ (z >> 31)) as f64 / u64::MAX as f64) as f32 - 0.5
        };
        let mut v: Vec<f32> = (0..n * dim).map(|_| next()).collect();
        for row in v.chunks_exact_mut(dim) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }

    #[test]
    fn hnsw_agrees_with_exact_search() {
        const SEED: u64 = 42;
        let dim = 32;
        let data = random_unit(2000, dim, SEED);
        let queries = random_unit(50, dim, SEED + 1);
        let graph = AnnGraph::build(&data, dim, &HnswParams::default()).unwrap();
        assert_eq!(graph.len(), 2000);
        let mut overlap = 0;
        for q in queries.chunks_exact(dim) {
            let exact: Vec<usize> = exact_search(&data, dim, q, 10, None)
                .iter()
                .map(|h| h.row)
                .collect();
            let approx = mapped(&graph, 2000).search(&data, dim, q, 10, 64, None);
            overlap += approx.iter().filter(|h| exact.contains(&h.row)).count();
            // Scores are cosine similarities of the stored vectors.
            for h in &approx {
                let s = dot(&data[h.row * dim..(h.row + 1) * dim], q);
                assert!((s - h.score).abs() < 1e-4);
            }
        }
        let recall = overlap as f64 / 500.0;
        assert!(
            recall >= 0.95,
            "recall@10 {recall} below floor (seed {SEED})"
        );
    }

    #[test]
    fn dump_and_load_give_identical_results() {
        let dim = 16;
        let data = random_unit(300, dim, 7);
        let graph = AnnGraph::build(&data, dim, &HnswParams::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let base = graph.dump(dir.path(), "g").unwrap();
        let loaded = AnnGraph::load(dir.path(), &base).unwrap();
        assert_eq!(loaded.len(), 300);
        for q in random_unit(20, dim, 8).chunks_exact(dim) {
            assert_eq!(
                mapped(&graph, 300).search(&data, dim, q, 5, 50, None),
                mapped(&loaded, 300).search(&data, dim, q, 5, 50, None)
            );
        }
    }

    #[test]
    fn filter_hides_rows_and_insert_adds() {
        let dim = 8;
        let data = random_unit(200, dim, 3);
        let mut graph = AnnGraph::build(&data[..100 * dim], dim, &HnswParams::default()).unwrap();
        graph.insert(&data, dim, 100);
        assert_eq!(graph.len(), 200);
        let q = &data[150 * dim..151 * dim];
        let g = mapped(&graph, 200);
        assert_eq!(g.search(&data, dim, q, 1, 50, None)[0].row, 150);
        let keep = |r: usize| r != 150;
        let hits = g.search(&data, dim, q, 5, 50, Some(&keep));
        assert!(hits.iter().all(|h| h.row != 150));
        assert_eq!(hits.len(), 5);
    }

    #[test]
    fn exact_search_orders_and_filters() {
        let data = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8];
        let hits = exact_search(&data, 2, &[1.0, 0.0], 2, None);
        assert_eq!(hits.iter().map(|h| h.row).collect::<Vec<_>>(), [0, 2]);
        let keep = |r: usize| r != 0;
        let hits = exact_search(&data, 2, &[1.0, 0.0], 5, Some(&keep));
        assert_eq!(hits.iter().map(|h| h.row).collect::<Vec<_>>(), [2, 1]);
    }

    #[test]
    fn bad_params_are_rejected_not_exited() {
        let p = HnswParams {
            m: 300,
            ..HnswParams::default()
        };
        assert!(p.validate().is_err());
        assert!(AnnGraph::build(&[1.0, 0.0], 2, &p).is_err());
        // hnsw_rs cannot save a graph of fewer layers: refuse it before building.
        let p = HnswParams {
            max_layer: 4,
            ..HnswParams::default()
        };
        assert!(p.validate().is_err());
    }
}
