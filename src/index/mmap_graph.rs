//! A memory-mappable copy of an HNSW graph (arrays of `u32`), searched in place.
//!
//! [`crate::index::hnsw`] builds the graph as link lists and writes it here as
//! arrays of `u32` (one CSR adjacency per layer); a query walks them
//! directly, over the vectors, with nothing to decode. An extension reads
//! only the rows whose links it changes (`MmapGraph::links_read`, see
//! `index/links.rs`) and, while those are few, writes only them: a graph is
//! its base file and, after updates, a patch of the rows changed since
//! (`index/graph_patch.rs`).
//!
//! File layout (`graph.bin`, little-endian `u32` words):
//! ```text
//! magic "QAHG", version, rows, top layer, entry row
//! for each layer 0..=top:
//!   count, [nodes: count sorted rows; absent for layer 0, which holds every row],
//!   offsets: count + 1, links: offsets[count] rows
//! ```

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, OnceLock};

use crate::index::ann::Hit;
pub(crate) use crate::index::graph_patch::Patch;
use crate::model::vector::{dot, dot_each};

const MAGIC: u32 = u32::from_le_bytes(*b"QAHG");
const VERSION: u32 = 1;

/// Word storage: a memory map or owned words.
#[derive(Debug)]
pub enum Words {
    /// A file's bytes copied into an anonymous mapping (page aligned).
    Mapped(memmap2::Mmap),
    /// Words in memory.
    Owned(Vec<u32>),
    /// A file mapped where it lies (page aligned), which may change under
    /// the graph: what its words say is bounds-checked wherever it is read
    /// ([`Csr::neighbours`], [`MmapGraph::search_within`]), so changed
    /// words make a wrong walk, never a read out of bounds.
    File(Arc<dyn FileWords>),
}

/// A mapped file a graph is searched in (the store's, checked against its
/// sum when mapped, and asked afterwards whether it stayed so).
pub trait FileWords: Send + Sync + std::fmt::Debug {
    /// The file's bytes.
    fn bytes(&self) -> &[u8];
}

impl Words {
    pub(crate) fn as_words(&self) -> Option<&[u32]> {
        match self {
            Words::Mapped(m) => bytemuck::try_cast_slice(&m[..]).ok(),
            Words::Owned(v) => Some(v),
            Words::File(f) => bytemuck::try_cast_slice(f.bytes()).ok(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Layer {
    count: usize,
    /// Word offset of the sorted node rows (None for a layer of every row).
    nodes: Option<usize>,
    offsets: usize,
    links: usize,
}

/// One file's arrays, checked: a whole graph's, or a patch's rows.
#[derive(Debug)]
pub(crate) struct Csr {
    words: Words,
    pub(crate) rows: usize,
    pub(crate) entry: u32,
    layers: Vec<Layer>,
    /// CRC-32 of the file's bytes (known from the manifest once the file
    /// was read and checked; computed otherwise).
    crc: OnceLock<u32>,
}

impl Csr {
    /// Checks and indexes the arrays of `words` after a header of `at`
    /// words: layers `0..=top` over `rows` rows, layer 0 holding every row
    /// (`dense0`) or listing its nodes. Every offset and link is
    /// bounds-checked here, so a search can never index out of range.
    pub(crate) fn parse(
        words: Words,
        at: usize,
        rows: usize,
        top: usize,
        entry: u32,
        dense0: bool,
    ) -> Result<Csr, Invalid> {
        let w = words.as_words().ok_or("length is not a multiple of 4")?;
        let get = |i: usize| {
            w.get(i)
                .copied()
                .ok_or_else(|| format!("truncated at word {i}"))
        };
        if top > 64 || (rows > 0 && entry as usize >= rows) {
            return Err(format!("bad header: {top} layers, entry {entry} of {rows}"));
        }
        let mut at = at;
        let mut layers = Vec::with_capacity(top + 1);
        for layer in 0..=top {
            let count = get(at)? as usize;
            at += 1;
            let listed = layer > 0 || !dense0;
            if count > rows || (!listed && count != rows) {
                return Err(format!("layer {layer} has {count} nodes of {rows}"));
            }
            let nodes = if listed {
                let slice = w.get(at..at + count).ok_or("truncated node list")?;
                if slice.windows(2).any(|p| p[0] >= p[1])
                    || slice.last().is_some_and(|&r| r as usize >= rows)
                {
                    return Err(format!("layer {layer}: nodes not sorted or out of range"));
                }
                at += count;
                Some(at - count)
            } else {
                None
            };
            let offsets = at;
            let offs = w.get(at..at + count + 1).ok_or("truncated offsets")?;
            if offs[0] != 0 || offs.windows(2).any(|p| p[0] > p[1]) {
                return Err(format!("layer {layer}: offsets out of order"));
            }
            at += count + 1;
            let n_links = offs[count] as usize;
            let links = w.get(at..at + n_links).ok_or("truncated links")?;
            if links.iter().any(|&r| r as usize >= rows) {
                return Err(format!("layer {layer}: link to a row out of range"));
            }
            layers.push(Layer {
                count,
                nodes,
                offsets,
                links: at,
            });
            at += n_links;
        }
        if at != w.len() {
            return Err(format!("{} trailing words", w.len() - at));
        }
        Ok(Csr {
            words,
            rows,
            entry,
            layers,
            crc: OnceLock::new(),
        })
    }

    pub(crate) fn words(&self) -> &[u32] {
        self.words.as_words().expect("invariant: checked in parse")
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(self.words())
    }

    /// CRC-32 of the file's bytes.
    pub(crate) fn crc(&self) -> u32 {
        *self.crc.get_or_init(|| crc32fast::hash(self.as_bytes()))
    }

    /// The top layer.
    pub(crate) fn top(&self) -> usize {
        self.layers.len().saturating_sub(1)
    }

    /// Position of `row` within `layer` (None past the top layer).
    fn local(&self, layer: usize, row: u32) -> Option<usize> {
        let l = self.layers.get(layer)?;
        match l.nodes {
            None => ((row as usize) < self.rows).then_some(row as usize),
            Some(at) => self.words()[at..at + l.count].binary_search(&row).ok(),
        }
    }

    pub(crate) fn in_layer(&self, layer: usize, row: u32) -> bool {
        self.local(layer, row).is_some()
    }

    /// The sorted rows of a layer that lists them (empty for one that does
    /// not, and past the top).
    pub(crate) fn nodes(&self, layer: usize) -> &[u32] {
        match self.layers.get(layer) {
            Some(Layer {
                nodes: Some(at),
                count,
                ..
            }) => &self.words()[*at..*at + *count],
            _ => &[],
        }
    }

    /// `row`'s links in `layer` (none past its layers). The offsets are
    /// read with bounds checks: checked in `parse`, they can change only
    /// in a file mapped where it lies (then a list out of bounds is empty).
    pub(crate) fn neighbours(&self, layer: usize, row: u32) -> &[u32] {
        let Some(i) = self.local(layer, row) else {
            return &[];
        };
        let l = self.layers[layer];
        let w = self.words();
        let (Some(&a), Some(&b)) = (w.get(l.offsets + i), w.get(l.offsets + i + 1)) else {
            return &[];
        };
        w.get(l.links + a as usize..l.links + b as usize)
            .unwrap_or_default()
    }

    /// Links in every layer.
    pub(crate) fn link_count(&self) -> usize {
        let w = self.words();
        self.layers
            .iter()
            .map(|l| w[l.offsets + l.count] as usize)
            .sum()
    }
}

/// Words of layers `0..=top` of a graph file after `header`: for each
/// layer, its count, its nodes (`nodes(layer)`, sorted; none for a layer
/// of every row: layer 0 when `dense0`), the offsets and the lists.
pub(crate) fn layer_words<'a>(
    header: Vec<u32>,
    rows: usize,
    top: usize,
    dense0: bool,
    nodes: impl Fn(usize) -> Vec<u32>,
    list: impl Fn(usize, u32) -> &'a [u32],
) -> Vec<u32> {
    let mut w = header;
    for layer in 0..=top {
        let nodes = (layer > 0 || !dense0).then(|| nodes(layer));
        let count = nodes.as_ref().map_or(rows, Vec::len);
        let node = |i: usize| nodes.as_ref().map_or(i as u32, |n| n[i]);
        w.push(count as u32);
        if let Some(nodes) = &nodes {
            w.extend_from_slice(nodes);
        }
        let mut offset = 0u32;
        w.push(0);
        for i in 0..count {
            offset += list(layer, node(i)).len() as u32;
            w.push(offset);
        }
        for i in 0..count {
            w.extend_from_slice(list(layer, node(i)));
        }
    }
    w
}

/// An HNSW graph as arrays of `u32`: its base file's, and the rows a patch
/// changed or added since, when it has one.
#[derive(Debug)]
pub struct MmapGraph {
    pub(crate) base: Arc<Csr>,
    pub(crate) patch: Option<Patch>,
}

/// Why a graph file was refused.
pub type Invalid = String;

impl MmapGraph {
    /// The graph of link lists `links` (for each row, its neighbours in each
    /// of its layers, layer 0 first), entered at row `entry` in layer `top`.
    pub fn from_links(top: usize, entry: usize, links: &[Vec<Vec<u32>>]) -> MmapGraph {
        let rows = links.len();
        MmapGraph::from_lists(
            rows,
            top,
            entry,
            |layer| {
                (0..rows as u32)
                    .filter(|&r| links[r as usize].len() > layer)
                    .collect()
            },
            |layer, r| links[r as usize].get(layer).map_or(&[], Vec::as_slice),
        )
    }

    /// The graph of `rows` rows entered at row `entry` in layer `top`, whose
    /// layer `l > 0` holds the rows `nodes(l)` (sorted; layer 0 holds every
    /// row), each row linked in layer `l` to `list(l, row)`.
    pub fn from_lists<'a>(
        rows: usize,
        top: usize,
        entry: usize,
        nodes: impl Fn(usize) -> Vec<u32>,
        list: impl Fn(usize, u32) -> &'a [u32],
    ) -> MmapGraph {
        let header = vec![MAGIC, VERSION, rows as u32, top as u32, entry as u32];
        let w = layer_words(header, rows, top, true, nodes, list);
        MmapGraph::parse(Words::Owned(w)).expect("invariant: a graph of link lists is valid")
    }

    /// The rows of layer `layer > 0`, sorted (empty past the top layer).
    pub(crate) fn layer_nodes(&self, layer: usize) -> Cow<'_, [u32]> {
        let base = self.base.nodes(layer);
        match &self.patch {
            None => Cow::Borrowed(base),
            // Old rows keep their layers; the new rows (higher numbers)
            // follow them.
            Some(p) => {
                let mut nodes = base.to_vec();
                let new = p.csr.nodes(layer);
                let from = new.partition_point(|&r| (r as usize) < self.base.rows);
                nodes.extend_from_slice(&new[from..]);
                Cow::Owned(nodes)
            }
        }
    }

    /// Layers.
    pub(crate) fn layers(&self) -> usize {
        self.top() + 1
    }

    /// The top layer.
    pub(crate) fn top(&self) -> usize {
        self.patch.as_ref().map_or(&*self.base, |p| &p.csr).top()
    }

    /// The entry row.
    pub(crate) fn entry(&self) -> usize {
        self.patch.as_ref().map_or(&*self.base, |p| &p.csr).entry as usize
    }

    /// Links in every layer.
    pub(crate) fn link_count(&self) -> usize {
        let Some(p) = &self.patch else {
            return self.base.link_count();
        };
        let replaced: usize = (p.csr.nodes(0).iter())
            .take_while(|&&r| (r as usize) < self.base.rows)
            .map(|&r| (0..self.base.layers.len()).map(move |l| self.base.neighbours(l, r).len()))
            .map(Iterator::sum::<usize>)
            .sum();
        self.base.link_count() - replaced + p.csr.link_count()
    }

    /// True when `row` is in `layer`.
    pub(crate) fn in_layer(&self, layer: usize, row: u32) -> bool {
        match &self.patch {
            Some(p) if p.has(row) => p.csr.in_layer(layer, row),
            _ => self.base.in_layer(layer, row),
        }
    }

    /// The layers `row` is in (at least 1).
    pub(crate) fn levels(&self, row: u32) -> usize {
        (0..self.layers())
            .rev()
            .find(|&l| self.in_layer(l, row))
            .map_or(1, |l| l + 1)
    }

    /// `row`'s link lists, one per layer up to the highest it is in (as
    /// [`MmapGraph::links`] gives them).
    #[cfg(test)]
    pub(crate) fn row_links(&self, row: u32) -> Vec<Vec<u32>> {
        (0..self.levels(row))
            .map(|l| self.neighbours(l, row).to_vec())
            .collect()
    }

    /// The link lists, top layer and entry row (the inverse of [`MmapGraph::from_links`]).
    pub fn links(&self) -> (usize, usize, Vec<Vec<Vec<u32>>>) {
        let mut links: Vec<Vec<Vec<u32>>> = (0..self.rows() as u32)
            .map(|r| vec![self.neighbours(0, r).to_vec()])
            .collect();
        for layer in 1..self.layers() {
            for &row in self.layer_nodes(layer).iter() {
                let list = &mut links[row as usize];
                // A node of an upper layer is in every layer below (parse checks
                // the top; fill any gap rather than misnumber layers).
                while list.len() < layer {
                    list.push(Vec::new());
                }
                list.push(self.neighbours(layer, row).to_vec());
            }
        }
        (self.top(), self.entry(), links)
    }

    /// The base file's bytes (little-endian words): the whole graph when it
    /// has no patch.
    pub fn base_bytes(&self) -> &[u8] {
        self.base.as_bytes()
    }

    /// The graph as one file (its patch applied), copied.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.patch {
            None => self.base_bytes().to_vec(),
            Some(_) => {
                let (top, entry, links) = self.links();
                MmapGraph::from_links(top, entry, &links)
                    .base_bytes()
                    .to_vec()
            }
        }
    }

    /// Checks and indexes a graph file (a whole graph, or the base of a
    /// patched one: [`MmapGraph::with_patch`]). Every offset and link is
    /// bounds-checked here, so a search can never index out of range.
    pub fn parse(words: Words) -> Result<MmapGraph, Invalid> {
        if cfg!(target_endian = "big") {
            return Err("graph files are little-endian; this machine is not".into());
        }
        let w = words.as_words().ok_or("length is not a multiple of 4")?;
        let get = |i: usize| {
            w.get(i)
                .copied()
                .ok_or_else(|| format!("truncated at word {i}"))
        };
        if get(0)? != MAGIC || get(1)? != VERSION {
            return Err("not a qasearch graph file of version 1".into());
        }
        let (rows, top, entry) = (get(2)? as usize, get(3)? as usize, get(4)?);
        let csr = Csr::parse(words, 5, rows, top, entry, true)?;
        // The entry must be in the top layer.
        if rows > 0 && !csr.in_layer(top, entry) {
            return Err("entry row is not in the top layer".into());
        }
        Ok(MmapGraph {
            base: Arc::new(csr),
            patch: None,
        })
    }

    /// Records the CRC-32 of the base file's bytes, as checked when it was
    /// read (else computed when a patch needs it).
    pub fn know_base_crc(&self, crc: u32) {
        let _ = self.base.crc.set(crc);
    }

    /// A graph of no rows (a generation whose vectors are searched elsewhere).
    pub fn empty() -> MmapGraph {
        // Header (magic, version, rows, top layer, entry), then layer 0: no
        // nodes, one offset.
        let words = vec![MAGIC, VERSION, 0, 0, 0, 0, 0];
        MmapGraph::parse(Words::Owned(words)).expect("invariant: a valid empty graph")
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.patch.as_ref().map_or(self.base.rows, |p| p.csr.rows)
    }

    /// `row`'s neighbours in `layer` (none past its layers).
    #[inline]
    pub(crate) fn neighbours(&self, layer: usize, row: u32) -> &[u32] {
        match &self.patch {
            Some(p) if p.has(row) => p.csr.neighbours(layer, row),
            _ => self.base.neighbours(layer, row),
        }
    }

    /// `row`'s links in `layer` to rows under `rows`: every link of a graph
    /// as `parse` checked it; a link out of range can only be a word
    /// changed under a file mapped where it lies, and is passed over.
    #[inline]
    fn links_under(&self, layer: usize, row: u32, rows: usize) -> impl Iterator<Item = &u32> {
        self.neighbours(layer, row)
            .iter()
            .filter(move |&&n| (n as usize) < rows)
    }

    /// `row`'s links in `layer` as an extension reads them from its base
    /// (`index/links.rs`): to rows of the graph, at most `cap`. Every link
    /// of a graph as `parse` checked it and an extension made it; fewer
    /// only where words changed under a file mapped where it lies.
    pub(crate) fn links_read(
        &self,
        layer: usize,
        row: u32,
        cap: usize,
    ) -> impl Iterator<Item = u32> + '_ {
        self.links_under(layer, row, self.rows()).take(cap).copied()
    }

    /// True when the base's words are a file mapped where it lies (which
    /// may change under the graph).
    pub(crate) fn in_place(&self) -> bool {
        matches!(self.base.words, Words::File(_))
    }

    /// The graph with its base's words copied into memory of its own and
    /// checked again as `parse` checks a file (its patch, already in memory
    /// of its own, applied again over the copy): an error when the file
    /// changed since it was checked (its CRC is taken again, and a patch
    /// applies only to the base it was made over).
    pub(crate) fn checked_copy(&self) -> Result<MmapGraph, Invalid> {
        let words = Words::Owned(self.base.words().to_vec());
        let copy = MmapGraph::parse(words)?;
        if let Some(&crc) = self.base.crc.get() {
            if copy.base.crc() != crc {
                return Err("its CRC differs from the one checked".into());
            }
        }
        match &self.patch {
            None => Ok(copy),
            Some(p) => copy.with_patch(Words::Owned(p.csr.words().to_vec())),
        }
    }

    /// A graph of `rows` rows with only the lists of `changed` (any other
    /// row linked to none), entered at `entry` in layer `top`: what an
    /// extension keeps of a base that changed under it, which its recall
    /// check then refuses. Valid whatever `changed` holds: links out of
    /// range are dropped, the entry is given every layer up to `top`.
    pub(crate) fn of_rows(
        rows: usize,
        top: usize,
        entry: usize,
        changed: &std::collections::HashMap<u32, Vec<Vec<u32>>>,
    ) -> MmapGraph {
        let mut links: Vec<Vec<Vec<u32>>> = vec![vec![Vec::new()]; rows];
        for (&row, lists) in changed.iter().filter(|(&r, _)| (r as usize) < rows) {
            links[row as usize] = (lists.iter())
                .map(|l| l.iter().copied().filter(|&n| (n as usize) < rows).collect())
                .collect();
        }
        let top = (links.iter().map(|l| l.len().saturating_sub(1)))
            .max()
            .map_or(0, |most| most.max(top));
        let entry = entry.min(rows.saturating_sub(1));
        if let Some(lists) = links.get_mut(entry) {
            lists.resize(top + 1, Vec::new());
        }
        MmapGraph::from_links(top, entry, &links)
    }

    /// The `k` nearest rows to `query` (HNSW search with breadth `ef`), best
    /// first; rows for which `keep` is false are walked through but never returned.
    pub fn search(
        &self,
        vectors: &[f32],
        dim: usize,
        query: &[f32],
        k: usize,
        ef: usize,
        keep: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<Hit> {
        self.search_within(vectors, dim, query, k, ef, keep, usize::MAX)
            .unwrap_or_default()
    }

    /// [`MmapGraph::search`] that gives up (None) once it has compared the
    /// query with more than `budget` rows: a walk through a crowd of
    /// near-identical rows, or one that keeps few of the rows it meets, can
    /// cost more than scanning the rows it may return.
    #[allow(clippy::too_many_arguments)]
    pub fn search_within(
        &self,
        vectors: &[f32],
        dim: usize,
        query: &[f32],
        k: usize,
        ef: usize,
        keep: Option<&dyn Fn(usize) -> bool>,
        budget: usize,
    ) -> Option<Vec<Hit>> {
        let rows = self.rows();
        if rows == 0 || k == 0 {
            return Some(Vec::new());
        }
        let compared = std::cell::Cell::new(0usize);
        let dist = |row: u32| {
            compared.set(compared.get() + 1);
            let r = row as usize;
            1.0 - dot(&vectors[r * dim..(r + 1) * dim], query)
        };
        // Greedy descent through the upper layers.
        let mut ep = self.entry() as u32;
        let mut ep_dist = dist(ep);
        for layer in (1..self.layers()).rev() {
            loop {
                let mut moved = false;
                for &n in self.links_under(layer, ep, rows) {
                    let d = dist(n);
                    if d < ep_dist {
                        ep = n;
                        ep_dist = d;
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        // Beam search in layer 0.
        let ef = ef.max(k);
        let kept = |row: u32| keep.is_none_or(|f| f(row as usize));
        let mut visited = vec![0u64; rows.div_ceil(64)];
        let mut mark = |row: u32| {
            let (w, b) = (row as usize / 64, row % 64);
            let seen = visited[w] >> b & 1 == 1;
            visited[w] |= 1 << b;
            seen
        };
        mark(ep);
        // The unseen neighbours of a candidate and their similarities,
        // compared four at a time (the same numbers as one by one).
        let (mut fresh, mut sims) = (Vec::new(), Vec::new());
        let mut candidates = BinaryHeap::new();
        let mut results: BinaryHeap<(Ordered, u32)> = BinaryHeap::new();
        candidates.push(Reverse((Ordered(ep_dist), ep)));
        if kept(ep) {
            results.push((Ordered(ep_dist), ep));
        }
        while let Some(Reverse((Ordered(d), row))) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|w| d > w.0 .0) {
                break;
            }
            if compared.get() > budget {
                return None;
            }
            fresh.clear();
            fresh.extend(self.links_under(0, row, rows).filter(|&&n| !mark(n)));
            compared.set(compared.get() + fresh.len());
            let row_of = |i: usize| {
                let r = fresh[i] as usize;
                &vectors[r * dim..(r + 1) * dim]
            };
            dot_each(query, fresh.len(), row_of, &mut sims);
            for (&n, &sim) in fresh.iter().zip(&sims) {
                let dn = 1.0 - sim;
                let worst = results.peek().map_or(f32::INFINITY, |w| w.0 .0);
                if results.len() < ef || dn < worst {
                    candidates.push(Reverse((Ordered(dn), n)));
                    if kept(n) {
                        results.push((Ordered(dn), n));
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }
        let mut out: Vec<Hit> = results
            .into_iter()
            .map(|(Ordered(d), row)| Hit {
                row: row as usize,
                score: 1.0 - d,
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
        out.truncate(k);
        Some(out)
    }
}

/// An f32 with a total order, for the heaps (here and in [`crate::index::hnsw`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ordered(pub(crate) f32);
impl Eq for Ordered {}
impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::ann::tests::random_unit;
    use crate::index::ann::{exact_search, HnswParams};

    #[test]
    fn mapped_search_matches_exact_and_survives_a_round_trip() {
        const SEED: u64 = 11;
        let dim = 24;
        let data = random_unit(3000, dim, SEED);
        let mapped = crate::index::hnsw::build(&data, dim, &HnswParams::default(), &mut |_| {});
        let bytes = mapped.to_bytes();
        let words: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let again = MmapGraph::parse(Words::Owned(words)).unwrap();
        let mut found = 0;
        for q in random_unit(40, dim, SEED + 1).chunks_exact(dim) {
            let exact: Vec<usize> = exact_search(&data, dim, q, 10, None)
                .iter()
                .map(|h| h.row)
                .collect();
            let a = mapped.search(&data, dim, q, 10, 64, None);
            assert_eq!(a, again.search(&data, dim, q, 10, 64, None));
            found += a.iter().filter(|h| exact.contains(&h.row)).count();
            let hidden = a[0].row;
            let keep = |r: usize| r != hidden;
            let b = mapped.search(&data, dim, q, 10, 64, Some(&keep));
            assert!(b.iter().all(|h| h.row != hidden) && b.len() == 10);
        }
        let recall = found as f64 / 400.0;
        assert!(recall >= 0.97, "recall@10 {recall} (seed {SEED})");
    }

    #[test]
    fn a_walk_over_its_budget_gives_up() {
        let dim = 16;
        let data = random_unit(4000, dim, 3);
        let graph = crate::index::hnsw::build(&data, dim, &HnswParams::default(), &mut |_| {});
        let q = &data[..dim];
        let plain = graph.search(&data, dim, q, 10, 64, None);
        assert_eq!(
            graph.search_within(&data, dim, q, 10, 64, None, 4000),
            Some(plain)
        );
        assert_eq!(graph.search_within(&data, dim, q, 10, 64, None, 20), None);
        // Keeping one row in a hundred, a walk meets thousands of rows to
        // fill its breadth: more than scanning the forty it may return.
        let rare = |r: usize| r.is_multiple_of(100);
        assert_eq!(
            graph.search_within(&data, dim, q, 10, 64, Some(&rare), 40),
            None
        );
        assert!(graph
            .search_within(&data, dim, q, 10, 64, Some(&rare), usize::MAX)
            .is_some_and(|h| h.len() == 10 && h.iter().all(|h| rare(h.row))));
    }

    #[test]
    fn links_round_trip() {
        let dim = 8;
        let data = random_unit(500, dim, 6);
        let graph = crate::index::hnsw::build(&data, dim, &HnswParams::default(), &mut |_| {});
        let (top, entry, links) = graph.links();
        assert!(top >= 1, "500 rows at M 16 reach layer 1");
        let again = MmapGraph::from_links(top, entry, &links);
        assert_eq!(graph.to_bytes(), again.to_bytes());
    }

    #[test]
    fn damaged_words_are_refused() {
        let dim = 8;
        let data = random_unit(200, dim, 5);
        let graph = crate::index::hnsw::build(&data, dim, &HnswParams::default(), &mut |_| {});
        let good: Vec<u32> = bytemuck::cast_slice(graph.base_bytes()).to_vec();
        assert!(MmapGraph::parse(Words::Owned(good[..good.len() - 1].to_vec())).is_err());
        assert!(MmapGraph::parse(Words::Owned(vec![])).is_err());
        let mut bad = good.clone();
        bad[2] = 100; // fewer rows than links point at
        assert!(MmapGraph::parse(Words::Owned(bad)).is_err());
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] = 10_000; // a link out of range
        assert!(MmapGraph::parse(Words::Owned(bad)).is_err());
        let mut bad = good;
        bad.push(0);
        assert!(MmapGraph::parse(Words::Owned(bad)).is_err());
    }
}
