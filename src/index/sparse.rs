//! The sparse arm's index (`sparse.bin`): each pair's learned sparse weights
//! ([`crate::model::sparse`]) and, built when it is read, an inverted index
//! from vocabulary entry to the pairs that weigh it. A query scores each pair
//! by the dot product of their weights.
//!
//! Stored are the pairs' weights (the postings are their transpose, made in
//! a few milliseconds per 10,000 pairs), with the text each was made from
//! identified by a hash, so that the next generation encodes only the pairs
//! whose text changed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::sparse::SparseVec;

/// Vocabulary entries a weight may name (BERT's uncased vocabulary).
pub const VOCABULARY: u32 = 30_522;

/// The sparse arm of one generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseIndex {
    /// The encoder that made the weights ([`crate::model::sparse::SparseEncoder::identity`]).
    pub model: String,
    /// Each pair's weights, by pair.
    docs: Vec<SparseVec>,
    /// Each pair's text's hash ([`text_hash`]), by pair.
    hashes: Vec<u64>,
    /// `postings[offsets[t]..offsets[t + 1]]` are entry `t`'s (pair, weight).
    #[serde(skip)]
    offsets: Vec<u32>,
    #[serde(skip)]
    postings: Vec<(u32, f32)>,
}

/// The hash that identifies the text a pair's weights were made from
/// (FNV-1a, 64 bits: stable across builds and machines).
pub fn text_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl SparseIndex {
    /// The index of `docs` (each pair's weights, with its text's hash).
    pub fn build(model: &str, docs: Vec<(u64, SparseVec)>) -> Self {
        let (hashes, docs) = docs.into_iter().unzip();
        let mut index = SparseIndex {
            model: model.to_owned(),
            docs,
            hashes,
            offsets: Vec::new(),
            postings: Vec::new(),
        };
        index.invert();
        index
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when no pair is indexed.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The weights of pairs by their text's hash (to reuse in the next
    /// generation).
    pub fn by_hash(&self) -> HashMap<u64, &SparseVec> {
        self.hashes.iter().copied().zip(&self.docs).collect()
    }

    /// A pair's weights.
    pub fn weights(&self, pair: usize) -> Option<&SparseVec> {
        self.docs.get(pair)
    }

    /// Checks a decoded index against its generation's `pairs` count, then
    /// builds the postings.
    pub fn validate(&mut self, pairs: usize) -> Result<(), String> {
        if self.docs.len() != pairs || self.hashes.len() != pairs {
            return Err(format!(
                "{} pairs' weights, expected {pairs}",
                self.docs.len()
            ));
        }
        for (pair, doc) in self.docs.iter().enumerate() {
            let sorted = doc.windows(2).all(|w| w[0].0 < w[1].0);
            let sound = doc
                .iter()
                .all(|&(t, w)| t < VOCABULARY && w.is_finite() && w > 0.0);
            if !sorted || !sound {
                return Err(format!("pair {pair}'s weights are inconsistent"));
            }
        }
        self.invert();
        Ok(())
    }

    fn invert(&mut self) {
        let entries = self
            .docs
            .iter()
            .flat_map(|d| d.iter().map(|&(t, _)| t as usize + 1))
            .max()
            .unwrap_or(0)
            .max(VOCABULARY as usize);
        let mut counts = vec![0u32; entries + 1];
        for doc in &self.docs {
            for &(t, _) in doc {
                counts[t as usize + 1] += 1;
            }
        }
        for t in 1..counts.len() {
            counts[t] += counts[t - 1];
        }
        let mut next = counts.clone();
        let mut postings = vec![(0u32, 0f32); *counts.last().unwrap_or(&0) as usize];
        for (pair, doc) in self.docs.iter().enumerate() {
            for &(t, w) in doc {
                let at = &mut next[t as usize];
                postings[*at as usize] = (pair as u32, w);
                *at += 1;
            }
        }
        self.offsets = counts;
        self.postings = postings;
    }

    /// The best `k` pairs for `query` among those `keep` accepts: (pair,
    /// dot product), best first, ties by pair; pairs sharing no weighted
    /// entry with the query are not returned.
    pub fn search(
        &self,
        query: &SparseVec,
        k: usize,
        keep: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        if self.is_empty() || k == 0 || self.offsets.is_empty() {
            return Vec::new();
        }
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for &(t, qw) in query {
            let Some(range) = self
                .offsets
                .get(t as usize)
                .zip(self.offsets.get(t as usize + 1))
            else {
                continue;
            };
            for &(pair, w) in &self.postings[*range.0 as usize..*range.1 as usize] {
                if keep.is_some_and(|keep| !keep(pair as usize)) {
                    continue;
                }
                *scores.entry(pair).or_default() += qw * w;
            }
        }
        let hits: Vec<(usize, f32)> = scores.into_iter().map(|(d, s)| (d as usize, s)).collect();
        crate::index::best_k(hits, k, crate::index::by_score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> SparseIndex {
        SparseIndex::build(
            "test",
            vec![
                (1, vec![(1, 1.0), (5, 2.0)]),
                (2, vec![(5, 1.0), (9, 3.0)]),
                (3, vec![(7, 1.0)]),
            ],
        )
    }

    #[test]
    fn pairs_score_by_the_dot_product_of_weights() {
        let i = index();
        let hits = i.search(&vec![(5, 1.0), (9, 0.5)], 10, None);
        // pair 0: 2.0; pair 1: 1.0 + 1.5 = 2.5; pair 2 shares nothing.
        assert_eq!(hits, vec![(1, 2.5), (0, 2.0)]);
        assert_eq!(i.search(&vec![(5, 1.0)], 1, None), vec![(0, 2.0)]);
        let only_second = |p: usize| p == 1;
        assert_eq!(
            i.search(&vec![(5, 1.0)], 10, Some(&only_second)),
            vec![(1, 1.0)]
        );
        assert!(i.search(&vec![(30_000, 1.0)], 10, None).is_empty());
        assert!(i.search(&Vec::new(), 10, None).is_empty());
    }

    #[test]
    fn a_decoded_index_is_checked_and_inverted_again() {
        let i = index();
        let bytes = crate::store::encode(&i);
        let mut back: SparseIndex = crate::store::decode(&bytes).unwrap();
        assert!(
            back.search(&vec![(5, 1.0)], 10, None).is_empty(),
            "not yet inverted"
        );
        back.validate(3).unwrap();
        assert_eq!(back, i);
        assert!(back.clone().validate(4).is_err());
        let mut bad = SparseIndex::build("t", vec![(0, vec![(VOCABULARY, 1.0)])]);
        assert!(bad.validate(1).is_err());
        let mut unsorted = SparseIndex::build("t", vec![(0, vec![(5, 1.0), (2, 1.0)])]);
        assert!(unsorted.validate(1).is_err());
        let mut nan = SparseIndex::build("t", vec![(0, vec![(5, f32::NAN)])]);
        assert!(nan.validate(1).is_err());
        assert_eq!(back.by_hash()[&2], &vec![(5, 1.0), (9, 3.0)]);
    }
}
