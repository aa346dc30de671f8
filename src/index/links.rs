//! Where the link lists of a graph under construction are kept: in memory
//! for every row ([`RowLinks`], a graph built from nothing), or, for a
//! stored graph being extended, in an [`Overlay`] of it, without reading it
//! into link lists: a row's lists are copied out of the graph the first
//! time an insertion changes them, every other row is read where it lies,
//! and the new graph is written from both in one pass. An update that adds
//! a handful of rows thus touches a few hundred rows' lists, not every
//! row's (issue 29: reading a 990,000-row graph into lists and writing it
//! back took most of an update's second of graph work).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::index::mmap_graph::MmapGraph;

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave a link list half-written: every update
    // replaces or pushes whole values.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the link lists of a graph under construction are kept: each row's
/// lists (one per layer it is in, layer 0 first) behind a lock.
pub(crate) trait LinkStore: Sync {
    /// Rows.
    fn rows(&self) -> usize;
    /// Copies `row`'s links in `layer` into `out` (none when it is not in it).
    fn read(&self, row: u32, layer: usize, out: &mut Vec<u32>);
    /// The layers `row` is in.
    fn levels(&self, row: u32) -> usize;
    /// Runs `f` on `row`'s link lists, under its lock.
    fn update(&self, row: u32, f: &mut dyn FnMut(&mut Vec<Vec<u32>>));
    /// The graph, entered at `entry` in layer `top`.
    fn into_graph(self, top: usize, entry: usize) -> MmapGraph;
}

/// Every row's link lists in memory, each behind its own lock: a graph
/// built from nothing.
pub(crate) type RowLinks = Vec<Mutex<Vec<Vec<u32>>>>;

impl LinkStore for RowLinks {
    fn rows(&self) -> usize {
        self.len()
    }
    fn read(&self, row: u32, layer: usize, out: &mut Vec<u32>) {
        out.clear();
        if let Some(l) = lock(&self[row as usize]).get(layer) {
            out.extend_from_slice(l);
        }
    }
    fn levels(&self, row: u32) -> usize {
        lock(&self[row as usize]).len()
    }
    fn update(&self, row: u32, f: &mut dyn FnMut(&mut Vec<Vec<u32>>)) {
        f(&mut lock(&self[row as usize]))
    }
    fn into_graph(self, top: usize, entry: usize) -> MmapGraph {
        let links: Vec<Vec<Vec<u32>>> = self
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect();
        MmapGraph::from_links(top, entry, &links)
    }
}

/// Shards of the changed rows' lists: threads inserting rows far apart
/// seldom wait on each other.
const SHARDS: usize = 64;

/// The lists of a graph being extended: `base`'s, with those of the rows
/// changed or added since.
pub(crate) struct Overlay<'g> {
    base: &'g MmapGraph,
    rows: usize,
    changed: Vec<Mutex<HashMap<u32, Vec<Vec<u32>>>>>,
}

impl<'g> Overlay<'g> {
    /// `base` (whose rows are the first of `rows`), with rows
    /// `base.rows()..rows` added, each with its lists `new(row)` (empty).
    pub(crate) fn new(
        base: &'g MmapGraph,
        rows: usize,
        new: impl Fn(usize) -> Vec<Vec<u32>>,
    ) -> Overlay<'g> {
        let mut changed: Vec<HashMap<u32, Vec<Vec<u32>>>> = vec![HashMap::new(); SHARDS];
        for row in base.rows().min(rows)..rows {
            changed[row % SHARDS].insert(row as u32, new(row));
        }
        Overlay {
            base,
            rows,
            changed: changed.into_iter().map(Mutex::new).collect(),
        }
    }

    fn shard(&self, row: u32) -> &Mutex<HashMap<u32, Vec<Vec<u32>>>> {
        &self.changed[row as usize % SHARDS]
    }
}

impl LinkStore for Overlay<'_> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn read(&self, row: u32, layer: usize, out: &mut Vec<u32>) {
        out.clear();
        match lock(self.shard(row)).get(&row) {
            Some(lists) => out.extend_from_slice(lists.get(layer).map_or(&[], Vec::as_slice)),
            None if layer < self.base.layers() => {
                out.extend_from_slice(self.base.neighbours(layer, row))
            }
            None => {}
        }
    }

    fn levels(&self, row: u32) -> usize {
        match lock(self.shard(row)).get(&row) {
            Some(lists) => lists.len(),
            None => self.base.row_links(row).len(),
        }
    }

    fn update(&self, row: u32, f: &mut dyn FnMut(&mut Vec<Vec<u32>>)) {
        let mut shard = lock(self.shard(row));
        f(shard.entry(row).or_insert_with(|| self.base.row_links(row)))
    }

    fn into_graph(self, top: usize, entry: usize) -> MmapGraph {
        let changed: HashMap<u32, Vec<Vec<u32>>> = self
            .changed
            .into_iter()
            .flat_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect();
        let base = self.base;
        // Few rows changed: a patch over the base file.
        if let Some(graph) = super::graph_patch::patched(base, self.rows, top, entry, &changed) {
            return graph;
        }
        let old = base.rows().min(self.rows) as u32;
        // Each upper layer: the old rows in it, then the new ones (higher
        // numbers) whose lists reach it.
        let mut added: Vec<(u32, usize)> = changed
            .iter()
            .filter(|(&r, _)| r >= old)
            .map(|(&r, l)| (r, l.len()))
            .collect();
        added.sort_unstable();
        let nodes = |layer: usize| {
            let mut nodes = base.layer_nodes(layer).to_vec();
            nodes.extend(added.iter().filter(|a| a.1 > layer).map(|a| a.0));
            nodes
        };
        let list = |layer: usize, row: u32| match changed.get(&row) {
            Some(lists) => lists.get(layer).map_or(&[][..], Vec::as_slice),
            None if row < old => base.neighbours(layer, row),
            None => &[],
        };
        MmapGraph::from_lists(self.rows, top, entry, nodes, list)
    }
}
