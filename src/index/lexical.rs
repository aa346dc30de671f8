//! Lexical evidence (the only user of the `bm25` crate):
//! - [`LexicalIndex`]: the engine's lexical arm, BM25 over each pair's
//!   question and answer, built with every generation and stored in it
//!   (`lexical.bin`), searched in place; after small updates, the base of a
//!   delta ([`crate::index::lexical_delta`]);
//! - [`Bm25`]: the `bm25` crate's own engine, the honest baseline of `eval`.
//!
//! Both score with the Lucene variant of BM25 (k1 = 1.5, b = 0.75) over the
//! crate's tokenizer: Unicode words, lowercased and normalised, English stop
//! words removed; the engine's arm also stems (Snowball English).

use std::collections::HashMap;

mod decode;
mod rebuild;

use bm25::{DefaultTokenizer, Language, SearchEngine, SearchEngineBuilder};
use serde::{Deserialize, Serialize};

use super::Learned;

/// BM25 term-frequency saturation.
pub const K1: f32 = 1.5;
/// BM25 length normalisation.
pub const B: f32 = 0.75;

fn tokenizer(stemming: bool) -> &'static DefaultTokenizer {
    // Building one loads its stop words and stemmer: once per process.
    static PLAIN: std::sync::OnceLock<DefaultTokenizer> = std::sync::OnceLock::new();
    static STEMMED: std::sync::OnceLock<DefaultTokenizer> = std::sync::OnceLock::new();
    let cell = if stemming { &STEMMED } else { &PLAIN };
    cell.get_or_init(|| {
        DefaultTokenizer::builder()
            .language_mode(Language::English)
            .normalization(true)
            .stopwords(true)
            .stemming(stemming)
            .build()
    })
}

/// Version of the tokenization. A change bumps [`crate::store::FORMAT_VERSION`]
/// too: a stored `lexical.bin` holds the terms of the tokenization that wrote it.
pub const TOKENIZER_VERSION: u32 = 2;

/// Chinese, Japanese and Korean letters: written without spaces between
/// words (Korean between phrases), so a run of them is cut into overlapping
/// pairs of characters, as Lucene's CJK analyzer does, and kept as written
/// (the crate's tokenizer would spell them in Latin letters, one syllable a
/// token, where homophones meet).
fn is_cjk(c: char) -> bool {
    matches!(
        crate::corpus::script::Script::of(c),
        Some(
            crate::corpus::script::Script::Han
                | crate::corpus::script::Script::Kana
                | crate::corpus::script::Script::Hangul
        )
    )
}

/// The terms of `text`: the crate's tokenizer, with runs of CJK letters
/// cut into character pairs (a lone character is a term of its own).
pub fn terms(tok: &DefaultTokenizer, text: &str) -> Vec<String> {
    if !text.chars().any(is_cjk) {
        return bm25::Tokenizer::tokenize(tok, text);
    }
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cjk_at = rest.find(is_cjk).unwrap_or(rest.len());
        if cjk_at > 0 {
            out.extend(bm25::Tokenizer::tokenize(tok, &rest[..cjk_at]));
            rest = &rest[cjk_at..];
            continue;
        }
        let run_end = rest.find(|c: char| !is_cjk(c)).unwrap_or(rest.len());
        let run: Vec<char> = rest[..run_end].chars().collect();
        if run.len() == 1 {
            out.push(run[0].to_string());
        } else {
            out.extend(run.windows(2).map(|w| w.iter().collect::<String>()));
        }
        rest = &rest[run_end..];
    }
    out
}

/// An inverted index of documents (here: Q&A pairs), stored with the index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LexicalIndex {
    /// Whether terms are stemmed.
    stemming: bool,
    /// The terms, sorted.
    terms: Vec<String>,
    /// `postings[offsets[t]..offsets[t + 1]]` are term `t`'s postings.
    offsets: Vec<u32>,
    /// Document of each posting.
    docs: Vec<u32>,
    /// Term frequency of each posting.
    tfs: Vec<u32>,
    /// Terms in each document.
    lengths: Vec<u32>,
    #[serde(skip)]
    learned: Learned<Tables>,
}

impl LexicalIndex {
    /// Indexes `texts` (one a document); hits refer to their positions.
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a str>, stemming: bool) -> Self {
        let tok = tokenizer(stemming);
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut lengths = Vec::new();
        for (doc, text) in texts.into_iter().enumerate() {
            let tokens = terms(tok, text);
            lengths.push(tokens.len() as u32);
            let mut counts: HashMap<String, u32> = HashMap::new();
            for t in tokens {
                *counts.entry(t).or_default() += 1;
            }
            for (t, n) in counts {
                postings.entry(t).or_default().push((doc as u32, n));
            }
        }
        let mut terms: Vec<String> = postings.keys().cloned().collect();
        terms.sort_unstable();
        let mut offsets = Vec::with_capacity(terms.len() + 1);
        let (mut docs, mut tfs) = (Vec::new(), Vec::new());
        offsets.push(0);
        for t in &terms {
            let mut list = postings.remove(t).unwrap_or_default();
            list.sort_unstable();
            for (d, n) in list {
                docs.push(d);
                tfs.push(n);
            }
            offsets.push(docs.len() as u32);
        }
        LexicalIndex::from_parts(stemming, terms, offsets, docs, tfs, lengths)
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Terms indexed for document `doc` (0 for one it does not have).
    pub fn terms_of(&self, doc: usize) -> u32 {
        self.lengths.get(doc).copied().unwrap_or(0)
    }

    /// Whether `text` has a term this index would keep (not every text
    /// does: stop words alone, "It is.").
    pub fn has_terms(&self, text: &str) -> bool {
        !terms(tokenizer(self.stemming), text).is_empty()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// Checks the internal invariants (for a file read from disk).
    pub fn validate(&self, documents: usize) -> Result<(), String> {
        if self.lengths.len() != documents {
            return Err(format!(
                "{} documents, expected {documents}",
                self.lengths.len()
            ));
        }
        if self.offsets.len() != self.terms.len() + 1
            || self.offsets.first() != Some(&0)
            || self.offsets.windows(2).any(|w| w[0] > w[1])
            || self.offsets.last().map(|&o| o as usize) != Some(self.docs.len())
            || self.docs.len() != self.tfs.len()
            || self.docs.iter().any(|&d| d as usize >= documents)
            || self.terms.windows(2).any(|w| w[0] >= w[1])
        {
            return Err("postings are inconsistent".into());
        }
        Ok(())
    }

    /// The `k` best documents for `query`: (position, BM25 score), best
    /// first, ties by position. Each distinct query term counts once.
    pub fn search(&self, query: &str, k: usize) -> Vec<(usize, f32)> {
        self.search_where(query, k, None)
    }

    /// The best `k` documents for `query` among those `keep` accepts:
    /// exactly what scoring every posting of the query's terms gives, found
    /// by MaxScore ([`crate::index::maxscore`]), which skips most postings
    /// of a question's common words.
    pub fn search_where(
        &self,
        query: &str,
        k: usize,
        keep: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        if self.is_empty() || k == 0 {
            return Vec::new();
        }
        let lists: Vec<_> = self
            .query_terms(query)
            .into_iter()
            .map(|(t, idf)| {
                let (a, b) = (self.offsets[t] as usize, self.offsets[t + 1] as usize);
                let score = move |i: usize| idf * self.norm(a + i);
                crate::index::maxscore::List {
                    docs: &self.docs[a..b],
                    bound: self.bound(t, score),
                    score,
                }
            })
            .collect();
        crate::index::maxscore::top_k(&lists, self.len(), k, keep)
    }

    /// The query's distinct terms that the index has, in order, each with
    /// its inverse document frequency.
    fn query_terms(&self, query: &str) -> Vec<(usize, f32)> {
        let n = self.lengths.len() as f32;
        self.query_words(query)
            .iter()
            .filter_map(|w| self.term(w))
            .map(|t| (t, idf(n, self.postings(t).0.len() as f32)))
            .collect()
    }

    /// The query's distinct terms, sorted (whether indexed or not).
    pub(crate) fn query_words(&self, query: &str) -> Vec<String> {
        let mut words = terms(tokenizer(self.stemming), query);
        words.sort_unstable();
        words.dedup();
        words
    }

    /// The number of term `word`, where the index has it.
    pub(crate) fn term(&self, word: &str) -> Option<usize> {
        self.terms.binary_search_by(|t| t.as_str().cmp(word)).ok()
    }

    /// Term `t`'s postings: documents (in order) and term frequencies.
    pub(crate) fn postings(&self, t: usize) -> (&[u32], &[u32]) {
        let (a, b) = (self.offsets[t] as usize, self.offsets[t + 1] as usize);
        (&self.docs[a..b], &self.tfs[a..b])
    }

    /// The terms, sorted.
    pub(crate) fn words(&self) -> &[String] {
        &self.terms
    }

    /// Each document's number of terms.
    pub(crate) fn lengths(&self) -> &[u32] {
        &self.lengths
    }

    /// Whether terms are stemmed.
    pub(crate) fn stemming(&self) -> bool {
        self.stemming
    }

    /// An index of no document, stemming as `stemming` says.
    pub(crate) fn empty(stemming: bool) -> Self {
        LexicalIndex {
            stemming,
            offsets: vec![0],
            ..LexicalIndex::default()
        }
    }

    /// The index of these arrays (as the fields say), unchecked: for
    /// [`LexicalIndex::build`] and [`crate::index::lexical_delta`]'s merge,
    /// which make them so, and for the reading of a file (checked by
    /// [`LexicalIndex::validate`] after).
    pub(crate) fn from_parts(
        stemming: bool,
        terms: Vec<String>,
        offsets: Vec<u32>,
        docs: Vec<u32>,
        tfs: Vec<u32>,
        lengths: Vec<u32>,
    ) -> Self {
        LexicalIndex {
            stemming,
            terms,
            offsets,
            docs,
            tfs,
            lengths,
            learned: Learned::default(),
        }
    }

    /// BM25's saturated, length-normalised term frequency of posting `p`.
    fn norm(&self, p: usize) -> f32 {
        saturated(self.tfs[p], self.length_norms()[self.docs[p] as usize])
    }

    /// Each document's length normalisation (see [`length_norms`]), made
    /// at the first search and kept.
    fn length_norms(&self) -> &[f32] {
        self.learned
            .0
            .length_norms
            .get_or_init(|| length_norms(&self.lengths, self.lengths.iter().copied()))
    }

    /// The most that term `t` adds to a document's score (`score` of each
    /// of its postings): found by reading its postings the first time it
    /// is asked, then kept.
    fn bound(&self, t: usize, score: impl Fn(usize) -> f32) -> f32 {
        use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
        let bounds = self
            .learned
            .0
            .bounds
            .get_or_init(|| (0..self.terms.len()).map(|_| AtomicU32::new(0)).collect());
        // Every score is above 0: 0 means not yet found.
        match bounds[t].load(Relaxed) {
            0 => {
                let count = (self.offsets[t + 1] - self.offsets[t]) as usize;
                let most = (0..count).map(score).fold(0f32, f32::max);
                bounds[t].store(most.to_bits(), Relaxed);
                most
            }
            bits => f32::from_bits(bits),
        }
    }
}

/// BM25's inverse document frequency of a term that `df` of `n` documents
/// hold (Lucene's, never below 0).
pub(crate) fn idf(n: f32, df: f32) -> f32 {
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// BM25's saturated term frequency `tf` in a document of `length_norm`.
pub(crate) fn saturated(tf: u32, length_norm: f32) -> f32 {
    let tf = tf as f32;
    tf * (K1 + 1.0) / (tf + length_norm)
}

/// The length normalisation `K1 (1 - B + B len / avg)` of each of
/// `lengths` (the part of BM25's denominator that does not depend on the
/// term), `avg` the mean of `counted` (the documents the index holds).
pub(crate) fn length_norms(lengths: &[u32], counted: impl Iterator<Item = u32>) -> Vec<f32> {
    let (mut sum, mut n) = (0f64, 0usize);
    for l in counted {
        sum += l as f64;
        n += 1;
    }
    let avg = sum as f32 / n as f32;
    lengths
        .iter()
        .map(|&len| K1 * (1.0 - B + B * len as f32 / avg.max(1e-9)))
        .collect()
}

/// What searching learns of an index: each document's length
/// normalisation, and each term's largest score.
#[derive(Default)]
struct Tables {
    length_norms: std::sync::OnceLock<Vec<f32>>,
    bounds: std::sync::OnceLock<Vec<std::sync::atomic::AtomicU32>>,
}

/// A BM25 index over texts, searched by position.
pub struct Bm25 {
    engine: SearchEngine<u32>,
}

impl std::fmt::Debug for Bm25 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25").finish_non_exhaustive()
    }
}

impl Bm25 {
    /// Indexes `texts`; hits refer to their positions.
    pub fn new(texts: &[&str]) -> Self {
        let tokenizer = DefaultTokenizer::builder()
            .language_mode(Language::English)
            .normalization(true)
            .stopwords(true)
            .stemming(false)
            .build();
        let documents: Vec<bm25::Document<u32>> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| bm25::Document::new(i as u32, *t))
            .collect();
        let engine = SearchEngineBuilder::<u32>::with_tokenizer_and_documents(tokenizer, documents)
            .k1(K1)
            .b(B)
            .build();
        Bm25 { engine }
    }

    /// The `k` best texts for `query`: (position, score), best first; equal
    /// scores in position order, so results do not depend on hash order.
    pub fn search(&self, query: &str, k: usize) -> Vec<(usize, f32)> {
        // The crate cuts ties at the limit arbitrarily: ask for more, order, cut.
        let mut hits: Vec<(usize, f32)> = self
            .engine
            .search(query, k.saturating_mul(4).max(k + 32))
            .into_iter()
            .map(|r| (r.document.id as usize, r.score))
            .collect();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        hits.truncate(k);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every posting of the query's terms scored into a score per
    /// document, term after term (the arm's search before MaxScore).
    fn every_posting(index: &LexicalIndex, query: &str, k: usize) -> Vec<(usize, f32)> {
        let mut scores = vec![0f32; index.len()];
        let mut touched = Vec::new();
        for (t, idf) in index.query_terms(query) {
            for p in index.offsets[t] as usize..index.offsets[t + 1] as usize {
                let d = index.docs[p] as usize;
                if scores[d] == 0.0 {
                    touched.push(d);
                }
                scores[d] += idf * index.norm(p);
            }
        }
        let hits = touched.into_iter().map(|d| (d, scores[d])).collect();
        crate::index::best_k(hits, k, crate::index::by_score)
    }

    /// Texts of words drawn unevenly from twelve (a few common, most rare),
    /// so that questions mix common and rare words and scores often tie.
    fn skewed_text() -> impl Strategy<Value = String> {
        const WORDS: [&str; 12] = [
            "river", "river", "river", "river", "bridge", "bridge", "castle", "ferry", "orchard",
            "lamp", "tower", "oven",
        ];
        let extra = ["harbour", "meadow", "quarry", "glacier"];
        proptest::collection::vec(0usize..16, 0..9).prop_map(move |ws| {
            ws.into_iter()
                .map(|w| if w < 12 { WORDS[w] } else { extra[w - 12] })
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    proptest::proptest! {
        /// MaxScore skips postings but not answers: the same documents and
        /// scores, bit for bit, as scoring every posting.
        #[test]
        fn search_equals_scoring_every_posting(
            texts in proptest::collection::vec(skewed_text(), 1..40),
            queries in proptest::collection::vec(skewed_text(), 1..6),
            k in 1usize..12,
        ) {
            let index = LexicalIndex::build(texts.iter().map(String::as_str), true);
            for query in &queries {
                let got = index.search(query, k);
                let want = every_posting(&index, query, k);
                let bits = |h: &[(usize, f32)]| h.iter().map(|&(d, s)| (d, s.to_bits())).collect::<Vec<_>>();
                prop_assert_eq!(bits(&got), bits(&want), "{}", query);
            }
        }
    }

    #[test]
    fn cjk_runs_become_character_pairs_and_other_text_is_unchanged() {
        let tok = tokenizer(true);
        let english = "The coalition aims to provide military aid.";
        assert_eq!(terms(tok, english), bm25::Tokenizer::tokenize(tok, english));
        assert_eq!(
            terms(tok, "办公室在北京。"),
            ["办公", "公室", "室在", "在北", "北京"]
        );
        assert_eq!(terms(tok, "Visit 北京 today"), ["visit", "北京", "today"]);
        assert_eq!(terms(tok, "书"), ["书"]);
        // A query finds the document by a word inside a run.
        let index = LexicalIndex::build(["办公室在北京。每天九点开门！", "商店在上海。"], true);
        let hits = index.search("北京的办公室", 2);
        assert_eq!(hits[0].0, 0, "{hits:?}");
    }

    #[test]
    fn ranks_by_shared_rare_words() {
        let texts = [
            "The cat sat on the mat.",
            "Volcanoes erupt lava in Iceland.",
            "A dog and a cat played in the garden.",
        ];
        let bm = Bm25::new(&texts);
        let hits = bm.search("lava from an Icelandic volcano erupt", 3);
        assert_eq!(hits[0].0, 1);
        let hits = bm.search("where did the cat sit on the mat", 3);
        assert_eq!(hits[0].0, 0);
        assert!(bm.search("the and a", 3).is_empty(), "stop words only");
    }

    #[test]
    fn the_stored_index_ranks_like_the_crate_and_survives_encoding() {
        let texts = [
            "The cat sat on the mat.",
            "Volcanoes erupt lava in Iceland.",
            "A dog and a cat played in the garden.",
            "Cats and dogs: the cat is on the mat again.",
        ];
        let ours = LexicalIndex::build(texts.iter().copied(), false);
        ours.validate(4).unwrap();
        let theirs = Bm25::new(&texts);
        for q in [
            "cat on the mat",
            "lava Iceland",
            "dog garden",
            "nothing here",
        ] {
            let a: Vec<usize> = ours.search(q, 4).iter().map(|h| h.0).collect();
            let b: Vec<usize> = theirs.search(q, 4).iter().map(|h| h.0).collect();
            assert_eq!(a, b, "{q}");
        }
        let back: LexicalIndex = crate::store::decode(&crate::store::encode(&ours)).unwrap();
        assert_eq!(back, ours);
        assert!(back.validate(3).is_err());
        // Stemming finds other forms of a word.
        let stemmed = LexicalIndex::build(texts.iter().copied(), true);
        assert_eq!(stemmed.search("erupting volcano", 1)[0].0, 1);
    }
}
