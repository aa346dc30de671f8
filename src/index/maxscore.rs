//! The best `k` documents of a sum over posting lists, without reading every
//! posting: MaxScore (Turtle & Flood, 1995), document at a time.
//!
//! Each list carries a bound on what one of its postings adds. Once `k`
//! documents are held, the lists whose bounds, smallest first, sum to less
//! than the `k`th score cannot lift a document into the best `k` on their
//! own: they are *non-essential*. Only the other lists' documents are then
//! candidates, and a candidate is looked up in the non-essential lists (by
//! skipping ahead, not by reading) only while its score could still reach
//! the `k`th. A common word in a question costs a few lookups instead of a
//! pass over its list.
//!
//! When the bounds prune too little (every word of the question common:
//! most postings are essential), visiting documents one at a time costs
//! more than adding up whole lists; past the first 32nd of the documents,
//! if the essential postings left cost more that way than every posting
//! left added up list by list, the rest of the documents are scored list by
//! list instead.
//!
//! The result is exactly what scoring every posting gives: the same
//! documents and scores, bit for bit (a document's sum is made in the lists'
//! order, as a pass over the lists one after another makes it), best first,
//! ties by position.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One posting list.
pub struct List<D, F> {
    /// Its documents, in increasing order.
    pub docs: D,
    /// What posting `i` adds to its document's score (more than 0).
    pub score: F,
    /// At least every `score(i)`.
    pub bound: f32,
}

/// A list's documents, in increasing order.
pub trait Docs {
    /// How many.
    fn len(&self) -> usize;
    /// True for none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The document at position `i`.
    fn at(&self, i: usize) -> Option<u32>;
    /// The first position at or after `from` whose document is `target` or
    /// later.
    fn seek(&self, from: usize, target: u32) -> usize;
}

impl Docs for &[u32] {
    fn len(&self) -> usize {
        <[u32]>::len(self)
    }
    fn at(&self, i: usize) -> Option<u32> {
        self.get(i).copied()
    }
    fn seek(&self, from: usize, target: u32) -> usize {
        seek(self, from, target)
    }
}

/// The documents of two lists one after the other: `head`'s, then
/// `tail`'s numbered from `off` (every document of `head` below `off`).
/// The lexical arm's base and delta postings of one term
/// ([`crate::index::lexical_delta`]): one list, whose bound is the larger of
/// theirs, not their sum.
#[derive(Clone, Copy)]
pub struct Chain<'a> {
    /// The first documents, each below `off`.
    pub head: &'a [u32],
    /// The next, each numbered `off` more than it says.
    pub tail: &'a [u32],
    /// What `tail`'s documents are numbered from.
    pub off: u32,
}

impl Docs for Chain<'_> {
    fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }
    fn at(&self, i: usize) -> Option<u32> {
        match i.checked_sub(self.head.len()) {
            None => Some(self.head[i]),
            Some(j) => self.tail.get(j).map(|&d| d + self.off),
        }
    }
    fn seek(&self, from: usize, target: u32) -> usize {
        let h = self.head.len();
        if from < h {
            let p = seek(self.head, from, target);
            if p < h {
                return p;
            }
        }
        h + seek(
            self.tail,
            from.saturating_sub(h),
            target.saturating_sub(self.off),
        )
    }
}

/// How many times a posting costs more read document at a time than list
/// by list (measured: `benches/update.rs`, its synthetic corpus's
/// answer-like questions, whose words are all common).
const DEARER: usize = 3;

/// A held document, ordered worst first (lowest score, then highest rank:
/// its position, or where [`top_k_ranked`] places it).
#[derive(Clone, Copy, PartialEq)]
struct Held {
    score: f32,
    rank: u32,
}

impl Eq for Held {}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.rank.cmp(&other.rank))
    }
}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Scores the documents from `from` on list by list, each list's postings
/// added in turn to a score per document (`at`: each list's position, at or
/// before `from`), and offers each to `best`.
fn add_up_from<D: Docs, F: Fn(usize) -> f32>(
    lists: &[List<D, F>],
    from: u32,
    at: &[usize],
    documents: usize,
    keep: Option<&dyn Fn(usize) -> bool>,
    best: &mut Best,
    rank: &dyn Fn(u32) -> u32,
) {
    let from_doc = from as usize;
    let mut scores = vec![0f32; documents.saturating_sub(from_doc)];
    let mut touched: Vec<u32> = Vec::new();
    for (list, &at) in lists.iter().zip(at) {
        let start = list.docs.seek(at, from);
        for p in start..list.docs.len() {
            let doc = list.docs.at(p).expect("invariant: below len");
            if keep.is_some_and(|keep| !keep(doc as usize)) {
                continue;
            }
            let score = &mut scores[doc as usize - from_doc];
            // Every posting adds more than 0.
            if *score == 0.0 {
                touched.push(doc);
            }
            *score += (list.score)(p);
        }
    }
    for doc in touched {
        let score = scores[doc as usize - from_doc];
        best.offer(Held {
            score,
            rank: rank(doc),
        });
    }
}

/// The best `k` documents met so far.
struct Best {
    held: BinaryHeap<Held>,
    k: usize,
}

impl Best {
    fn new(k: usize) -> Self {
        Best {
            held: BinaryHeap::with_capacity(k + 1),
            k,
        }
    }

    /// Keeps `entry` if it is among the best `k` so far; true if kept.
    fn offer(&mut self, entry: Held) -> bool {
        if self.held.len() < self.k {
            self.held.push(entry);
        } else if self.held.peek().is_some_and(|worst| entry < *worst) {
            self.held.pop();
            self.held.push(entry);
        } else {
            return false;
        }
        true
    }

    /// The `k`th best score, once `k` are held.
    fn kth(&self) -> Option<f32> {
        (self.held.len() == self.k)
            .then(|| self.held.peek().map(|w| w.score))
            .flatten()
    }

    /// `(position, score)`, best first, ties by position.
    fn into_sorted(self) -> Vec<(usize, f32)> {
        let mut out: Vec<(usize, f32)> = self
            .held
            .into_iter()
            .map(|h| (h.rank as usize, h.score))
            .collect();
        out.sort_by(crate::index::by_score);
        out
    }
}

/// The first position at or after `from` whose document is `target` or
/// later (galloping, then a binary search of the last step).
fn seek(docs: &[u32], from: usize, target: u32) -> usize {
    let (mut lo, mut hi, mut step) = (from, from, 1);
    while hi < docs.len() && docs[hi] < target {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    let hi = hi.min(docs.len());
    lo + docs[lo..hi].partition_point(|&d| d < target)
}

/// The `k` documents with the highest sum of their postings' scores over
/// `lists` (among those `keep` accepts; documents are numbered below
/// `documents`), `(position, score)`, best first, ties by position: what
/// summing every posting into a score per document, list after list, and
/// keeping the best `k` gives.
pub fn top_k<D: Docs, F: Fn(usize) -> f32>(
    lists: &[List<D, F>],
    documents: usize,
    k: usize,
    keep: Option<&dyn Fn(usize) -> bool>,
) -> Vec<(usize, f32)> {
    top_k_ranked(lists, documents, k, keep, &|doc| doc)
}

/// [`top_k`] for documents whose order among equal scores is not their
/// position: `rank(doc)` (distinct for the documents `keep` accepts) orders
/// them, and is what the result gives in place of the position. The
/// lexical arm's delta numbers a base's documents and its own apart, and
/// ranks them by the pair each is ([`crate::index::lexical_delta`]).
pub fn top_k_ranked<D: Docs, F: Fn(usize) -> f32>(
    lists: &[List<D, F>],
    documents: usize,
    k: usize,
    keep: Option<&dyn Fn(usize) -> bool>,
    rank: &dyn Fn(u32) -> u32,
) -> Vec<(usize, f32)> {
    let n = lists.len();
    if k == 0 || n == 0 {
        return Vec::new();
    }
    // Lists by bound, smallest first; `reach[j]`: the most that lists
    // `order[..=j]` add together. Compared with margin: a sum of `n` floats
    // may round above the sum of their bounds by a few units in the last
    // place, and a document must not be passed over for that.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| lists[a].bound.total_cmp(&lists[b].bound).then(a.cmp(&b)));
    let reach: Vec<f64> = order
        .iter()
        .scan(0f64, |sum, &i| {
            *sum += lists[i].bound as f64;
            Some(*sum)
        })
        .collect();
    let margin = 1.0 + 4.0 * f32::EPSILON as f64 * (n as f64 + 2.0);
    let below = |bound: f64, kth: Option<f32>| kth.is_some_and(|t| bound * margin < t as f64);

    let mut at = vec![0usize; n];
    let mut part = vec![0f32; n];
    let mut best = Best::new(k);
    let mut kth: Option<f32> = None;
    // Lists `order[..essential]` are non-essential.
    let mut essential = 0;
    let mut weigh_at = (documents / 32) as u32;
    loop {
        let doc = order[essential..]
            .iter()
            .filter_map(|&i| lists[i].docs.at(at[i]))
            .min();
        let Some(doc) = doc else { break };
        if doc >= weigh_at && kth.is_some() {
            weigh_at = u32::MAX;
            let left = |i: usize| lists[i].docs.len() - at[i];
            let essential_left: usize = order[essential..].iter().map(|&i| left(i)).sum();
            if essential_left * DEARER >= (0..n).map(left).sum::<usize>() {
                add_up_from(lists, doc, &at, documents, keep, &mut best, rank);
                break;
            }
        }
        part.fill(0.0);
        let mut sum = 0f64;
        for &i in &order[essential..] {
            let list = &lists[i];
            if list.docs.at(at[i]) == Some(doc) {
                part[i] = (list.score)(at[i]);
                sum += part[i] as f64;
                at[i] += 1;
            }
        }
        if keep.is_some_and(|keep| !keep(doc as usize)) {
            continue;
        }
        // The non-essential lists, the largest bound first, while the
        // document could still reach the best `k`.
        let mut reachable = true;
        for j in (0..essential).rev() {
            if below(sum + reach[j], kth) {
                reachable = false;
                break;
            }
            let i = order[j];
            let list = &lists[i];
            at[i] = list.docs.seek(at[i], doc);
            if list.docs.at(at[i]) == Some(doc) {
                part[i] = (list.score)(at[i]);
                sum += part[i] as f64;
            }
        }
        if !reachable {
            continue;
        }
        // The score as a pass over the lists in their order sums it.
        let score = part.iter().fold(0f32, |s, &p| s + p);
        if best.offer(Held {
            score,
            rank: rank(doc),
        }) {
            kth = best.kth();
            while essential < n && below(reach[essential], kth) {
                essential += 1;
            }
        }
    }
    best.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every posting scored into a score per document, list after list.
    fn exhaustive(
        lists: &[(Vec<u32>, Vec<f32>)],
        k: usize,
        keep: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        let mut scores = std::collections::BTreeMap::<u32, f32>::new();
        for (docs, weights) in lists {
            for (&d, &w) in docs.iter().zip(weights) {
                if keep.is_none_or(|keep| keep(d as usize)) {
                    *scores.entry(d).or_default() += w;
                }
            }
        }
        let hits = scores.into_iter().map(|(d, s)| (d as usize, s)).collect();
        crate::index::best_k(hits, k, crate::index::by_score)
    }

    fn lists_of(raw: &[(Vec<u32>, Vec<f32>)]) -> Vec<List<&[u32], impl Fn(usize) -> f32 + '_>> {
        raw.iter()
            .map(|(docs, weights)| List {
                docs: docs.as_slice(),
                score: move |i: usize| weights[i],
                bound: weights.iter().copied().fold(0.0, f32::max),
            })
            .collect()
    }

    /// Posting lists over up to 60 documents: weights drawn from a few
    /// values, so that equal scores (and ties at the `k`th) are common.
    fn posting_lists() -> impl Strategy<Value = Vec<(Vec<u32>, Vec<f32>)>> {
        proptest::collection::vec(
            proptest::collection::btree_map(0u32..60, 1u8..6, 0..40),
            0..7,
        )
        .prop_map(|lists| {
            lists
                .into_iter()
                .map(|list| list.into_iter().map(|(d, w)| (d, w as f32 * 0.7)).unzip())
                .collect()
        })
    }

    proptest! {
        #[test]
        fn equals_scoring_every_posting(raw in posting_lists(), k in 0usize..12, odd in any::<bool>()) {
            let lists = lists_of(&raw);
            let only_odd = |d: usize| d % 2 == 1;
            let keep: Option<&dyn Fn(usize) -> bool> = if odd { Some(&only_odd) } else { None };
            let got = top_k(&lists, 60, k, keep);
            let want = exhaustive(&raw, k, keep);
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!(g.0, w.0);
                prop_assert_eq!(g.1.to_bits(), w.1.to_bits());
            }
        }
    }

    #[test]
    fn a_rare_list_decides_and_a_common_one_is_only_looked_up() {
        // A common list over every document (small weights) and a rare one:
        // once two of the rare list's documents are held, the common list
        // can lift no document into the best two, and is only looked up
        // for the rare list's later documents that could still enter.
        let common: Vec<u32> = (0..1000).collect();
        let raw = [
            (common.clone(), vec![0.1; 1000]),
            (vec![2, 5, 700, 900], vec![5.0, 5.0, 6.0, 4.0]),
        ];
        let reads = std::cell::Cell::new(0);
        let lists: Vec<List<&[u32], _>> = raw
            .iter()
            .map(|(docs, weights)| List {
                docs: docs.as_slice(),
                score: |i: usize| {
                    reads.set(reads.get() + 1);
                    weights[i]
                },
                bound: weights.iter().copied().fold(0.0, f32::max),
            })
            .collect();
        assert_eq!(top_k(&lists, 1000, 2, None), vec![(700, 6.1), (2, 5.1)]);
        assert!(reads.get() < 20, "{} postings read", reads.get());
    }

    proptest! {
        /// Two lists chained read as their documents one after the other.
        #[test]
        fn a_chain_is_its_two_lists_one_after_the_other(
            head in proptest::collection::btree_set(0u32..40, 0..12),
            tail in proptest::collection::btree_set(0u32..40, 0..12),
        ) {
            let (head, tail): (Vec<u32>, Vec<u32>) = (head.into_iter().collect(), tail.into_iter().collect());
            let chain = Chain { head: &head, tail: &tail, off: 40 };
            let flat: Vec<u32> = head.iter().copied().chain(tail.iter().map(|d| d + 40)).collect();
            prop_assert_eq!(chain.len(), flat.len());
            for i in 0..flat.len() + 2 {
                prop_assert_eq!(chain.at(i), flat.get(i).copied());
            }
            for from in 0..=flat.len() {
                for target in 0..90 {
                    prop_assert_eq!(chain.seek(from, target), seek(&flat, from, target), "from {} target {}", from, target);
                }
            }
        }
    }

    #[test]
    fn seek_finds_the_first_document_at_or_after_the_target() {
        let docs = [1, 3, 5, 7, 9, 11, 13, 15, 17];
        for from in 0..docs.len() {
            for target in 0..20 {
                let want = from + docs[from..].iter().take_while(|&&d| d < target).count();
                assert_eq!(
                    seek(&docs, from, target),
                    want,
                    "from {from} target {target}"
                );
            }
        }
    }
}
