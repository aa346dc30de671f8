//! The search stage. Takes an open index ([`Snapshot`]) and a question; gives
//! one result per Q&A pair, best first, and whether the best is confident.
//! The question is embedded once; each of the [views](mod@views) (answer sentences,
//! stored questions, words) finds candidate pairs; [`fuse`] gives each pair
//! one score; the index's threshold decides abstention. Imports the stages
//! below it (corpus, model, index, store).

mod entity;
pub mod filter;
pub mod fuse;
mod template;
pub mod thread;
pub mod views;

pub use filter::Filter;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::index::ann::Hit;
use crate::model::embed::Embedder;
use crate::model::sparse::SparseVec;
use crate::search::views::View;
use crate::store::Snapshot;

/// The default search breadth for an index of `rows` rows: recall falls as
/// the graph grows at a fixed breadth (recall@10 on 1,000,000 clustered
/// vectors: 0.895 at 64, 0.981 at 128, 0.9985 at 256; on 100,000 real
/// sentence vectors with questions from elsewhere: 0.940 at 64, 0.977 at 128;
/// on 20,000: 0.9997 at 64), for a few tenths of a millisecond more. Past
/// two million rows 256 is not enough: the update bench's million pairs
/// (questions from outside the corpus against an exact scan of the
/// answers' graph) gave 0.954 at 256 and 0.985 at 512 with vectors around
/// a real model's (4.0 million rows, 2.8 million in that graph), 0.968 and
/// 0.982 over its 48-word corpus (4.2 million rows), for 0.53 → 0.96 and
/// 1.3 → 2.6 ms a walk; at 300,000 pairs (1.26 million rows) 256 gave 0.986.
pub fn auto_ef(rows: usize) -> usize {
    match rows {
        0..=20_000 => 64,
        20_001..=1_000_000 => 128,
        1_000_001..=2_000_000 => 256,
        _ => 512,
    }
}

/// Query-time settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    /// Q&A pairs to return. Default 3.
    pub top_k: usize,
    /// HNSW search breadth; higher is slower and closer to exact. None (the
    /// default): [`auto_ef`] of the index's size.
    pub ef_search: Option<usize>,
    /// Scan every vector instead of walking the graph. Default false.
    pub exact: bool,
    /// Overrides the index's threshold of a confident answer.
    pub min_score: Option<f32>,
    /// Report which views found each result.
    pub explain: bool,
    /// Only pairs whose metadata match (`--where`). Default: every pair.
    pub filter: Filter,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            top_k: 3,
            ef_search: None,
            exact: false,
            min_score: None,
            explain: false,
            filter: Filter::default(),
        }
    }
}

impl SearchConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if self.top_k == 0 || self.top_k > 10_000 {
            return Err(Error::Usage(format!(
                "the number of results (top_k) must be in 1..=10000, got {}",
                self.top_k
            )));
        }
        if self.min_score.is_some_and(|m| !(0.0..=1.0).contains(&m)) {
            return Err(Error::Usage(
                "the least score of a confident answer (min_score) is on the results' scale: 0 to 1"
                    .into(),
            ));
        }
        if let Some(ef) = self.ef_search.filter(|&ef| ef == 0 || ef > 100_000) {
            return Err(Error::Usage(format!(
                "the search breadth (ef_search) must be in 1..=100000, got {ef}"
            )));
        }
        Ok(())
    }

    /// The search breadth over an index of `rows` rows.
    pub fn ef_for(&self, rows: usize) -> usize {
        self.ef_search.unwrap_or_else(|| auto_ef(rows))
    }
}

/// One answer: a Q&A pair and the sentence of it that matched best.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// 1-based rank.
    pub rank: usize,
    /// The pair's fused score on the shown scale: 0 to 1, higher is
    /// better, as a share of the most a pair can score
    /// ([`crate::index::settings::FusionParams::shown`]).
    pub score: f32,
    /// What the result is: a Q&A `pair`, or a document's `passage` (then
    /// without a question, and `answer` is the passage).
    pub kind: &'static str,
    /// The corpus question (empty for a passage).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub question: String,
    /// The full answer.
    pub answer: String,
    /// The answer sentence that matched.
    pub passage: String,
    /// The document key, relative to the data folder.
    pub doc: String,
    /// 1-based line of the question in its file (of the matched sentence,
    /// for a passage).
    pub line: usize,
    /// Whether this result reaches the threshold (`min_score`): a confident
    /// answer; the others are listed for reference only.
    pub confident: bool,
    /// The pair's metadata: field name → value (a list where a field repeats).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// Byte span of `passage` inside `answer`.
    #[serde(skip)]
    pub span: (usize, usize),
    /// Index of the pair in the snapshot's metadata.
    #[serde(skip)]
    pub pair: usize,
    /// Which views found the pair, with their scores and ranks (`--explain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub views: Option<Vec<crate::search::fuse::Part>>,
    /// How far the pair was raised toward an answer to the same stored
    /// question ranked above it (`--explain`; [`thread`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<thread::Raised>,
}

/// The answers to one question, and whether any is confident enough.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answers {
    /// False when no pair scored at least `min_score`: the corpus has no
    /// confident answer (the results are then the best guesses, and a front
    /// end should say so rather than present them as answers).
    pub answered: bool,
    /// The best fused score, without what the sparse arm added (the score
    /// the threshold is compared with), on the results' scale (0–1).
    pub best: f32,
    /// The threshold it was compared with, on the same scale.
    pub min_score: f32,
    /// The best pairs, best first.
    pub results: Vec<Answer>,
}

/// What `ask --json` prints for one question, and what a server returns:
/// the question, then [`Answers`]' fields.
#[derive(Debug, Clone, Serialize)]
pub struct Reply<'a> {
    /// The question as asked (trimmed).
    pub question: &'a str,
    /// The answers.
    #[serde(flatten)]
    pub answers: &'a Answers,
}

/// Views searched this deep before fusion: the best 40 pairs of each view
/// (of a dense view, however many of its nearest rows they take). 30, 40
/// and 50 were measured: 40 is where wikiqa-dev stops losing
/// (docs/search.md, "Fusion").
pub const VIEW_DEPTH: usize = 40;

/// The engine's retrieval: every view the index has → fusion → one result
/// per pair → abstention against `min_score` (each view explained with
/// `config.explain`).
pub fn retrieve(
    snapshot: &Snapshot,
    query: &[f32],
    question: &str,
    sparse: Option<&SparseVec>,
    config: &SearchConfig,
    fusion: &crate::index::settings::FusionParams,
    min_score: f32,
) -> Result<Answers> {
    let views = views(snapshot, query, question, sparse, config)?;
    answers_of(
        snapshot,
        query,
        &views,
        config,
        fusion,
        min_score,
        config.explain,
    )
}

/// The candidates of every view the index has, `VIEW_DEPTH` (or `top_k`)
/// deep. `sparse`: the question's weights, when the index has a sparse arm.
pub fn views(
    snapshot: &Snapshot,
    query: &[f32],
    question: &str,
    sparse: Option<&SparseVec>,
    config: &SearchConfig,
) -> Result<Vec<(View, Vec<crate::search::views::ViewHit>)>> {
    let mut list = vec![View::Answers];
    if snapshot.manifest.counts.questions > 0 {
        list.push(View::Questions);
    }
    list.push(View::Lexical);
    if snapshot.manifest.counts.passage_sentences > 0 {
        list.push(View::Passage);
    }
    if snapshot.remote_rows().is_some() {
        // Each dense view is a round trip to the database: side by side,
        // a question waits for the slowest instead of the sum.
        let mut found = std::thread::scope(|scope| {
            let running: Vec<_> = list
                .iter()
                .map(|&v| {
                    (
                        v,
                        scope.spawn(move || view(snapshot, query, question, v, config)),
                    )
                })
                .collect();
            running
                .into_iter()
                .map(|(v, handle)| {
                    let hits = handle.join().map_err(|_| crate::Error::Ann {
                        op: "search",
                        message: format!("the {} view's search panicked", v.name()),
                    })??;
                    Ok((v, hits))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        keep_found_passages(snapshot, &mut found, View::Lexical);
        entity::discount_other_entities(snapshot, question, &mut found);
        template::discount_other_topics(snapshot, question, &mut found);
        return Ok(found);
    }
    let mut found: Vec<(View, Vec<crate::search::views::ViewHit>)> = list
        .into_iter()
        .map(|v| Ok((v, view(snapshot, query, question, v, config)?)))
        .collect::<Result<_>>()?;
    keep_found_passages(snapshot, &mut found, View::Lexical);
    entity::discount_other_entities(snapshot, question, &mut found);
    template::discount_other_topics(snapshot, question, &mut found);
    if let (Some(weights), true) = (sparse, snapshot.sparse.is_some()) {
        let depth = config.top_k.max(VIEW_DEPTH);
        let hits = crate::search::views::sparse(snapshot, weights, depth, &config.filter);
        found.push((View::Sparse, hits));
        keep_found_passages(snapshot, &mut found, View::Sparse);
    }
    Ok(found)
}

/// Drops from `arm`'s hits the passages the passage view did not find. A
/// passage is scored from that view's cosine: one it did not find is not a
/// result, whatever its words.
fn keep_found_passages(
    snapshot: &Snapshot,
    found: &mut [(View, Vec<crate::search::views::ViewHit>)],
    arm: View,
) {
    let passages: Vec<u32> = found
        .iter()
        .filter(|(v, _)| *v == View::Passage)
        .flat_map(|(_, h)| h.iter().map(|h| h.pair))
        .collect();
    for (view, hits) in found.iter_mut() {
        if *view == arm {
            hits.retain(|h| {
                !snapshot.meta.pairs[h.pair as usize].passage || passages.contains(&h.pair)
            });
        }
    }
}

/// The candidates of one view.
pub fn view(
    snapshot: &Snapshot,
    query: &[f32],
    question: &str,
    view: View,
    config: &SearchConfig,
) -> Result<Vec<crate::search::views::ViewHit>> {
    use crate::search::views::{self as r};
    let depth = config.top_k.max(VIEW_DEPTH);
    match view {
        View::Lexical => Ok(r::lexical(snapshot, question, depth, &config.filter)),
        // The sparse arm needs the question's weights: see `views`.
        View::Sparse => Ok(Vec::new()),
        dense => r::dense(snapshot, query, dense, config.top_k, depth, config),
    }
}

/// Leave-one-out for a stored question asked of its own index: the
/// question view may not return the question's own row (evaluation and
/// calibration; a user's question is never left out).
pub fn leave_out(views: &mut [(View, Vec<crate::search::views::ViewHit>)], question_row: u32) {
    for (view, hits) in views.iter_mut() {
        if *view == View::Questions {
            hits.retain(|h| h.row != Some(question_row));
        }
    }
}

/// The ranking every front end and `eval` give: the views fused
/// ([`fuse::fuse`]), then the answers to one stored question ordered by
/// what else is told of them and moved up together ([`thread::pool`]);
/// best first. Abstention judges [`best_evidence`], not the first's score.
pub fn rank(
    snapshot: &Snapshot,
    views: &[(View, Vec<crate::search::views::ViewHit>)],
    fusion: &crate::index::settings::FusionParams,
) -> Vec<fuse::Fused> {
    let mut fused = fuse::fuse(views, fusion);
    // A score is a number: never null (NaN) or infinite in a reply.
    fused.retain(|f| f.score.is_finite());
    let answers_floor = views
        .iter()
        .filter(|(v, _)| *v == View::Answers)
        .flat_map(|(_, hits)| hits.iter().map(|h| h.score))
        .reduce(f32::min);
    thread::pool(&mut fused, &snapshot.meta.pairs, answers_floor);
    fused
}

/// The best evidence among ranked pairs ([`fuse::Fused::evidence`]): what
/// abstention compares with the threshold. The first pair's, but where a
/// sibling better told took its thread's first place ([`thread`]).
pub fn best_evidence(fused: &[fuse::Fused]) -> Option<f32> {
    fused.iter().map(|f| f.evidence()).reduce(f32::max)
}

/// Fuses views into answers, with abstention against `min_score` (a fused
/// score); what it gives is on the shown scale (0–1).
pub fn answers_of(
    snapshot: &Snapshot,
    query: &[f32],
    views: &[(View, Vec<crate::search::views::ViewHit>)],
    config: &SearchConfig,
    fusion: &crate::index::settings::FusionParams,
    min_score: f32,
    explain: bool,
) -> Result<Answers> {
    let fused = rank(snapshot, views, fusion);
    let best = best_evidence(&fused).unwrap_or(f32::MIN);
    let top: Vec<_> = fused.into_iter().take(config.top_k).collect();
    let sparse = snapshot.sparse.is_some();
    let shown = |raw: f32| fusion.shown(raw, sparse);
    let pairs: Vec<(u32, f32)> = top.iter().map(|f| (f.pair, shown(f.score))).collect();
    let mut results = answers(snapshot, &pairs, query)?;
    for (a, f) in results.iter_mut().zip(&top) {
        a.confident = f.evidence() >= min_score;
    }
    if explain {
        let ceiling = fusion.ceiling(sparse);
        let rank_of = |pair: u32| top.iter().position(|f| f.pair == pair).map(|i| i + 1);
        for (a, f) in results.iter_mut().zip(&top) {
            a.thread = f.lift.and_then(|l| {
                Some(thread::Raised {
                    contribution: l.added / ceiling,
                    first: rank_of(l.first)?,
                })
            });
        }
        for (a, f) in results.iter_mut().zip(top) {
            let mut parts = f.parts;
            for p in &mut parts {
                p.contribution /= ceiling;
            }
            a.views = Some(parts);
        }
    }
    Ok(Answers {
        answered: best >= min_score,
        best: shown(best),
        min_score: shown(min_score),
        results,
    })
}

/// Checks a question, for every front end: it must hold something a model
/// reads ([`crate::corpus::text::means_something`]), not only whitespace, control
/// or invisible characters.
pub fn validate_question(question: &str) -> Result<&str> {
    let q = question.trim();
    if q.is_empty() {
        return Err(Error::Usage(
            "the question is empty: ask something, e.g. qasearch ask \"What is the main goal of the coalition?\"".into(),
        ));
    }
    if !crate::corpus::text::means_something(q) {
        return Err(Error::Usage(format!(
            "the question {} holds only control or invisible characters: ask in words",
            crate::corpus::text::visible(q)
        )));
    }
    Ok(q)
}

/// Embeds a question (after [`validate_question`]).
pub fn embed_question(embedder: &mut dyn Embedder, question: &str) -> Result<Vec<f32>> {
    let question = validate_question(question)?;
    embedder
        .embed_as(&[question], crate::model::embed::Role::Query)?
        .pop()
        .ok_or_else(|| Error::Embed("the model returned no vector".into()))
}

/// A question's sparse weights (after [`validate_question`]), when the
/// model was loaded with the sparse arm's encoder.
pub fn sparse_question(embedder: &mut dyn Embedder, question: &str) -> Result<Option<SparseVec>> {
    let question = validate_question(question)?;
    match embedder.sparse() {
        Some(encoder) => Ok(encoder.encode(&[question])?.pop()),
        None => Ok(None),
    }
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
    search_vector(snapshot, &vector, config)
}

/// The best sentence hits for a query vector (no grouping), best first.
pub fn sentence_hits(
    snapshot: &Snapshot,
    query: &[f32],
    n: usize,
    config: &SearchConfig,
) -> Result<Vec<Hit>> {
    crate::search::views::nearest_rows(snapshot, query, n, config, None)
}

/// The best pairs by their answers alone (the `answers` view), one entry per
/// pair, best first: what `eval` reports as `dense` and `exact`.
pub fn search_vector(
    snapshot: &Snapshot,
    query: &[f32],
    config: &SearchConfig,
) -> Result<Vec<Answer>> {
    let hits =
        crate::search::views::dense(snapshot, query, View::Answers, config.top_k, 0, config)?;
    let pairs: Vec<(u32, f32)> = hits.iter().map(|h| (h.pair, h.score)).collect();
    answers(snapshot, &pairs, query)
}

/// Pairs as results, ranked in the order given, each showing its sentence
/// closest to `query` (every sentence scored in one call: one round trip
/// to a database store).
pub fn answers(snapshot: &Snapshot, pairs: &[(u32, f32)], query: &[f32]) -> Result<Vec<Answer>> {
    let meta = &snapshot.meta;
    let sentences = |pair: u32| meta.pair_occurrences(pair).iter().filter(|o| o.is_shown());
    let rows: Vec<u32> = pairs
        .iter()
        .flat_map(|&(pair, _)| sentences(pair).map(|o| o.row))
        .collect();
    let scores = snapshot.row_scores(query, &rows)?;
    let mut scores = scores.into_iter();
    Ok(pairs
        .iter()
        .enumerate()
        .map(|(i, &(pair, score))| {
            let p = &meta.pairs[pair as usize];
            let best = sentences(pair).zip(scores.by_ref()).fold(
                None,
                |best: Option<(f32, (usize, usize))>, (o, s)| match best {
                    // The last of equals wins, as `max_by` would.
                    Some((b, _)) if b.total_cmp(&s).is_gt() => best,
                    _ => Some((s, (o.start as usize, o.end as usize))),
                },
            );
            let (start, end) = best.map_or((0, p.answer.len()), |(_, span)| span);
            let doc = &meta.documents[p.doc as usize];
            // A `.txt` passage keeps its lines: the sentence's own line.
            let line = match p.passage && !doc.source.ends_with(".jsonl") {
                true => p.line as usize + p.answer[..start].matches('\n').count(),
                false => p.line as usize,
            };
            Answer {
                rank: i + 1,
                score,
                kind: if p.passage { "passage" } else { "pair" },
                question: p.question.to_string(),
                answer: p.answer.to_string(),
                passage: p.answer[start..end].to_string(),
                doc: doc.key.clone(),
                line,
                confident: false,
                meta: meta_json(&p.meta),
                span: (start, end),
                pair: pair as usize,
                views: None,
                thread: None,
            }
        })
        .collect())
}

/// Metadata fields as a JSON object: a field given once is a string, a
/// field given several times (a list) an array, in file order.
pub fn meta_json(meta: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut out = serde_json::Map::new();
    for (name, value) in meta {
        let value = Value::String(value.clone());
        match out.get_mut(name) {
            None => {
                out.insert(name.clone(), value);
            }
            Some(Value::Array(list)) => list.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_breadth_grows_with_the_index_and_a_given_one_is_kept() {
        let auto = SearchConfig::default();
        assert_eq!(auto.ef_for(1_000), 64);
        assert_eq!(auto.ef_for(20_000), 64);
        assert_eq!(auto.ef_for(100_000), 128);
        assert_eq!(auto.ef_for(2_000_000), 256);
        assert_eq!(auto.ef_for(5_000_000), 512);
        let given = SearchConfig {
            ef_search: Some(32),
            ..SearchConfig::default()
        };
        assert_eq!(given.ef_for(5_000_000), 32);
        let zero = SearchConfig {
            ef_search: Some(0),
            ..SearchConfig::default()
        };
        assert!(zero.validate().is_err());
    }
}
