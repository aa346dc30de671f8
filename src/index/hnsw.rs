//! Builds and extends HNSW graphs (Malkov & Yashunin, 2016) over the rows of
//! a vector matrix, straight into the memory-mappable form queries walk
//! ([`MmapGraph`]).
//!
//! The graph holds row numbers only: the vectors stay in the index's one
//! vector file, so nothing is stored twice (hnsw_rs, used before, kept a copy
//! of every vector in memory while building and another in its dump). An
//! extension inserts the new rows into an overlay of the saved graph (only
//! the rows whose links change are copied out of it, `index/links.rs`)
//! and writes a new graph; the old rows keep their numbers.
//!
//! Insertion runs on every core: each row's links sit behind their own lock
//! and are copied out before any distance is computed, as in hnswlib. A
//! row's layer comes from a hash of its number, so the layers (not the links,
//! which depend on the order threads insert in) are the same on every run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Mutex, RwLock};

use crate::index::ann::HnswParams;
use crate::index::links::{LinkStore, Overlay, RowLinks};
use crate::index::mmap_graph::{MmapGraph, Ordered as Sim};
use crate::model::vector::{dot, dot_each};

/// The layer of `row`: geometric with ratio 1/m, from a hash of the row
/// number, capped below `max_layer`.
fn level_of(row: usize, m: usize, max_layer: usize) -> usize {
    // splitmix64
    let mut z = (row as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // Uniform in (0, 1].
    let u = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let ml = 1.0 / (m.max(2) as f64).ln();
    ((-u.ln() * ml) as usize).min(max_layer.saturating_sub(1))
}

/// Link lists under construction: for each row, its neighbours in each of
/// its layers (layer 0 first).
struct Layered<'v, L: LinkStore = RowLinks> {
    vectors: &'v [f32],
    dim: usize,
    m: usize,
    ef_construction: usize,
    links: L,
    /// The entry row and the top layer; None while the graph is empty.
    entry: RwLock<Option<(u32, usize)>>,
}

/// Per-thread search state: a visited mark per row, reset by bumping `epoch`.
struct Scratch {
    seen: Vec<u32>,
    epoch: u32,
    copy: Vec<u32>,
    sims: Vec<f32>,
}

impl Scratch {
    fn new(rows: usize) -> Self {
        Scratch {
            seen: vec![0; rows],
            epoch: 0,
            copy: Vec::new(),
            sims: Vec::new(),
        }
    }

    fn next_epoch(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.epoch = 1;
        }
    }

    /// Marks `row`; true when it was already marked in this epoch.
    fn mark(&mut self, row: u32) -> bool {
        let s = &mut self.seen[row as usize];
        let seen = *s == self.epoch;
        *s = self.epoch;
        seen
    }
}

impl<'v, L: LinkStore> Layered<'v, L> {
    fn vector(&self, row: u32) -> &'v [f32] {
        let r = row as usize;
        &self.vectors[r * self.dim..(r + 1) * self.dim]
    }

    fn sim(&self, a: u32, b: &[f32]) -> f32 {
        dot(self.vector(a), b)
    }

    /// Copies `row`'s links in `layer` into `out`.
    fn neighbours_into(&self, row: u32, layer: usize, out: &mut Vec<u32>) {
        self.links.read(row, layer, out);
    }

    /// Links allowed per row in `layer`.
    fn max_links(&self, layer: usize) -> usize {
        if layer == 0 {
            2 * self.m
        } else {
            self.m
        }
    }

    /// The `ef` rows nearest `query` in `layer` reachable from `entry`, best first.
    fn search_layer(
        &self,
        query: &[f32],
        entry: (f32, u32),
        ef: usize,
        layer: usize,
        scratch: &mut Scratch,
    ) -> Vec<(f32, u32)> {
        scratch.next_epoch();
        scratch.mark(entry.1);
        let mut candidates = BinaryHeap::new();
        let mut results: BinaryHeap<Reverse<(Sim, u32)>> = BinaryHeap::new();
        candidates.push((Sim(entry.0), entry.1));
        results.push(Reverse((Sim(entry.0), entry.1)));
        let mut copy = std::mem::take(&mut scratch.copy);
        let mut sims = std::mem::take(&mut scratch.sims);
        while let Some((Sim(s), row)) = candidates.pop() {
            let worst = results.peek().map_or(f32::MIN, |r| r.0 .0 .0);
            if results.len() >= ef && s < worst {
                break;
            }
            self.neighbours_into(row, layer, &mut copy);
            // The unseen ones, compared four at a time (the same numbers
            // as one by one).
            copy.retain(|&n| !scratch.mark(n));
            dot_each(query, copy.len(), |i| self.vector(copy[i]), &mut sims);
            for (&n, &sn) in copy.iter().zip(&sims) {
                let worst = results.peek().map_or(f32::MIN, |r| r.0 .0 .0);
                if results.len() < ef || sn > worst {
                    candidates.push((Sim(sn), n));
                    results.push(Reverse((Sim(sn), n)));
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        scratch.copy = copy;
        scratch.sims = sims;
        let mut out: Vec<(f32, u32)> = results
            .into_iter()
            .map(|Reverse((Sim(s), r))| (s, r))
            .collect();
        out.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        out
    }

    /// Picks up to `m` of `candidates` (best first, similarity to the base):
    /// a candidate is taken when it is nearer the base than any taken one
    /// (the HNSW heuristic, which keeps links pointing in many directions).
    /// The rest of the room goes to the skipped ones least like the taken
    /// ones: a row among many near-duplicates still gets its full count of
    /// links, and a distinct row is not crowded out of its neighbours' lists
    /// by copies of one vector.
    fn select(&self, candidates: &[(f32, u32)], m: usize) -> Vec<(f32, u32)> {
        let mut chosen: Vec<(f32, u32)> = Vec::with_capacity(m);
        // (similarity to the taken one that ruled it out, similarity to the base, row)
        let mut skipped: Vec<(f32, f32, u32)> = Vec::new();
        for &(s, c) in candidates {
            if chosen.len() >= m {
                break;
            }
            let v = self.vector(c);
            match chosen
                .iter()
                .map(|&(_, r)| self.sim(r, v))
                .find(|&rs| rs >= s)
            {
                None => chosen.push((s, c)),
                Some(rs) => skipped.push((rs, s, c)),
            }
        }
        if chosen.len() < m && !skipped.is_empty() {
            skipped.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
            chosen.extend(
                skipped
                    .into_iter()
                    .take(m - chosen.len())
                    .map(|(_, s, c)| (s, c)),
            );
        }
        chosen
    }

    /// Sets `row`'s links in `layer` to `chosen`, keeping any link another
    /// thread added meanwhile (a row that found this one while it was being
    /// inserted), pruning when that makes the list too long.
    fn set_links(&self, row: u32, layer: usize, chosen: &[(f32, u32)]) {
        let max = self.max_links(layer);
        self.links.update(row, &mut |links| {
            let Some(list) = links.get_mut(layer) else {
                return;
            };
            let added: Vec<u32> = list
                .iter()
                .copied()
                .filter(|r| !chosen.iter().any(|c| c.1 == *r))
                .collect();
            *list = chosen.iter().map(|&(_, r)| r).collect();
            if added.is_empty() {
                return;
            }
            list.extend(added);
            if list.len() > max {
                let base = self.vector(row);
                let mut candidates: Vec<(f32, u32)> =
                    list.iter().map(|&r| (self.sim(r, base), r)).collect();
                candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                *list = self
                    .select(&candidates, max)
                    .into_iter()
                    .map(|(_, r)| r)
                    .collect();
            }
        })
    }

    /// Adds a link `from -> to` in `layer`, pruning `from`'s list when full.
    fn connect(&self, from: u32, to: u32, layer: usize) {
        let max = self.max_links(layer);
        self.links.update(from, &mut |links| {
            let Some(list) = links.get_mut(layer) else {
                return;
            };
            if list.contains(&to) {
                return;
            }
            if list.len() < max {
                list.push(to);
                return;
            }
            let base = self.vector(from);
            let mut candidates: Vec<(f32, u32)> = list
                .iter()
                .chain(std::iter::once(&to))
                .map(|&r| (self.sim(r, base), r))
                .collect();
            candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            *list = self
                .select(&candidates, max)
                .into_iter()
                .map(|(_, r)| r)
                .collect();
        })
    }

    /// Inserts `row`, whose link lists exist (one per layer, empty). A new row
    /// takes M links, as in hnswlib (its neighbours keep up to 2M in layer 0).
    /// Taking 2M, as hnsw_rs does, raised recall@10 at ef 64 from 0.939 to
    /// 0.958 at 100,000 vectors with out-of-distribution queries, but lowered
    /// it on xquad-en from 0.999 to 0.990 (engine nDCG@10 −0.004 to −0.006).
    fn insert(&self, row: u32, scratch: &mut Scratch) {
        let level = self.links.levels(row) - 1;
        let query = self.vector(row);
        let current = *self.entry.read().unwrap_or_else(|e| e.into_inner());
        let (entry, top) = match current {
            Some(x) => x,
            None => {
                let mut e = self.entry.write().unwrap_or_else(|e| e.into_inner());
                match *e {
                    None => {
                        *e = Some((row, level));
                        return;
                    }
                    Some(x) => x,
                }
            }
        };
        // Greedy descent to the row's own top layer.
        let mut ep = (self.sim(entry, query), entry);
        let mut copy = Vec::new();
        for layer in (level + 1..=top).rev() {
            loop {
                let mut moved = false;
                self.neighbours_into(ep.1, layer, &mut copy);
                for &n in &copy {
                    let s = self.sim(n, query);
                    if s > ep.0 {
                        ep = (s, n);
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        for layer in (0..=level.min(top)).rev() {
            let found = self.search_layer(query, ep, self.ef_construction, layer, scratch);
            let chosen = self.select(
                &found
                    .iter()
                    .copied()
                    .filter(|&(_, r)| r != row)
                    .collect::<Vec<_>>(),
                self.m,
            );
            self.set_links(row, layer, &chosen);
            for &(_, n) in &chosen {
                self.connect(n, row, layer);
            }
            if let Some(&best) = found.first() {
                ep = best;
            }
        }
        if level > top {
            let mut e = self.entry.write().unwrap_or_else(|e| e.into_inner());
            if e.is_none_or(|(_, t)| level > t) {
                *e = Some((row, level));
            }
        }
    }

    /// Inserts `todo` (rows, in that order as far as threads allow) on
    /// `threads` threads; `progress` gets counts of rows inserted.
    fn insert_all(&self, todo: &[u32], threads: usize, progress: &mut dyn FnMut(usize)) {
        let rows = self.links.rows();
        let to = todo.len();
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        // Rows are claimed in small blocks: few atomic operations, and the
        // early rows (which shape the upper layers) still go in roughly in order.
        const BLOCK: usize = 16;
        let work = |scratch: &mut Scratch| loop {
            let start = next.fetch_add(BLOCK, AtomicOrdering::Relaxed);
            if start >= to {
                break;
            }
            let end = (start + BLOCK).min(to);
            for &row in &todo[start..end] {
                self.insert(row, scratch);
            }
            done.fetch_add(end - start, AtomicOrdering::Relaxed);
        };
        std::thread::scope(|s| {
            for _ in 1..threads.max(1) {
                s.spawn(|| work(&mut Scratch::new(rows)));
            }
            // This thread works too, and reports progress between blocks.
            let mut scratch = Scratch::new(rows);
            let mut reported = 0;
            loop {
                let start = next.fetch_add(BLOCK, AtomicOrdering::Relaxed);
                if start >= to {
                    break;
                }
                let end = (start + BLOCK).min(to);
                for &row in &todo[start..end] {
                    self.insert(row, &mut scratch);
                }
                let d = done.fetch_add(end - start, AtomicOrdering::Relaxed) + end - start;
                progress(d - reported);
                reported = d;
            }
            drop(scratch);
            // Report the others' rows until they are done.
            while reported < to {
                std::thread::sleep(std::time::Duration::from_millis(10));
                let d = done.load(AtomicOrdering::Relaxed);
                progress(d - reported);
                reported = d;
            }
        });
    }

    fn finish(self) -> MmapGraph {
        let (entry, top) = self
            .entry
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or((0, 0));
        self.links.into_graph(top, entry as usize)
    }
}

/// Threads for building: every core.
pub fn build_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Builds a graph over every row of `vectors` (`rows × dim`, unit length).
/// `progress` receives counts of inserted rows.
pub fn build(
    vectors: &[f32],
    dim: usize,
    params: &HnswParams,
    progress: &mut dyn FnMut(usize),
) -> MmapGraph {
    build_with_threads(vectors, dim, params, build_threads(), progress)
}

/// [`build`] on a given number of threads (1 gives the same graph every run).
pub fn build_with_threads(
    vectors: &[f32],
    dim: usize,
    params: &HnswParams,
    threads: usize,
    progress: &mut dyn FnMut(usize),
) -> MmapGraph {
    build_over(vectors, dim, params, threads, &|_| true, progress)
}

/// A graph over the rows of `vectors` that are members only: rows keep
/// their numbers, the others are in no link list (a search never meets
/// them). The graph of the stored questions apart from the answers'.
pub fn build_over(
    vectors: &[f32],
    dim: usize,
    params: &HnswParams,
    threads: usize,
    member: &(dyn Fn(usize) -> bool + Sync),
    progress: &mut dyn FnMut(usize),
) -> MmapGraph {
    let rows = vectors.len() / dim.max(1);
    let layered = Layered {
        vectors,
        dim,
        m: params.m,
        ef_construction: params.ef_construction,
        links: (0..rows)
            .map(|r| Mutex::new(empty_links(r, params)))
            .collect::<RowLinks>(),
        entry: RwLock::new(None),
    };
    let todo: Vec<u32> = (0..rows as u32).filter(|&r| member(r as usize)).collect();
    // The first members one at a time (the first becomes the entry the
    // others start from); the rest on `threads`.
    let (first, rest) = todo.split_at(todo.len().min(ALONE));
    layered.insert_all(first, 1, progress);
    layered.insert_all(rest, threads, progress);
    layered.finish()
}

/// Members a build inserts one at a time before its threads start: rows
/// inserted side by side into a graph of a few rows do not see each other,
/// and shape its upper layers. Inserting only the first alone, 300 builds
/// on 8 threads over 1,500 clustered rows, two cores busy besides
/// (`parallel_insertion_on_many_threads_keeps_recall`), gave recall@10
/// from 0.974 (one below the test's 0.98); with 512 alone, from 0.986
/// (medians 0.9997 both). The cost: 512 rows on one thread.
const ALONE: usize = 512;

/// The most links of a stored graph's list an extension reads, in `m`s: a
/// graph as built has at most `2 m` a list (layer 0); more can only be
/// words changed under a file mapped where it lies ([`Overlay`]).
const BASE_LIST_CAP: usize = 4;

fn empty_links(row: usize, params: &HnswParams) -> Vec<Vec<u32>> {
    vec![Vec::new(); level_of(row, params.m, params.max_layer) + 1]
}

/// The graph `graph` (over its rows) with rows `graph.rows()..` of `vectors`
/// inserted; existing rows keep their numbers and links (plus new links to
/// the new rows).
pub fn extend(
    graph: &MmapGraph,
    vectors: &[f32],
    dim: usize,
    params: &HnswParams,
    progress: &mut dyn FnMut(usize),
) -> MmapGraph {
    extend_over(graph, vectors, dim, params, &|_| true, progress)
}

/// [`extend`] inserting only members (see [`build_over`]): the new rows
/// that are, and the old ones that have become members since.
pub fn extend_over(
    graph: &MmapGraph,
    vectors: &[f32],
    dim: usize,
    params: &HnswParams,
    member: &(dyn Fn(usize) -> bool + Sync),
    progress: &mut dyn FnMut(usize),
) -> MmapGraph {
    let threads = build_threads();
    extend_on(graph, vectors, dim, params, member, threads, None, progress)
}

/// [`extend_over`] where the caller knows which old rows may have become
/// members since `graph` was made (`joined`, numbers below its rows; others
/// are ignored): those alone are looked at among the old rows, rather than
/// every one of them (70–100 ms for the three graphs of an update at a
/// million pairs). A row that was a member is in the graph's lists: a
/// graph of two rows or more links every member it holds.
pub fn extend_joined(
    graph: &MmapGraph,
    vectors: &[f32],
    dim: usize,
    params: &HnswParams,
    member: &(dyn Fn(usize) -> bool + Sync),
    joined: &[usize],
    progress: &mut dyn FnMut(usize),
) -> MmapGraph {
    let threads = build_threads();
    extend_on(
        graph,
        vectors,
        dim,
        params,
        member,
        threads,
        Some(joined),
        progress,
    )
}

/// [`extend_over`] on `threads` threads (1 gives the same graph every run),
/// looking among the old rows at `joined` only where given
/// ([`extend_joined`]). Only the rows whose lists change are read out of
/// `graph` (`index/links.rs`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn extend_on(
    graph: &MmapGraph,
    vectors: &[f32],
    dim: usize,
    params: &HnswParams,
    member: &(dyn Fn(usize) -> bool + Sync),
    threads: usize,
    joined: Option<&[usize]>,
    progress: &mut dyn FnMut(usize),
) -> MmapGraph {
    let rows = vectors.len() / dim.max(1);
    let old = graph.rows().min(rows);
    // A graph of fewer than two rows has no links to tell what is in it:
    // it is built again (over at most one old row).
    if graph.link_count() == 0 {
        return build_over(vectors, dim, params, threads, member, progress);
    }
    let entry = graph.entry();
    // New members, and old rows that have become members (a new stored
    // question identical to an old answer's sentence shares its row), in
    // order.
    let unlinked = |r: usize| (0..graph.layers()).all(|l| graph.neighbours(l, r as u32).is_empty());
    let joins = |r: usize| member(r) && r != entry && unlinked(r);
    let mut todo: Vec<u32> = match joined {
        None => (0..old).filter(|&r| joins(r)).map(|r| r as u32).collect(),
        Some(joined) => {
            let mut some: Vec<u32> = (joined.iter().copied())
                .filter(|&r| r < old && joins(r))
                .map(|r| r as u32)
                .collect();
            some.sort_unstable();
            some.dedup();
            some
        }
    };
    todo.extend(
        (old..rows)
            .filter(|&r| member(r) && r != entry)
            .map(|r| r as u32),
    );
    let layered = Layered {
        vectors,
        dim,
        m: params.m,
        ef_construction: params.ef_construction,
        links: Overlay::new(graph, rows, BASE_LIST_CAP * params.m, |r| {
            empty_links(r, params)
        }),
        entry: RwLock::new(Some((entry as u32, graph.top()))),
    };
    layered.insert_all(&todo, threads, progress);
    layered.finish()
}

#[cfg(test)]
#[path = "hnsw_tests.rs"]
mod tests;
