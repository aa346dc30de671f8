//! The base's documents, pairs and occurrences moved into their places in
//! the metadata without allocating anew: at a million pairs, moving them
//! into fresh vectors cost an opening a quarter of a second, most of it
//! the kernel's first touch of the new memory.

use super::{Move, Run};
use crate::store::{Occurrence, PairMeta};

/// Puts every item where the runs say: the base's, in `v`, moved in place;
/// the delta's taken from `added`. `v` ends holding exactly the runs'
/// items; `filler` makes what stands in while `v` grows, and what a
/// delta's item leaves behind.
pub(super) fn place<T>(
    v: &mut Vec<T>,
    added: &mut [T],
    runs: &[Run],
    of: impl Fn(&Run) -> Move,
    filler: impl Fn() -> T,
) {
    let len = runs.last().map_or(0, |r| of(r).to + of(r).len);
    if v.len() < len {
        v.resize_with(len, &filler);
    }
    // The base's runs that move towards the front, front first, then those
    // that move back, back first: as the runs keep their order, no item is
    // swapped away before it moved (what it is swapped with is an item
    // dropped, a filler, or one already moved).
    let base: Vec<Move> = runs.iter().filter(|r| r.in_base).map(&of).collect();
    for m in base.iter().filter(|m| m.to < m.from) {
        for i in 0..m.len {
            v.swap(m.to + i, m.from + i);
        }
    }
    for m in base.iter().rev().filter(|m| m.to > m.from) {
        for i in (0..m.len).rev() {
            v.swap(m.to + i, m.from + i);
        }
    }
    for m in runs.iter().filter(|r| !r.in_base).map(&of) {
        for i in 0..m.len {
            v[m.to + i] = std::mem::replace(&mut added[m.from + i], filler());
        }
    }
    v.truncate(len);
}

/// Numbers each pair's document and each occurrence's pair by their
/// places, in the runs that moved them (they still hold the numbers of
/// where they came from).
pub(super) fn renumber(pairs: &mut [PairMeta], occurrences: &mut [Occurrence], runs: &[Run]) {
    let kept = |r: &&Run| r.in_base && r.docs.to == r.docs.from && r.pairs.to == r.pairs.from;
    for r in runs.iter().filter(|r| !kept(r)) {
        for p in &mut pairs[r.pairs.to..r.pairs.to + r.pairs.len] {
            p.doc = (p.doc as usize - r.docs.from + r.docs.to) as u32;
        }
        let (at, len) = (r.occurrences.to, r.occurrences.len);
        for o in &mut occurrences[at..at + len] {
            o.pair = (o.pair as usize - r.pairs.from + r.pairs.to) as u32;
        }
    }
}
