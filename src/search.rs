//! Answers a question: embed it, find the nearest answer sentences, group
//! them by Q&A pair (a pair appears once, ranked by its best sentence).

use serde::Serialize;

use crate::ann::{exact_search, Hit};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::store::Snapshot;

/// Query-time settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchConfig {
    /// Q&A pairs to return. Default 3.
    pub top_k: usize,
    /// HNSW search breadth. Default 64; higher is slower and closer to exact.
    pub ef_search: usize,
    /// Scan every vector instead of walking the graph. Default false.
    pub exact: bool,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            top_k: 3,
            ef_search: 64,
            exact: false,
        }
    }
}

impl SearchConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if self.top_k == 0 || self.top_k > 10_000 {
            return Err(Error::Usage(format!(
                "-k must be in 1..=10000, got {}",
                self.top_k
            )));
        }
        if self.ef_search == 0 || self.ef_search > 100_000 {
            return Err(Error::Usage(format!(
                "--ef must be in 1..=100000, got {}",
                self.ef_search
            )));
        }
        Ok(())
    }
}

/// One answer: a Q&A pair and the sentence of it that matched best.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// 1-based rank.
    pub rank: usize,
    /// Cosine similarity of the best sentence, higher is better.
    pub score: f32,
    /// The corpus question.
    pub question: String,
    /// The full answer.
    pub answer: String,
    /// The answer sentence that matched.
    pub passage: String,
    /// The document key, relative to the data folder.
    pub doc: String,
    /// 1-based line of the question in its file.
    pub line: usize,
    /// Byte span of `passage` inside `answer`.
    #[serde(skip)]
    pub span: (usize, usize),
    /// Index of the pair in the snapshot's metadata.
    #[serde(skip)]
    pub pair: usize,
}

/// Checks a question: it must hold something besides whitespace.
pub fn validate_question(question: &str) -> Result<&str> {
    let q = question.trim();
    if q.is_empty() {
        return Err(Error::Usage(
            "the question is empty: ask something, e.g. qasearch ask \"What is the main goal of the coalition?\"".into(),
        ));
    }
    Ok(q)
}

/// Embeds a question (after [`validate_question`]).
pub fn embed_question(embedder: &mut dyn Embedder, question: &str) -> Result<Vec<f32>> {
    let question = validate_question(question)?;
    embedder
        .embed_batch(&[question])?
        .pop()
        .ok_or_else(|| Error::Embed("the model returned no vector".into()))
}

/// Embeds `question` and returns the best pairs.
pub fn ask(
    snapshot: &Snapshot,
    embedder: &mut dyn Embedder,
    question: &str,
    config: &SearchConfig,
) -> Result<Vec<Answer>> {
    config.validate()?;
    let vector = embed_question(embedder, question)?;
    if vector.len() != snapshot.dimension() {
        return Err(Error::Incompatible {
            path: snapshot.dir.join(crate::store::MANIFEST),
            what: "dimension",
            expected: vector.len().to_string(),
            found: snapshot.dimension().to_string(),
        });
    }
    Ok(search_vector(snapshot, &vector, config))
}

/// The best sentence hits for a query vector (no grouping), best first.
pub fn sentence_hits(
    snapshot: &Snapshot,
    query: &[f32],
    n: usize,
    config: &SearchConfig,
) -> Vec<Hit> {
    let meta = &snapshot.meta;
    let any_hidden = snapshot.manifest.counts.rows != snapshot.manifest.counts.vectors;
    let live = |row: usize| meta.is_live(row);
    let keep: Option<&dyn Fn(usize) -> bool> = if any_hidden { Some(&live) } else { None };
    if config.exact {
        exact_search(snapshot.vectors(), snapshot.dimension(), query, n, keep)
    } else {
        snapshot.graph.search(
            snapshot.vectors(),
            snapshot.dimension(),
            query,
            n,
            config.ef_search.max(n),
            keep,
        )
    }
}

/// The best pairs for a query vector, one entry per pair, best first. A row
/// shared by several pairs (the same sentence in several answers) gives each
/// of them, in corpus order.
pub fn search_vector(snapshot: &Snapshot, query: &[f32], config: &SearchConfig) -> Vec<Answer> {
    let meta = &snapshot.meta;
    let live = snapshot.manifest.counts.vectors;
    let mut n = (config.top_k * 4 + 16).min(live);
    loop {
        let hits = sentence_hits(snapshot, query, n, config);
        let mut seen = std::collections::HashSet::new();
        let mut answers = Vec::new();
        for hit in &hits {
            for occ in meta.occurrences_of(hit.row) {
                if !seen.insert(occ.pair) {
                    continue;
                }
                let pair = &meta.pairs[occ.pair as usize];
                let (start, end) = if occ.whole {
                    best_sentence(snapshot, occ.pair, query)
                        .unwrap_or((occ.start as usize, occ.end as usize))
                } else {
                    (occ.start as usize, occ.end as usize)
                };
                answers.push(Answer {
                    rank: answers.len() + 1,
                    score: hit.score,
                    question: pair.question.clone(),
                    answer: pair.answer.clone(),
                    passage: pair.answer[start..end].to_string(),
                    doc: meta.documents[pair.doc as usize].key.clone(),
                    line: pair.line as usize,
                    span: (start, end),
                    pair: occ.pair as usize,
                });
                if answers.len() == config.top_k {
                    return answers;
                }
            }
        }
        // Too few distinct pairs among the hits: look further, up to everything.
        if n >= live || hits.len() < n {
            return answers;
        }
        n = (n * 4).min(live);
    }
}

/// The span of the pair's sentence closest to `query` (for a pair found by its whole answer).
fn best_sentence(snapshot: &Snapshot, pair: u32, query: &[f32]) -> Option<(usize, usize)> {
    snapshot
        .meta
        .pair_occurrences(pair)
        .iter()
        .filter(|o| !o.whole)
        .map(|o| (crate::ann::dot(snapshot.vector(o.row as usize), query), o))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, o)| (o.start as usize, o.end as usize))
}
