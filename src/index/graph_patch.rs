//! A graph as its base file and a patch: the link lists of the rows that
//! updates changed or added since the base was written.
//!
//! An update inserts a few rows into a graph of millions and changes the
//! lists of the rows they link to (a few dozen each); writing the whole
//! graph again for that was most of a one-document update's writes at a
//! million pairs. So an extension whose changed rows, with those of the
//! patch it extends, hold at most an eighth of the base's links is written
//! as a patch over the same base file (which the generation links from the
//! previous one, as it does vector files); past that, the graph is written
//! whole and becomes the next base. A query looks a row up in the patch
//! when the patch holds it (one bit per base row says so), in the base
//! otherwise.
//!
//! Patch layout (`graph.patch.bin`, little-endian `u32` words):
//! ```text
//! magic "QAHP", version, rows, top layer, entry row, base rows, CRC-32 of the base file
//! for each layer 0..=top:
//!   count, nodes: count sorted rows, offsets: count + 1, links: offsets[count] rows
//! ```
//! Layer 0 lists every row the patch holds (each new row among them); a
//! row it holds has all its lists here. The base's CRC ties a patch to the
//! one file it applies to.

use std::collections::HashMap;
use std::sync::Arc;

use crate::index::mmap_graph::{layer_words, Csr, Invalid, MmapGraph, Words};

const MAGIC: u32 = u32::from_le_bytes(*b"QAHP");
const VERSION: u32 = 1;
const HEADER: usize = 7;

/// A patch is written while its words are at most 1/`SHARE` of the base's
/// links. Each update writes the patch again with its own rows added, so
/// that write grows with the rows changed since the base (at a million
/// pairs, 64 KB after two small updates, at most about 40 MB), while a
/// query's lookups in it stay few; past the share, the graph is written
/// whole and the rows start again from none.
const SHARE: usize = 8;

/// The rows a patch holds, and their lists.
#[derive(Debug)]
pub(crate) struct Patch {
    pub(crate) csr: Csr,
    base_rows: usize,
    /// One bit per row of the base: set for those the patch holds.
    held: Vec<u64>,
}

impl Patch {
    /// True when the patch holds `row`'s lists (every row past the base's).
    #[inline]
    pub(crate) fn has(&self, row: u32) -> bool {
        let r = row as usize;
        r >= self.base_rows || self.held[r / 64] >> (r % 64) & 1 == 1
    }

    /// The rows it holds, sorted.
    fn rows(&self) -> &[u32] {
        self.csr.nodes(0)
    }
}

impl MmapGraph {
    /// This graph (a base, read from its file) with the patch in `words`
    /// applied: every offset and link bounds-checked, and the patch's
    /// record of its base (rows, CRC-32) compared with this one.
    pub fn with_patch(self, words: Words) -> Result<MmapGraph, Invalid> {
        if self.patch.is_some() {
            return Err("a patch applies to a base graph, not to a patched one".into());
        }
        let header: Vec<u32> = (0..HEADER)
            .map(|i| words.as_words().and_then(|w| w.get(i).copied()))
            .collect::<Option<_>>()
            .ok_or("truncated header")?;
        if header[0] != MAGIC || header[1] != VERSION {
            return Err("not a qasearch graph patch of version 1".into());
        }
        let (rows, top, entry) = (header[2] as usize, header[3] as usize, header[4]);
        let base_rows = header[5] as usize;
        if base_rows != self.base.rows || rows < base_rows || top < self.base.top() {
            return Err(format!(
                "a patch of {rows} rows over {base_rows}, {top} layers, for a base of {} rows, {} layers",
                self.base.rows,
                self.base.top()
            ));
        }
        if header[6] != self.base.crc() {
            return Err("a patch of another base file (its CRC differs)".into());
        }
        let csr = Csr::parse(words, HEADER, rows, top, entry, false)?;
        let held_rows = csr.nodes(0);
        let old = held_rows.partition_point(|&r| (r as usize) < base_rows);
        if held_rows.len() - old != rows - base_rows {
            return Err("a new row has no lists in the patch".into());
        }
        for layer in 1..=top {
            if (csr.nodes(layer).iter()).any(|r| held_rows.binary_search(r).is_err()) {
                return Err(format!("layer {layer} lists a row layer 0 does not"));
            }
        }
        let mut held = vec![0u64; base_rows.div_ceil(64)];
        for &r in &held_rows[..old] {
            held[r as usize / 64] |= 1 << (r % 64);
        }
        let graph = MmapGraph {
            base: self.base,
            patch: Some(Patch {
                csr,
                base_rows,
                held,
            }),
        };
        if rows > 0 && !graph.in_layer(top, entry) {
            return Err("entry row is not in the top layer".into());
        }
        Ok(graph)
    }

    /// The patch's bytes, when the graph has one.
    pub fn patch_bytes(&self) -> Option<&[u8]> {
        self.patch.as_ref().map(|p| p.csr.as_bytes())
    }

    /// CRC-32 of the base file's bytes.
    pub fn base_crc(&self) -> u32 {
        self.base.crc()
    }
}

/// `graph` (patched or not) with the lists of the rows in `changed`
/// replaced or added (rows `graph.rows()..rows` among them), entered at
/// `entry` in layer `top`: a patch over `graph`'s base file, holding the
/// rows its patch held and those changed, when that stays within
/// 1/[`SHARE`] of the base's links; None otherwise (the graph is to be
/// written whole), or when the base's words changed under it.
pub(crate) fn patched(
    graph: &MmapGraph,
    rows: usize,
    top: usize,
    entry: usize,
    changed: &HashMap<u32, Vec<Vec<u32>>>,
) -> Option<MmapGraph> {
    let base = &graph.base;
    let before = graph.patch.as_ref().map_or(&[][..], Patch::rows);
    let mut held: Vec<u32> = (before.iter())
        .filter(|r| !changed.contains_key(r))
        .copied()
        .chain(changed.keys().copied())
        .collect();
    held.sort_unstable();
    let list = |layer: usize, row: u32| match changed.get(&row) {
        Some(lists) => lists.get(layer).map_or(&[][..], Vec::as_slice),
        None => graph.neighbours(layer, row),
    };
    let levels: Vec<usize> = (held.iter())
        .map(|r| changed.get(r).map_or_else(|| graph.levels(*r), Vec::len))
        .collect();
    let words: usize = (held.iter().zip(&levels))
        .map(|(&r, &n)| (0..n).map(|l| list(l, r).len() + 2).sum::<usize>())
        .sum();
    if top < base.top() || words.saturating_mul(SHARE) > base.link_count() {
        return None;
    }
    let nodes = |layer: usize| {
        (held.iter().zip(&levels))
            .filter(|(_, &n)| n > layer)
            .map(|(&r, _)| r)
            .collect()
    };
    let header = vec![
        MAGIC,
        VERSION,
        rows as u32,
        top as u32,
        entry as u32,
        base.rows as u32,
        base.crc(),
    ];
    let w = layer_words(header, rows, top, false, nodes, list);
    let unpatched = MmapGraph {
        base: Arc::clone(base),
        patch: None,
    };
    // Valid whenever the base is as it was checked; a base file changed
    // under an extension (mapped where it lies) may say its entry is not in
    // its top layer: then the graph is written whole, from a checked copy.
    unpatched.with_patch(Words::Owned(w)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::ann::{tests::random_unit, HnswParams};
    use crate::index::hnsw;

    /// `graph` extended over `vectors` on one thread (the same every run).
    fn extend(
        graph: &MmapGraph,
        vectors: &[f32],
        dim: usize,
        params: &HnswParams,
        _: usize,
    ) -> MmapGraph {
        hnsw::extend_on(graph, vectors, dim, params, &|_| true, 1, None, &mut |_| {})
    }

    fn to_words(bytes: &[u8]) -> Vec<u32> {
        (bytes.chunks_exact(4))
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn words(bytes: &[u8]) -> Words {
        Words::Owned(to_words(bytes))
    }

    /// Written as its two files and read back, the graph is the same.
    fn read_back(graph: &MmapGraph) -> MmapGraph {
        let base = MmapGraph::parse(words(graph.base_bytes())).unwrap();
        match graph.patch_bytes() {
            Some(patch) => base.with_patch(words(patch)).unwrap(),
            None => base,
        }
    }

    #[test]
    fn an_extension_is_a_patch_that_searches_and_grows_as_the_whole_graph() {
        let dim = 16;
        let data = random_unit(4010, dim, 4);
        let params = HnswParams::default();
        let base = hnsw::build_with_threads(&data[..4000 * dim], dim, &params, 1, &mut |_| {});
        let once = extend(&base, &data[..4005 * dim], dim, &params, 1);
        assert!(once.patch_bytes().is_some(), "5 rows more: a patch");
        let again = read_back(&once);
        assert_eq!(again.to_bytes(), once.to_bytes());
        assert_eq!(again.link_count(), once.link_count());
        // The patch alone is small: the base is not written again.
        let patch = once.patch_bytes().unwrap().len();
        assert!(patch * 8 <= base.base_bytes().len(), "patch {patch} bytes");
        // Extended as a patch, or as the same graph written whole: the same
        // lists, the same answers.
        let whole = MmapGraph::parse(words(&once.to_bytes())).unwrap();
        assert_eq!(whole.links(), once.links());
        for q in random_unit(20, dim, 9).chunks_exact(dim) {
            let a = again.search(&data[..4005 * dim], dim, q, 10, 64, None);
            assert_eq!(a, whole.search(&data[..4005 * dim], dim, q, 10, 64, None));
        }
        // A patch over a patch holds the rows of both, over the first base.
        let twice = extend(&again, &data, dim, &params, 1);
        let from_whole = extend(&whole, &data, dim, &params, 1);
        assert_eq!(twice.to_bytes(), from_whole.to_bytes());
        assert!(Arc::ptr_eq(&twice.base, &again.base), "the same base");
        let held = |g: &MmapGraph| g.patch.as_ref().unwrap().rows().to_vec();
        assert!(held(&again).iter().all(|r| held(&twice).contains(r)));
        assert_eq!(read_back(&twice).to_bytes(), twice.to_bytes());
        // Rows past the base's are in the patch; a search finds them.
        let new_row = 4008;
        let own = &data[new_row * dim..(new_row + 1) * dim];
        assert_eq!(twice.search(&data, dim, own, 1, 64, None)[0].row, new_row);
    }

    #[test]
    fn past_an_eighth_of_the_links_the_graph_is_written_whole() {
        let dim = 16;
        let data = random_unit(1200, dim, 5);
        let params = HnswParams::default();
        let base = hnsw::build_with_threads(&data[..600 * dim], dim, &params, 1, &mut |_| {});
        let grown = extend(&base, &data, dim, &params, 1);
        assert!(grown.patch_bytes().is_none(), "600 rows more: whole");
        assert_eq!(grown.rows(), 1200);
    }

    #[test]
    fn a_patch_that_is_not_its_bases_is_refused() {
        let dim = 16;
        let data = random_unit(4000, dim, 6);
        let params = HnswParams::default();
        let base = hnsw::build_with_threads(&data[..3995 * dim], dim, &params, 1, &mut |_| {});
        let grown = extend(&base, &data, dim, &params, 1);
        let patch: Vec<u32> = to_words(grown.patch_bytes().unwrap());
        let fresh = || MmapGraph::parse(words(base.base_bytes())).unwrap();
        assert!(fresh().with_patch(Words::Owned(patch.clone())).is_ok());
        // Another base (one row fewer): refused by its rows.
        let other = hnsw::build_with_threads(&data[..3994 * dim], dim, &params, 1, &mut |_| {});
        let e = other.with_patch(Words::Owned(patch.clone())).unwrap_err();
        assert!(e.contains("3994 rows"), "{e}");
        // The same rows, other links: refused by the CRC.
        let other =
            hnsw::build_with_threads(&random_unit(3995, dim, 7), dim, &params, 1, &mut |_| {});
        let e = other.with_patch(Words::Owned(patch.clone())).unwrap_err();
        assert!(e.contains("CRC"), "{e}");
        let mut bad = patch.clone();
        bad[6] ^= 1;
        let e = fresh().with_patch(Words::Owned(bad)).unwrap_err();
        assert!(e.contains("CRC"), "{e}");
        // Cut short, with a link out of range, without a new row's lists.
        let cut = patch[..patch.len() - 1].to_vec();
        assert!(fresh().with_patch(Words::Owned(cut)).is_err());
        let mut bad = patch.clone();
        *bad.last_mut().unwrap() = 5000;
        assert!(fresh().with_patch(Words::Owned(bad)).is_err());
        let mut bad = patch.clone();
        bad[2] += 1;
        assert!(fresh().with_patch(Words::Owned(bad)).is_err());
        // A patch is not a graph file, nor the other way round.
        assert!(MmapGraph::parse(Words::Owned(patch.clone())).is_err());
        let whole = to_words(base.base_bytes());
        assert!(fresh().with_patch(Words::Owned(whole)).is_err());
        // Nor is a patch applied twice.
        let patched = fresh().with_patch(Words::Owned(patch.clone())).unwrap();
        assert!(patched.with_patch(Words::Owned(patch)).is_err());
    }
}
