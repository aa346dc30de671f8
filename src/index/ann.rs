//! Nearest-neighbour search over unit vectors: the HNSW settings, the dot
//! product every search uses, and an exact brute-force scan. The graph is
//! built by [`crate::index::hnsw`] and searched in place by [`crate::index::mmap_graph`].
//!
//! Vectors are unit length, so similarity is the dot product (`cos`, higher
//! is better).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::vector::{dot, dot_each};

/// HNSW build settings, persisted in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Links per node (`M`; twice that in layer 0). Default 16; more links,
    /// better recall, bigger graph. At most 256.
    pub m: usize,
    /// Candidates explored while inserting. Default 200; higher builds slower, finds better links.
    pub ef_construction: usize,
    /// At most this many layers. Default 16.
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
    /// Checks the values a build could not honour.
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
        // The graph file holds at most 64 layers (see mmap_graph).
        if self.max_layer < 1 || self.max_layer > 64 {
            return Err(Error::Usage(format!(
                "HNSW max_layer must be in 1..=64, got {}",
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

/// How many of `approx` are as good as the exact top `exact` (at least its
/// last score: near-duplicate texts tie to the last digit, and any of the
/// tied rows is a right answer), at most `exact.len()`.
pub fn hits_as_good(exact: &[Hit], approx: &[Hit]) -> usize {
    let floor = exact.last().map_or(f32::MIN, |h| h.score) - 1e-6;
    approx
        .iter()
        .filter(|h| h.score >= floor)
        .count()
        .min(exact.len())
}

/// The exact `k` nearest rows by brute force, best first (ties by row).
pub fn exact_search(
    vectors: &[f32],
    dim: usize,
    query: &[f32],
    k: usize,
    keep: Option<&dyn Fn(usize) -> bool>,
) -> Vec<Hit> {
    let hits: Vec<Hit> = vectors
        .chunks_exact(dim)
        .enumerate()
        .filter(|(row, _)| keep.is_none_or(|f| f(*row)))
        .map(|(row, v)| Hit {
            row,
            score: dot(v, query),
        })
        .collect();
    crate::index::best_k(hits, k, |a: &Hit, b: &Hit| {
        b.score.total_cmp(&a.score).then(a.row.cmp(&b.row))
    })
}

/// The exact `k` nearest rows of each of `queries` (rows of `vectors`),
/// each list as [`exact_search`] gives it, in one pass over the matrix on
/// every core: each row is read once for all queries, so asking twenty
/// queries of a million rows costs about one scan, not twenty.
pub fn exact_search_rows(
    vectors: &[f32],
    dim: usize,
    queries: &[usize],
    k: usize,
    keep: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Vec<Hit>> {
    let dim = dim.max(1);
    let rows = vectors.len() / dim;
    if queries.is_empty() || rows == 0 || k == 0 {
        return vec![Vec::new(); queries.len()];
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = rows.div_ceil(threads).max(1);
    let query = |i: usize| &vectors[queries[i] * dim..(queries[i] + 1) * dim];
    let scan = |from: usize| -> Vec<Vec<Hit>> {
        let mut best: Vec<Vec<Hit>> = vec![Vec::with_capacity(k + 1); queries.len()];
        let mut scores = Vec::with_capacity(queries.len());
        for row in (from..rows.min(from + per)).filter(|&r| keep(r)) {
            let v = &vectors[row * dim..(row + 1) * dim];
            // Four queries at a time: the same numbers as one by one.
            dot_each(v, queries.len(), query, &mut scores);
            for (list, &score) in best.iter_mut().zip(&scores) {
                let hit = Hit { row, score };
                // Rows come in order, so a tie never displaces a kept row.
                if list.len() == k && list[k - 1].score >= hit.score {
                    continue;
                }
                let at = list.partition_point(|h| h.score >= hit.score);
                list.insert(at, hit);
                list.truncate(k);
            }
        }
        best
    };
    let parts: Vec<Vec<Vec<Hit>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..rows)
            .step_by(per)
            .map(|from| s.spawn(move || scan(from)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("invariant: an exact scan does not panic"))
            .collect()
    });
    (0..queries.len())
        .map(|i| {
            let all: Vec<Hit> = parts.iter().flat_map(|p| p[i].iter().copied()).collect();
            crate::index::best_k(all, k, |a: &Hit, b: &Hit| {
                b.score.total_cmp(&a.score).then(a.row.cmp(&b.row))
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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
    fn one_pass_for_many_queries_finds_what_each_scan_finds() {
        // Duplicated rows make ties, which both must break by row.
        let mut data = random_unit(300, 8, 11);
        let copy = data[..8 * 40].to_vec();
        data.extend_from_slice(&copy);
        let keep = |r: usize| r % 7 != 3;
        let queries: Vec<usize> = (0..340).step_by(17).collect();
        for k in [1, 10, 400] {
            let many = exact_search_rows(&data, 8, &queries, k, &keep);
            for (hits, &q) in many.iter().zip(&queries) {
                let one = exact_search(&data, 8, &data[q * 8..(q + 1) * 8], k, Some(&keep));
                assert_eq!(hits, &one, "query row {q}, k {k}");
            }
        }
        assert!(exact_search_rows(&data, 8, &[], 10, &keep).is_empty());
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
        for max_layer in [0, 65] {
            let p = HnswParams {
                max_layer,
                ..HnswParams::default()
            };
            assert!(p.validate().is_err());
        }
    }
}
