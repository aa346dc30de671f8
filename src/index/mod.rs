//! What an index is made of, as data: the vectors' graph and the lexical
//! postings, and the retrieval settings a build records.
//!
//! Takes vectors and texts; gives searchable structures that [`crate::store`]
//! persists and [`crate::search`] queries. Imports only [`crate::corpus`]
//! (scripts, for lexical terms) and [`crate::model`] (the per-model defaults).

pub mod ann;
mod graph_patch;
pub mod hnsw;
pub mod lexical;
pub mod lexical_delta;
mod links;
pub mod maxscore;
pub mod mmap_graph;
pub mod probes;
pub mod settings;
pub mod sparse;

/// What searching learns of an index and keeps for the next search (`T`:
/// lazily made tables): learned from the index alone, so a clone starts
/// empty, equal indexes are equal whatever they learned, and it is not shown.
#[derive(Default)]
pub(crate) struct Learned<T>(pub(crate) T);

impl<T: Default> Clone for Learned<T> {
    fn clone(&self) -> Self {
        Learned::default()
    }
}

impl<T> PartialEq for Learned<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> std::fmt::Debug for Learned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Learned").finish_non_exhaustive()
    }
}

/// The best `k` of `hits` by `by_score` (an order, best first), sorted: a
/// partial selection, then a sort of the `k` kept.
pub(crate) fn best_k<T>(
    mut hits: Vec<T>,
    k: usize,
    by_score: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> Vec<T> {
    if hits.len() > k {
        hits.select_nth_unstable_by(k, &by_score);
        hits.truncate(k);
    }
    hits.sort_by(by_score);
    hits
}

/// Scored documents `(position, score)` best first, ties by position: the
/// order of the lexical and sparse arms' hits.
pub(crate) fn by_score(a: &(usize, f32), b: &(usize, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}
