//! The lexical arm as a generation holds it: the index a full build wrote
//! (`lexical.bin`, the *base*) and, after small updates, a *delta*
//! (`lexical.delta.bin`): the pairs added or changed since the base,
//! indexed apart, and the pair each base document is now (or none: its
//! pair was removed or changed). An update rebuilds and writes the delta
//! alone, and links the base from the previous generation, while the
//! delta's pairs and the base's gone documents stay within `1 / SHARE` of
//! the base's; past that the arm is merged and written whole, and becomes
//! the next base.
//!
//! A search scores exactly as the merged arm does: BM25's statistics (the
//! number of pairs, each term's document frequency, the mean length) are
//! those of the pairs the arm holds, counted across base and delta with
//! the gone documents left out; a document's sum is made in the same order
//! of terms; equal scores are ordered by pair. The same hits, bit for bit.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::lexical::{idf, length_norms, saturated, LexicalIndex};
use super::maxscore::{top_k_ranked, Chain, List};
use super::Learned;

/// A base document whose pair is gone (removed, or changed: then its
/// terms are the delta's).
const GONE: u32 = u32::MAX;

/// The delta's pairs and the base's gone documents may reach `1 / SHARE`
/// of the base's documents; past that the arm is merged and written whole.
pub const SHARE: usize = 8;

/// The lexical arm of a generation: its base and, after small updates,
/// the delta over it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lexical {
    base: Arc<LexicalIndex>,
    /// The base's file, length and CRC-32, where it was read from one: a
    /// delta is made only over a base on disk, which the next generation
    /// links.
    base_file: Option<(u64, u32)>,
    delta: Option<Arc<Delta>>,
}

/// The pairs added or changed since the base, and where the base's
/// documents went (`lexical.delta.bin`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// Length of the base's file.
    base_len: u64,
    /// CRC-32 of the base's file.
    base_crc: u32,
    /// The pair each base document is, [`GONE`] for none.
    base_pairs: Vec<u32>,
    /// The pairs added or changed since the base, a document each.
    index: LexicalIndex,
    /// The pair each of `index`'s documents is.
    pairs: Vec<u32>,
    /// Pairs in all (checked when read).
    #[serde(skip)]
    total: usize,
    #[serde(skip)]
    learned: Learned<Tables>,
}

/// What searching learns of a delta.
#[derive(Default)]
struct Tables {
    /// Each pair's document: the base's number, or the base's count plus
    /// the delta's.
    docs_of_pairs: OnceLock<Vec<u32>>,
    /// Each document's length normalisation, in the same numbering.
    norms: OnceLock<Vec<f32>>,
    /// One bit per base document: set where its pair is gone.
    gone: OnceLock<Vec<u64>>,
    /// Per base term: (documents it has that are pairs still + 1) in the
    /// high half, its largest saturated frequency's bits in the low; 0
    /// until a search first asks.
    base_terms: OnceLock<Vec<AtomicU64>>,
}

impl Lexical {
    /// An arm of one index, written whole.
    pub fn whole(index: LexicalIndex) -> Self {
        Lexical {
            base: Arc::new(index),
            base_file: None,
            delta: None,
        }
    }

    /// The arm of a generation's files: `base` read from a file of
    /// `base_file` (length, CRC-32), and the delta over it where the
    /// generation has one. An error says what in the delta is wrong.
    pub fn read(
        base: LexicalIndex,
        base_file: (u64, u32),
        delta: Option<Delta>,
    ) -> Result<Self, String> {
        let delta = match delta {
            Some(d) => Some(Arc::new(d.checked(&base, base_file)?)),
            None => None,
        };
        Ok(Lexical {
            base: Arc::new(base),
            base_file: Some(base_file),
            delta,
        })
    }

    /// The base index.
    pub fn base(&self) -> &LexicalIndex {
        &self.base
    }

    /// The base's file (length, CRC-32), where it was read from one.
    pub fn base_file(&self) -> Option<(u64, u32)> {
        self.base_file
    }

    /// The delta over the base, after small updates.
    pub fn delta(&self) -> Option<&Delta> {
        self.delta.as_deref()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.delta.as_ref().map_or(self.base.len(), |d| d.total)
    }

    /// True when no pair is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Terms indexed for pair `pair` (0 for one it does not have).
    pub fn terms_of(&self, pair: usize) -> u32 {
        let Some(d) = &self.delta else {
            return self.base.terms_of(pair);
        };
        match d.docs_of_pairs().get(pair).map(|&doc| doc as usize) {
            Some(doc) if doc < self.base.len() => self.base.terms_of(doc),
            Some(doc) => d.index.terms_of(doc - self.base.len()),
            None => 0,
        }
    }

    /// Whether `text` has a term the arm would keep.
    pub fn has_terms(&self, text: &str) -> bool {
        self.base.has_terms(text)
    }

    /// The `k` best pairs for `query`: (pair, BM25 score), best first, ties
    /// by pair.
    pub fn search(&self, query: &str, k: usize) -> Vec<(usize, f32)> {
        self.search_where(query, k, None)
    }

    /// The best `k` pairs for `query` among those `keep` accepts, as the
    /// merged arm finds them ([`LexicalIndex::search_where`]).
    pub fn search_where(
        &self,
        query: &str,
        k: usize,
        keep: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        match &self.delta {
            None => self.base.search_where(query, k, keep),
            Some(_) if self.is_empty() || k == 0 => Vec::new(),
            Some(d) => d.search(&self.base, query, k, keep),
        }
    }

    /// The arm as one index: the base's documents that are pairs still and
    /// the delta's, merged into the index a full build makes.
    pub fn merged(&self) -> Cow<'_, LexicalIndex> {
        match &self.delta {
            None => Cow::Borrowed(&self.base),
            Some(d) => Cow::Owned(d.merged(&self.base)),
        }
    }

    /// The arm of `reuse.len()` pairs, from `previous`: pair `i` is
    /// `previous`'s pair `reuse[i]` (its terms kept), or new (its terms
    /// read from `text(i)`). Over a base on disk, while the change since
    /// that base stays within `1 / SHARE` of it, a delta over the same
    /// base; otherwise merged, whole.
    pub fn updated(
        previous: &Lexical,
        reuse: &[Option<u32>],
        text: impl Fn(usize) -> String,
    ) -> Lexical {
        let whole = |previous: &Lexical| {
            Lexical::whole(LexicalIndex::rebuild(&previous.merged(), reuse, &text))
        };
        let Some((base_len, base_crc)) = previous.base_file else {
            return whole(previous);
        };
        let nb = previous.base.len();
        let mut base_pairs = vec![GONE; nb];
        let (mut pairs, mut reuse_delta) = (Vec::new(), Vec::new());
        for (i, r) in reuse.iter().enumerate() {
            let doc = r
                .and_then(|p| previous.doc_of(p as usize))
                .map(|d| d as usize);
            match doc {
                Some(d) if d < nb && base_pairs[d] == GONE => base_pairs[d] = i as u32,
                Some(d) if d >= nb => {
                    pairs.push(i as u32);
                    reuse_delta.push(Some((d - nb) as u32));
                }
                _ => {
                    pairs.push(i as u32);
                    reuse_delta.push(None);
                }
            }
        }
        let gone = base_pairs.iter().filter(|&&p| p == GONE).count();
        if (gone + pairs.len()) * SHARE > nb {
            return whole(previous);
        }
        let over_base = |delta: Option<Arc<Delta>>| Lexical {
            base: previous.base.clone(),
            base_file: previous.base_file,
            delta,
        };
        if pairs.is_empty() && base_pairs.iter().enumerate().all(|(d, &p)| p as usize == d) {
            // Every pair is the base's document of its number: the base alone.
            return over_base(None);
        }
        let empty;
        let previous_index = match &previous.delta {
            Some(d) => &d.index,
            None => {
                empty = LexicalIndex::empty(previous.base.stemming());
                &empty
            }
        };
        let index =
            LexicalIndex::rebuild(previous_index, &reuse_delta, |j| text(pairs[j] as usize));
        let delta = Delta {
            base_len,
            base_crc,
            total: nb - gone + pairs.len(),
            base_pairs,
            index,
            pairs,
            learned: Learned::default(),
        };
        over_base(Some(Arc::new(delta)))
    }

    /// The document of pair `pair`.
    fn doc_of(&self, pair: usize) -> Option<u32> {
        match &self.delta {
            None => (pair < self.base.len()).then_some(pair as u32),
            Some(d) => d.docs_of_pairs().get(pair).copied(),
        }
    }
}

/// What posting `i` of a term's list adds: the base's postings (documents,
/// frequencies) `head`, then the delta's `tail`, numbered from `nb`.
fn scorer<'a>(
    head: (&'a [u32], &'a [u32]),
    tail: (&'a [u32], &'a [u32]),
    nb: u32,
    idf: f32,
    norms: &'a [f32],
) -> impl Fn(usize) -> f32 + 'a {
    let h = head.0.len();
    move |i: usize| match i.checked_sub(h) {
        None => idf * saturated(head.1[i], norms[head.0[i] as usize]),
        Some(j) => idf * saturated(tail.1[j], norms[(tail.0[j] + nb) as usize]),
    }
}

impl Delta {
    /// Length and CRC-32 of the base's file.
    pub fn base_file(&self) -> (u64, u32) {
        (self.base_len, self.base_crc)
    }

    /// Number of pairs the delta indexes itself (added or changed).
    pub fn pairs(&self) -> usize {
        self.pairs.len()
    }

    /// The delta as read, checked against its `base` (read from a file of
    /// `base_file`): over that file, a document for each of its documents,
    /// tokenised alike, and every pair of the arm once.
    fn checked(mut self, base: &LexicalIndex, base_file: (u64, u32)) -> Result<Delta, String> {
        if self.base_file() != base_file {
            return Err(format!(
                "is over another lexical.bin ({} bytes, CRC-32 {:08x}; this one: {} bytes, {:08x})",
                self.base_len, self.base_crc, base_file.0, base_file.1
            ));
        }
        if self.base_pairs.len() != base.len() || self.index.stemming() != base.stemming() {
            return Err("does not match lexical.bin's documents".into());
        }
        self.index.validate(self.pairs.len())?;
        let live = self.base_pairs.iter().filter(|&&p| p != GONE).count();
        let total = live + self.pairs.len();
        let mut seen = vec![false; total];
        // Only a base document may be gone: a delta's pair of GONE would
        // leave a pair of the arm without a document.
        let every_once = (self.base_pairs.iter())
            .filter(|&&p| p != GONE)
            .chain(&self.pairs)
            .all(|&p| (p as usize) < total && !std::mem::replace(&mut seen[p as usize], true));
        if !every_once {
            return Err("pairs are inconsistent".into());
        }
        self.total = total;
        Ok(self)
    }

    /// The pair of document `doc` (the base's, then the delta's), or [`GONE`].
    fn pair_of(&self, nb: usize, doc: u32) -> u32 {
        match (doc as usize).checked_sub(nb) {
            None => self.base_pairs[doc as usize],
            Some(d) => self.pairs[d],
        }
    }

    /// Whether base document `doc` (or a delta's, never) is gone.
    fn is_gone(&self, doc: usize) -> bool {
        let bits = self.learned.0.gone.get_or_init(|| {
            let mut bits = vec![0u64; self.base_pairs.len().div_ceil(64)];
            for (d, _) in (self.base_pairs.iter().enumerate()).filter(|(_, &p)| p == GONE) {
                bits[d / 64] |= 1 << (d % 64);
            }
            bits
        });
        bits.get(doc / 64).is_some_and(|w| w >> (doc % 64) & 1 == 1)
    }

    fn docs_of_pairs(&self) -> &[u32] {
        self.learned.0.docs_of_pairs.get_or_init(|| {
            let mut docs = vec![0u32; self.total];
            let nb = self.base_pairs.len();
            for (doc, &p) in self.base_pairs.iter().enumerate() {
                if p != GONE {
                    docs[p as usize] = doc as u32;
                }
            }
            for (d, &p) in self.pairs.iter().enumerate() {
                docs[p as usize] = (nb + d) as u32;
            }
            docs
        })
    }

    /// Each document's length normalisation, the mean over the pairs.
    fn norms(&self, base: &LexicalIndex) -> &[f32] {
        self.learned.0.norms.get_or_init(|| {
            let lengths: Vec<u32> = (base.lengths().iter())
                .chain(self.index.lengths())
                .copied()
                .collect();
            let live = (base.lengths().iter().zip(&self.base_pairs))
                .filter(|(_, &p)| p != GONE)
                .map(|(&l, _)| l)
                .chain(self.index.lengths().iter().copied());
            length_norms(&lengths, live)
        })
    }

    /// Base term `t`'s documents that are pairs still, and its largest
    /// saturated frequency: read the first time a search asks, then kept.
    fn base_term(&self, base: &LexicalIndex, t: usize, norms: &[f32]) -> (usize, f32) {
        let cells = (self.learned.0.base_terms)
            .get_or_init(|| (0..base.words().len()).map(|_| AtomicU64::new(0)).collect());
        match cells[t].load(Relaxed) {
            0 => {
                let (docs, tfs) = base.postings(t);
                let live = docs.iter().filter(|&&d| !self.is_gone(d as usize)).count();
                let most = (docs.iter().zip(tfs))
                    .map(|(&d, &tf)| saturated(tf, norms[d as usize]))
                    .fold(0f32, f32::max);
                cells[t].store((live as u64 + 1) << 32 | most.to_bits() as u64, Relaxed);
                (live, most)
            }
            v => ((v >> 32) as usize - 1, f32::from_bits(v as u32)),
        }
    }

    /// [`Lexical::search_where`] over base and delta: each query term's
    /// base postings and delta postings are two lists, in the terms' order;
    /// documents are numbered the base's first, and ranked by pair.
    fn search(
        &self,
        base: &LexicalIndex,
        query: &str,
        k: usize,
        keep: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        let (nb, n) = (base.len(), self.total as f32);
        let norms = self.norms(base);
        // One list per query term: its live base postings (none where
        // every one is gone) and then its delta postings, numbered after
        // the base's; its bound the larger of the two parts'.
        let empty: (&[u32], &[u32]) = (&[], &[]);
        let mut lists = Vec::new();
        for word in base.query_words(query) {
            let in_base = base
                .term(&word)
                .map(|t| (base.postings(t), self.base_term(base, t, norms)))
                .filter(|(_, (live, _))| *live > 0);
            let in_delta = self.index.term(&word).map(|t| self.index.postings(t));
            let df = in_base.map_or(0, |(_, (live, _))| live) + in_delta.map_or(0, |p| p.0.len());
            if df == 0 {
                continue;
            }
            let idf = idf(n, df as f32);
            let (head, most) = in_base.map_or((empty, 0.0), |(p, (_, most))| (p, most));
            let tail = in_delta.unwrap_or(empty);
            let score = scorer(head, tail, nb as u32, idf, norms);
            let tail_most = (head.0.len()..head.0.len() + tail.0.len())
                .map(&score)
                .fold(0f32, f32::max);
            lists.push(List {
                docs: Chain {
                    head: head.0,
                    tail: tail.0,
                    off: nb as u32,
                },
                bound: (idf * most).max(tail_most),
                score,
            });
        }
        let (documents, rank) = (nb + self.index.len(), |doc: u32| self.pair_of(nb, doc));
        let gone = documents - self.total;
        if keep.is_none() && gone <= k {
            // Few gone: the best `k + gone` of every document hold the best
            // `k` of those not gone (ranked last among equals, as GONE),
            // which asking of each document would cost more.
            let mut hits = top_k_ranked(&lists, documents, k.saturating_add(gone), None, &rank);
            hits.retain(|&(pair, _)| pair != GONE as usize);
            hits.truncate(k);
            return hits;
        }
        // Gone documents are left out by one bit each; a filter is asked
        // of the pair.
        let accept = |doc: usize| {
            !self.is_gone(doc)
                && keep.is_none_or(|keep| keep(self.pair_of(nb, doc as u32) as usize))
        };
        top_k_ranked(&lists, documents, k, Some(&accept), &rank)
    }

    /// The index a full build makes of the arm's pairs: each term's
    /// postings, the base's that are pairs still and the delta's, by pair.
    fn merged(&self, base: &LexicalIndex) -> LexicalIndex {
        let mut lengths = vec![0u32; self.total];
        for (doc, &p) in self.base_pairs.iter().enumerate() {
            if p != GONE {
                lengths[p as usize] = base.lengths()[doc];
            }
        }
        for (d, &p) in self.pairs.iter().enumerate() {
            lengths[p as usize] = self.index.lengths()[d];
        }
        let (words_b, words_d) = (base.words(), self.index.words());
        let (mut i, mut j) = (0, 0);
        let (mut terms, mut offsets, mut docs, mut tfs) = (Vec::new(), vec![0u32], vec![], vec![]);
        let mut list: Vec<(u32, u32)> = Vec::new();
        while i < words_b.len() || j < words_d.len() {
            let from_b = j == words_d.len() || (i < words_b.len() && words_b[i] <= words_d[j]);
            let from_d = i == words_b.len() || (j < words_d.len() && words_d[j] <= words_b[i]);
            let word = if from_b { &words_b[i] } else { &words_d[j] };
            list.clear();
            if from_b {
                let (ds, ts) = base.postings(i);
                let live = ds.iter().zip(ts);
                list.extend(live.map(|(&d, &tf)| (self.base_pairs[d as usize], tf)));
                list.retain(|&(p, _)| p != GONE);
            }
            if from_d {
                let (ds, ts) = self.index.postings(j);
                list.extend(
                    ds.iter()
                        .zip(ts)
                        .map(|(&d, &tf)| (self.pairs[d as usize], tf)),
                );
            }
            if !list.is_empty() {
                list.sort_unstable();
                terms.push(word.clone());
                docs.extend(list.iter().map(|&(p, _)| p));
                tfs.extend(list.iter().map(|&(_, tf)| tf));
                offsets.push(docs.len() as u32);
            }
            i += from_b as usize;
            j += from_d as usize;
        }
        LexicalIndex::from_parts(base.stemming(), terms, offsets, docs, tfs, lengths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{decode, encode};
    use proptest::prelude::*;

    /// The arm of `index` as a generation's file holds it.
    fn on_disk(index: LexicalIndex) -> Lexical {
        let bytes = encode(&index);
        Lexical::read(index, (bytes.len() as u64, crc32fast::hash(&bytes)), None).unwrap()
    }

    /// `arm` as the next process reads it: whole and written, or the same
    /// base with its delta encoded and decoded.
    fn written(arm: Lexical) -> Lexical {
        match arm.delta() {
            None => on_disk(arm.base().clone()),
            Some(d) => {
                let delta: Delta = decode(&encode(d)).unwrap();
                let read = Lexical::read(arm.base().clone(), arm.base_file().unwrap(), Some(delta));
                let read = read.unwrap();
                assert_eq!(read, arm);
                read
            }
        }
    }

    fn build(texts: &[String]) -> LexicalIndex {
        LexicalIndex::build(texts.iter().map(String::as_str), true)
    }

    fn bits(hits: &[(usize, f32)]) -> Vec<(usize, u32)> {
        hits.iter().map(|&(d, s)| (d, s.to_bits())).collect()
    }

    /// Words drawn unevenly (a few common, most rare), so that scores tie.
    fn text() -> impl Strategy<Value = String> {
        const WORDS: [&str; 10] = [
            "river", "river", "river", "bridge", "bridge", "castle", "ferry", "lamp", "tower",
            "glacier",
        ];
        proptest::collection::vec(0usize..10, 0..6).prop_map(|ws| {
            ws.into_iter()
                .map(|w| WORDS[w])
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// One edit of an update: a pair removed, added or changed at a place,
    /// or moved (kept, elsewhere: the base's documents then map to pairs
    /// out of order).
    #[derive(Debug, Clone)]
    enum Edit {
        Remove(usize),
        Add(usize, String),
        Change(usize, String),
        Move(usize, usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (0usize..200).prop_map(Edit::Remove),
            (0usize..200, text()).prop_map(|(at, t)| Edit::Add(at, t)),
            (0usize..200, text()).prop_map(|(at, t)| Edit::Change(at, t)),
            (0usize..200, 0usize..200).prop_map(|(from, to)| Edit::Move(from, to)),
        ]
    }

    /// `texts` after `edits`, and each new pair's previous pair.
    fn apply(texts: &[String], edits: &[Edit]) -> (Vec<String>, Vec<Option<u32>>) {
        let mut now: Vec<(String, Option<u32>)> =
            (texts.iter().cloned()).zip((0..).map(Some)).collect();
        for e in edits {
            let at = |i: usize, len: usize| i % len.max(1);
            match e {
                Edit::Remove(i) if !now.is_empty() => {
                    now.remove(at(*i, now.len()));
                }
                Edit::Add(i, t) => now.insert(at(*i, now.len() + 1), (t.clone(), None)),
                Edit::Change(i, t) if !now.is_empty() => {
                    let i = at(*i, now.len());
                    now[i] = (t.clone(), None);
                }
                Edit::Move(from, to) if !now.is_empty() => {
                    let pair = now.remove(at(*from, now.len()));
                    now.insert(at(*to, now.len() + 1), pair);
                }
                _ => {}
            }
        }
        now.into_iter().unzip()
    }

    proptest! {
        /// Updates over a base: each arm, delta or whole, written and read
        /// back, is the full build's index of its texts, and searches as it
        /// does, bit for bit (with and without a filter).
        #[test]
        fn an_updated_arm_is_the_full_builds(
            first in proptest::collection::vec(text(), 8..80),
            updates in proptest::collection::vec(proptest::collection::vec(edit(), 0..4), 1..5),
            queries in proptest::collection::vec(text(), 1..4),
            k in 1usize..8,
        ) {
            let mut texts = first;
            let mut arm = on_disk(build(&texts));
            for edits in &updates {
                let (next, reuse) = apply(&texts, edits);
                arm = written(Lexical::updated(&arm, &reuse, |i| next[i].clone()));
                texts = next;
                let full = build(&texts);
                prop_assert_eq!(&*arm.merged(), &full);
                prop_assert_eq!(arm.len(), texts.len());
                for i in 0..texts.len() {
                    prop_assert_eq!(arm.terms_of(i), full.terms_of(i));
                }
                let odd = |p: usize| p % 2 == 1;
                for q in &queries {
                    prop_assert_eq!(bits(&arm.search(q, k)), bits(&full.search(q, k)), "{}", q);
                    let (got, want) = (arm.search_where(q, k, Some(&odd)), full.search_where(q, k, Some(&odd)));
                    prop_assert_eq!(bits(&got), bits(&want), "{} (odd pairs)", q);
                }
            }
        }
    }

    fn numbered(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("river bridge item{i} lamp{}", i % 7))
            .collect()
    }

    #[test]
    fn a_small_change_is_a_delta_over_the_same_base_and_past_an_eighth_the_arm_is_whole() {
        let texts = numbered(64);
        let arm = on_disk(build(&texts));
        let unchanged: Vec<Option<u32>> = (0..64).map(Some).collect();
        let same = Lexical::updated(&arm, &unchanged, |_| unreachable!("nothing is read"));
        assert!(same.delta().is_none() && same.base_file() == arm.base_file());
        assert!(Arc::ptr_eq(&same.base, &arm.base));

        // A changed pair is a base document gone and a pair in the delta:
        // 4 of 64 changed are 8, an eighth: a delta; 5 are past it: whole.
        for (changed, delta) in [(1, true), (4, true), (5, false)] {
            let mut reuse = unchanged.clone();
            reuse[..changed].fill(None);
            let text = |i: usize| format!("changed ferry {i}");
            let next = Lexical::updated(&arm, &reuse, text);
            assert_eq!(next.delta().is_some(), delta, "{changed} changed");
            let want: Vec<String> = (0..64)
                .map(|i| {
                    if i < changed {
                        text(i)
                    } else {
                        texts[i].clone()
                    }
                })
                .collect();
            assert_eq!(*next.merged(), build(&want));
            if delta {
                assert!(Arc::ptr_eq(&next.base, &arm.base), "the base is kept");
                assert_eq!(next.base_file(), arm.base_file());
                assert_eq!(next.delta().unwrap().pairs(), changed);
            } else {
                assert_eq!(next.base_file(), None, "written whole");
            }
        }
        // 7 removed and 1 added are 8: a delta; 8 removed and 1 added, whole.
        for (removed, delta) in [(7, true), (8, false)] {
            let mut reuse: Vec<Option<u32>> = (removed..64).map(Some).collect();
            reuse.push(None);
            let next = Lexical::updated(&arm, &reuse, |_| "new ferry".into());
            assert_eq!(next.delta().is_some(), delta, "{removed} removed");
            assert_eq!(next.len(), 65 - removed as usize);
        }
        // An arm not read from a file (a database's) is always whole.
        let memory = Lexical::whole(build(&texts));
        let mut reuse = unchanged.clone();
        reuse[0] = None;
        assert!(Lexical::updated(&memory, &reuse, |_| "x".into())
            .delta()
            .is_none());
    }

    #[test]
    fn a_delta_that_is_not_its_bases_is_refused() {
        let texts = numbered(40);
        let arm = on_disk(build(&texts));
        let mut reuse: Vec<Option<u32>> = (0..40).map(Some).collect();
        reuse[3] = None;
        reuse.push(None);
        let next = Lexical::updated(&arm, &reuse, |i| format!("new {i}"));
        let delta = next.delta().unwrap().clone();
        let (base, file) = (arm.base().clone(), arm.base_file().unwrap());
        let read = |d: Delta| Lexical::read(base.clone(), file, Some(d));
        assert!(read(delta.clone()).is_ok());

        let err = Lexical::read(base.clone(), (file.0, file.1 ^ 1), Some(delta.clone()));
        assert!(err.unwrap_err().contains("another lexical.bin"));
        let err = Lexical::read(base.clone(), (file.0 + 1, file.1), Some(delta.clone()));
        assert!(err.unwrap_err().contains("another lexical.bin"));
        let mut other = delta.clone();
        other.base_pairs.pop();
        assert!(read(other).unwrap_err().contains("documents"));
        let mut other = delta.clone();
        other.index = LexicalIndex::build(["new three", "new forty"], false);
        assert!(read(other).unwrap_err().contains("documents"));
        // A pair twice, a pair past the end, a pair lost.
        let mut other = delta.clone();
        other.pairs[0] = other.base_pairs[0];
        assert!(read(other).unwrap_err().contains("inconsistent"));
        let mut other = delta.clone();
        other.pairs[1] = 41;
        assert!(read(other).unwrap_err().contains("inconsistent"));
        let mut other = delta.clone();
        other.base_pairs[5] = GONE;
        assert!(read(other).unwrap_err().contains("inconsistent"));
        // A delta's document that is no pair (its search would hand GONE to a filter).
        let mut other = delta.clone();
        other.pairs[0] = GONE;
        assert!(read(other).unwrap_err().contains("inconsistent"));
        let mut other = delta.clone();
        other.index = LexicalIndex::build(["one"], true);
        assert!(read(other).is_err(), "a document per pair");
        // Bytes cut short do not decode.
        let bytes = encode(&delta);
        assert!(decode::<Delta>(&bytes[..bytes.len() - 3]).is_err());
    }
}
