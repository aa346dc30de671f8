//! BM25 over texts, the lexical baseline of `qasearch eval` (the only user of
//! the `bm25` crate).
//!
//! Settings follow the reference figures in NOTES (bm25s, Lucene variant):
//! k1 = 1.5, b = 0.75, English stop words removed, no stemming, Unicode
//! normalisation on.

use bm25::{DefaultTokenizer, Language, SearchEngine, SearchEngineBuilder};

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
            .k1(1.5)
            .b(0.75)
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
}
