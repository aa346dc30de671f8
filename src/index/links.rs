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

use crate::index::graph_patch::patched;
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
///
/// The base may be searched where its file lies (an update's opening maps
/// the previous generation's graphs, `store::open_for_update`), whose words
/// could change under it after they were checked. So what is read of the
/// base is read as [`MmapGraph::links_read`] gives it: links to rows of the
/// base only, at most `cap` a list (more than any list of a graph as built
/// has). For a base as it was checked, that is every link; for one changed
/// under the update, a wrong graph at worst, never an index out of bounds,
/// and the update refuses to commit once it finds the file changed
/// (`Snapshot::files_intact`).
pub(crate) struct Overlay<'g> {
    base: &'g MmapGraph,
    rows: usize,
    cap: usize,
    changed: Vec<Mutex<HashMap<u32, Vec<Vec<u32>>>>>,
}

impl<'g> Overlay<'g> {
    /// `base` (whose rows are the first of `rows`), with rows
    /// `base.rows()..rows` added, each with its lists `new(row)` (empty);
    /// at most `cap` links of a base list are read.
    pub(crate) fn new(
        base: &'g MmapGraph,
        rows: usize,
        cap: usize,
        new: impl Fn(usize) -> Vec<Vec<u32>>,
    ) -> Overlay<'g> {
        let mut changed: Vec<HashMap<u32, Vec<Vec<u32>>>> = vec![HashMap::new(); SHARDS];
        for row in base.rows().min(rows)..rows {
            changed[row % SHARDS].insert(row as u32, new(row));
        }
        Overlay {
            base,
            rows,
            cap,
            changed: changed.into_iter().map(Mutex::new).collect(),
        }
    }

    fn shard(&self, row: u32) -> &Mutex<HashMap<u32, Vec<Vec<u32>>>> {
        &self.changed[row as usize % SHARDS]
    }

    /// `row`'s lists in the base, as an extension reads them.
    fn base_lists(&self, row: u32) -> Vec<Vec<u32>> {
        (0..self.base.levels(row))
            .map(|l| self.base.links_read(l, row, self.cap).collect())
            .collect()
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
                out.extend(self.base.links_read(layer, row, self.cap))
            }
            None => {}
        }
    }

    fn levels(&self, row: u32) -> usize {
        match lock(self.shard(row)).get(&row) {
            Some(lists) => lists.len(),
            None => self.base.levels(row),
        }
    }

    fn update(&self, row: u32, f: &mut dyn FnMut(&mut Vec<Vec<u32>>)) {
        let mut shard = lock(self.shard(row));
        f(shard.entry(row).or_insert_with(|| self.base_lists(row)))
    }

    fn into_graph(self, top: usize, entry: usize) -> MmapGraph {
        let changed: HashMap<u32, Vec<Vec<u32>>> = self
            .changed
            .into_iter()
            .flat_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect();
        // Few rows changed: a patch over the base file.
        if let Some(graph) = patched(self.base, self.rows, top, entry, &changed) {
            return graph;
        }
        // Every list of the base is read to write the graph whole: one
        // searched where its file lies is copied and checked again first
        // (a file changed since its check is not written out as a graph).
        let copy;
        let base = match self.base.in_place() {
            false => self.base,
            true => match self.base.checked_copy() {
                Ok(checked) => {
                    copy = checked;
                    &copy
                }
                Err(why) => {
                    log::warn!("the graph's file changed while it was extended ({why}): its new rows alone are kept, and the update will refuse to commit");
                    return MmapGraph::of_rows(self.rows, top, entry, &changed);
                }
            },
        };
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
