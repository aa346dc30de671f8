//! Calibration at index time, on the corpus's own stored questions.
//!
//! Each sampled stored question is asked of the new generation as a user
//! would ask it, except that the question view may not find the question
//! itself (leave-one-out): its vector is already in the index, so no model
//! is needed. What can be fitted that way is the abstention threshold: it is
//! lowered, never raised, to the score that 95% of these questions reach, so
//! that a corpus whose answers score lower than the corpora the default was
//! chosen on is not met with "no confident answer" for its own questions.
//! Raising it would need questions known to be unrelated to the corpus, which
//! an index does not have; `eval --unrelated FILE` measures that side.
//!
//! The lexical weight is fitted the same way, and also only downwards: from
//! the weight calibration starts from to none. That start is the model's
//! default, raised where the model's vocabulary splits most of the corpus's
//! words ([`starting`]: a language it reads poorly, which the corpus's
//! questions cannot tell, its vocabulary can). Left out, the stored question cannot help, so
//! these queries lean on the lexical arm more than users' questions do; a fit
//! allowed to raise it chose 0.3 for multilingual-e5-small on StackFAQ
//! (default 0.05), which cost its user questions 0.04 nDCG@10 and lifted
//! unrelated questions over the threshold (the threshold is fitted to the
//! model's scores at its default weight). The question view's `max` join is
//! not fitted.

use std::collections::HashMap;

use crate::error::Result;
use crate::index::settings::{Abstention, FusionParams};
use crate::model::embed::Embedder;
use crate::model::sparse::SparseVec;
use crate::model::tokenizer::Familiarity;
use crate::search::views::{View, ViewHit};
use crate::search::{self, SearchConfig};
use crate::store::{Kind, Snapshot};

/// Stored questions sampled for calibration (evenly over the corpus).
pub const SAMPLE: usize = 300;
/// Fewer stored questions than this: keep the default.
pub const MIN_QUESTIONS: usize = 20;
/// The share of the corpus's own questions that must be answered.
pub const ANSWERED_SHARE: f64 = 0.95;

/// The sampled stored questions' sparse weights, for an index with a sparse
/// arm, and the weights of their right pairs' answers alone: a right pair's
/// own text holds the question, so, left out, it scores by its answer.
#[derive(Debug)]
pub struct SparseQueries {
    questions: HashMap<u32, SparseVec>,
    answers: HashMap<u32, SparseVec>,
}

impl SparseQueries {
    /// None when the index has no sparse arm, the model no sparse encoder,
    /// or the corpus too few stored questions to calibrate on.
    pub fn of(snapshot: &Snapshot, embedder: &mut dyn Embedder) -> Result<Option<Self>> {
        let sample = sampled_questions(snapshot);
        let encoder = match (&snapshot.sparse, embedder.sparse()) {
            (Some(_), Some(e)) if sample.len() >= MIN_QUESTIONS => e,
            _ => return Ok(None),
        };
        let meta = &snapshot.meta;
        let texts: Vec<&str> = sample
            .iter()
            .map(|&(pair, _)| meta.pairs[pair as usize].question.as_str())
            .collect();
        let questions = sample
            .iter()
            .map(|&(_, row)| row)
            .zip(encoder.encode(&texts)?)
            .collect();
        let mut right: Vec<u32> = sample
            .iter()
            .flat_map(|&(_, row)| relevant(snapshot, row))
            .collect();
        right.sort_unstable();
        right.dedup();
        let texts: Vec<&str> = right
            .iter()
            .map(|&p| meta.pairs[p as usize].answer.as_str())
            .collect();
        let answers = right.into_iter().zip(encoder.encode(&texts)?).collect();
        Ok(Some(SparseQueries { questions, answers }))
    }

    /// The sparse arm's candidates for the stored question of `row`, its
    /// right pairs scored by their answers alone.
    fn hits(&self, snapshot: &Snapshot, row: u32, right: &[u32]) -> Vec<ViewHit> {
        let (Some(index), Some(q)) = (&snapshot.sparse, self.questions.get(&row)) else {
            return Vec::new();
        };
        let depth = search::VIEW_DEPTH;
        let mut hits: Vec<(u32, f32)> = index
            .search(q, depth + right.len(), None)
            .into_iter()
            .map(|(p, s)| (p as u32, s))
            // No passage view here: passages are not candidates (see `search::views`).
            .filter(|(p, _)| !right.contains(p) && !snapshot.meta.pairs[*p as usize].passage)
            .collect();
        for p in right {
            let s = self.answers.get(p).map_or(0.0, |a| dot(q, a));
            if s > 0.0 {
                hits.push((*p, s));
            }
        }
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        hits.truncate(depth);
        hits.into_iter()
            .map(|(pair, score)| ViewHit {
                pair,
                score,
                row: None,
            })
            .collect()
    }
}

/// The dot product of two sparse vectors (each by entry).
fn dot(a: &SparseVec, b: &SparseVec) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// The pairs that have the stored question of `row` (its right answers).
fn relevant(snapshot: &Snapshot, row: u32) -> Vec<u32> {
    snapshot
        .meta
        .occurrences_of(row as usize)
        .filter(|o| o.kind == Kind::Question)
        .map(|o| o.pair)
        .collect()
}

/// The fused top score of each sampled stored question, asked leave-one-out.
pub fn self_scores(snapshot: &Snapshot, sparse: Option<&SparseQueries>) -> Result<Vec<f32>> {
    let meta = &snapshot.meta;
    let config = SearchConfig::default();
    sampled_questions(snapshot)
        .iter()
        .map(|&(pair, row)| {
            let query = snapshot.vector(row as usize).to_vec();
            let text = &meta.pairs[pair as usize].question;
            let mut views = search::views(snapshot, &query, text, None, &config)?;
            if let Some(sparse) = sparse {
                views.push((
                    View::Sparse,
                    sparse.hits(snapshot, row, &relevant(snapshot, row)),
                ));
            }
            search::leave_out(&mut views, row);
            Ok(crate::search::fuse::fuse(&views, &snapshot.manifest.fusion)
                .first()
                .map_or(0.0, |f| f.evidence()))
        })
        .collect()
}

/// A stored question asked of its corpus: every view's candidates, and the
/// pairs that have the question (the right answers).
type SelfQuery = (Vec<(View, Vec<ViewHit>)>, Vec<u32>);

/// Lexical weights tried when calibrating fusion, as shares of the weight it
/// starts from (MiniLM's default: 0, 0.05, 0.1, 0.15, 0.2).
pub const LEXICAL_SHARES: [f32; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// The distinct stored questions sampled: (a pair that has it, its row).
fn sampled_questions(snapshot: &Snapshot) -> Vec<(u32, u32)> {
    let mut seen = std::collections::HashSet::new();
    let questions: Vec<(u32, u32)> = snapshot
        .meta
        .occurrences
        .iter()
        .filter(|o| o.kind == Kind::Question && seen.insert(o.row))
        .map(|o| (o.pair, o.row))
        .collect();
    let step = (questions.len() / SAMPLE).max(1);
    questions.into_iter().step_by(step).take(SAMPLE).collect()
}

/// Up to this share of split words, a corpus is in a language the model
/// reads: its default lexical weight holds (the English shared sets: 3–8%).
pub const FAMILIAR_UP_TO: f64 = 0.2;
/// From this share of split words on, the lexical arm gets the model's
/// weight for unfamiliar corpora (xquad-de-para's German: 59% for MiniLM).
pub const UNFAMILIAR_FROM: f64 = 0.4;
/// Pairs whose text is read for the corpus's familiarity (evenly over it).
pub const FAMILIARITY_SAMPLE: usize = 500;

/// The lexical weight a corpus starts from, given the share of its words
/// the model's vocabulary splits: the model's default up to
/// [`FAMILIAR_UP_TO`], its `unfamiliar_lexical_weight` from
/// [`UNFAMILIAR_FROM`], in a straight line between (never below the default).
///
/// A model trained on one language embeds another's text poorly, while the
/// lexical arm matches its words as well as any: on xquad-de-para MiniLM's
/// answers view scores 0.776 nDCG@10 and the lexical arm alone 0.926, and
/// the default weight (0.2) left the engine 0.013 below the arm
/// (docs/search.md, "Corpora in a language the model reads poorly").
/// Stored questions cannot tell this (left out, they favour words on every
/// corpus), the model's own vocabulary can.
pub fn lexical_prior(defaults: &crate::model::ScoreDefaults, split_share: f64) -> f32 {
    let t = ((split_share - FAMILIAR_UP_TO) / (UNFAMILIAR_FROM - FAMILIAR_UP_TO)).clamp(0.0, 1.0);
    let (low, high) = (defaults.lexical_weight, defaults.unfamiliar_lexical_weight);
    low + t as f32 * (high - low).max(0.0)
}

/// How many words of `pairs` (question, answer), up to
/// [`FAMILIARITY_SAMPLE`] of them evenly through, `embedder`'s vocabulary
/// holds whole; None for a model without a word vocabulary.
pub fn familiarity_of(
    pairs: &[(&str, &str)],
    embedder: &dyn Embedder,
) -> Result<Option<Familiarity>> {
    let step = (pairs.len() / FAMILIARITY_SAMPLE).max(1);
    let texts: Vec<&str> = pairs
        .iter()
        .step_by(step)
        .take(FAMILIARITY_SAMPLE)
        .flat_map(|&(q, a)| [q, a])
        .filter(|t| !t.is_empty())
        .collect();
    embedder.familiarity(&texts)
}

/// The best BM25 score a question about nothing in a corpus is taken to
/// reach when the threshold follows a raised lexical weight ([`starting`]).
/// With it the threshold rises by what the added weight gives such a
/// question's best match: MiniLM on xquad-de-para (weight 0.2 → 0.5,
/// saturation 20, threshold 0.45 → 0.5625) answered 99.2% of its questions
/// and abstained on 99.8% of unrelated ones (95.3% with no rise); the
/// preset (0.05 → 0.2, saturation 30) answers 98.9% (90.2% when the rise
/// was the threshold's share of the ceiling, 0.70 → 0.80).
pub const UNRELATED_BM25: f32 = 7.5;

/// The fusion and abstention a generation is calibrated from: its model's
/// defaults, the lexical weight raised by [`lexical_prior`] where the
/// corpus's words are foreign to the model's vocabulary, and the threshold
/// raised with it by the bonus the added weight gives a question whose best
/// BM25 score is [`UNRELATED_BM25`]: it was chosen at the default weight, and
/// without the rise unrelated questions went through on xquad-de-para.
pub fn starting(
    snapshot: &Snapshot,
    embedder: &dyn Embedder,
) -> Result<(FusionParams, Abstention)> {
    let (mut fusion, mut abstention) =
        crate::index::settings::model_defaults(&snapshot.manifest.model);
    let defaults = crate::model::catalogued(&snapshot.manifest.model)
        .map_or(crate::model::MINILM_DEFAULTS, |m| m.defaults);
    if defaults.unfamiliar_lexical_weight <= defaults.lexical_weight {
        return Ok((fusion, abstention));
    }
    let pairs: Vec<(&str, &str)> = (snapshot.meta.pairs.iter())
        .map(|p| (p.question.as_str(), p.answer.as_str()))
        .collect();
    let Some(familiarity) = familiarity_of(&pairs, embedder)? else {
        return Ok((fusion, abstention));
    };
    let share = familiarity.split_share();
    let weight = lexical_prior(&defaults, share);
    if weight > fusion.lexical_weight {
        let why = format!(
            "lexical weight raised from {} to {weight:.3}: the model's vocabulary splits {:.0}% of the corpus's words ({} of {} sampled), a language it reads poorly",
            fusion.lexical_weight,
            share * 100.0,
            familiarity.split,
            familiarity.words
        );
        abstention.min_score += (weight - fusion.lexical_weight)
            * (UNRELATED_BM25 / fusion.lexical_saturation.max(1e-6)).min(1.0);
        fusion.lexical_weight = weight;
        fusion.source = format!("{}, {why}", fusion.source);
        abstention.source = format!("{}, raised with the {why}", abstention.source);
    }
    Ok((fusion, abstention))
}

/// The fusion weights for this generation, fitted on its stored questions
/// asked leave-one-out from `start` (the defaults, [`starting`]), or
/// None to keep `start` (too few questions).
///
/// Each stored question is asked with its own vector; the pairs that have it
/// are the right answers. Leave-one-out holds for both views that could see
/// the question: the question view may not return its row, and the lexical
/// arm searches the answers alone. The lexical weight with the best MRR@10
/// wins (ties: the one nearest the default). The question view's join (`max`)
/// is not fitted: left out, it has nothing to say for these queries.
pub fn fusion(
    snapshot: &Snapshot,
    sparse: Option<&SparseQueries>,
    start: &FusionParams,
) -> Result<Option<FusionParams>> {
    let sample = sampled_questions(snapshot);
    if sample.len() < MIN_QUESTIONS {
        return Ok(None);
    }
    let meta = &snapshot.meta;
    let answers_only = crate::index::lexical::LexicalIndex::build(
        meta.pairs
            .iter()
            .map(|p| if p.passage { "" } else { p.answer.as_str() }),
        true,
    );
    let queries: Vec<SelfQuery> = sample
        .iter()
        .map(|&(pair, row)| self_query(snapshot, &answers_only, sparse, pair, row))
        .collect::<Result<_>>()?;
    let default = start.clone();
    let mrr = |weight: f32, sparse_weight: f32| -> f64 {
        let params = FusionParams {
            lexical_weight: weight,
            sparse_weight,
            ..default.clone()
        };
        let sum: f64 = queries
            .iter()
            .map(
                |(views, relevant): &(Vec<(View, Vec<ViewHit>)>, Vec<u32>)| {
                    crate::search::fuse::fuse(views, &params)
                        .iter()
                        .take(10)
                        .position(|f| relevant.contains(&f.pair))
                        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
                },
            )
            .sum();
        sum / queries.len() as f64
    };
    // Each weight from the default down to none; the sparse one only where
    // the index has the arm. Ties: the pair of weights nearest the defaults.
    let sparse_shares: &[f32] = match sparse {
        Some(_) => &LEXICAL_SHARES,
        None => &[1.0],
    };
    let scored: Vec<(f32, f32, f64, f32)> = LEXICAL_SHARES
        .iter()
        .flat_map(|&l| sparse_shares.iter().map(move |&s| (l, s)))
        .map(|(l, s)| {
            let (w, sw) = (l * default.lexical_weight, s * default.sparse_weight);
            (w, sw, mrr(w, sw), (1.0 - l) + (1.0 - s))
        })
        .collect();
    let (best, best_sparse, best_mrr, _) = scored
        .iter()
        .copied()
        .max_by(|a, b| a.2.total_cmp(&b.2).then(b.3.total_cmp(&a.3)))
        .expect("invariant: weights to try");
    let at_default = mrr(default.lexical_weight, default.sparse_weight);
    let sparse_part = match sparse {
        Some(_) => format!(
            ", sparse weight {best_sparse} (default {})",
            default.sparse_weight
        ),
        None => String::new(),
    };
    Ok(Some(FusionParams {
        lexical_weight: best,
        sparse_weight: best_sparse,
        source: format!(
            "calibrated: lexical weight {best}{sparse_part} gave MRR@10 {best_mrr:.3} on {} stored questions asked leave-one-out (starting from {}: {at_default:.3}; {})",
            queries.len(),
            default.lexical_weight,
            default.source
        ),
        ..default
    }))
}

/// A sampled stored question asked of its own generation, leave-one-out:
/// every view's candidates, and its right pairs.
fn self_query(
    snapshot: &Snapshot,
    answers_only: &crate::index::lexical::LexicalIndex,
    sparse: Option<&SparseQueries>,
    pair: u32,
    row: u32,
) -> Result<SelfQuery> {
    let config = SearchConfig::default();
    let query = snapshot.vector(row as usize).to_vec();
    let text = &snapshot.meta.pairs[pair as usize].question;
    let questions = search::view(snapshot, &query, text, View::Questions, &config)?;
    let lexical = answers_only
        .search(text, search::VIEW_DEPTH)
        .into_iter()
        .map(|(p, score)| ViewHit {
            pair: p as u32,
            score,
            row: None,
        })
        .collect();
    let mut views = vec![
        (
            View::Answers,
            search::view(snapshot, &query, text, View::Answers, &config)?,
        ),
        (View::Questions, questions),
        (View::Lexical, lexical),
    ];
    let right = relevant(snapshot, row);
    if let Some(sparse) = sparse {
        views.push((View::Sparse, sparse.hits(snapshot, row, &right)));
    }
    search::leave_out(&mut views, row);
    Ok((views, right))
}

/// The abstention threshold for this generation, or None to keep the default
/// (too few stored questions).
pub fn abstention(
    snapshot: &Snapshot,
    sparse: Option<&SparseQueries>,
    start: &Abstention,
) -> Result<Option<Abstention>> {
    let mut scores = self_scores(snapshot, sparse)?;
    if scores.len() < MIN_QUESTIONS {
        return Ok(None);
    }
    scores.sort_by(f32::total_cmp);
    let at = ((1.0 - ANSWERED_SHARE) * (scores.len() - 1) as f64).floor() as usize;
    let fitted = scores[at];
    let default = start;
    Ok(Some(if fitted < default.min_score {
        Abstention {
            min_score: fitted,
            source: format!(
                "calibrated: {:.0}% of {} stored questions score at least this",
                ANSWERED_SHARE * 100.0,
                scores.len()
            ),
        }
    } else {
        Abstention {
            min_score: default.min_score,
            source: format!(
                "{}: {:.0}% of {} stored questions score {fitted:.3} or more",
                default.source,
                ANSWERED_SHARE * 100.0,
                scores.len()
            ),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(pairs: usize) -> (tempfile::TempDir, Snapshot) {
        let mut text = String::from("P.\n");
        for i in 0..pairs {
            text.push_str(&format!(
                "How does widget{i} work?\nWidget{i} turns gear{i} and spring{i}.\n"
            ));
        }
        crate::indexer::testing::built(&[("a.txt", &text)])
    }

    #[test]
    fn the_lexical_prior_rises_with_the_words_the_vocabulary_splits() {
        let m = crate::model::MINILM_DEFAULTS;
        let at = |share| lexical_prior(&m, share);
        assert_eq!(at(0.0), m.lexical_weight);
        assert_eq!(at(FAMILIAR_UP_TO), m.lexical_weight);
        let half = (FAMILIAR_UP_TO + UNFAMILIAR_FROM) / 2.0;
        let mid = (m.lexical_weight + m.unfamiliar_lexical_weight) / 2.0;
        assert!((at(half) - mid).abs() < 1e-6, "{}", at(half));
        assert_eq!(at(UNFAMILIAR_FROM), m.unfamiliar_lexical_weight);
        assert_eq!(at(1.0), m.unfamiliar_lexical_weight);
        assert!(m.unfamiliar_lexical_weight > m.lexical_weight);
        // A model without a higher weight for unfamiliar corpora keeps its own.
        let e5 = crate::model::E5_DEFAULTS;
        assert_eq!(lexical_prior(&e5, 0.9), e5.lexical_weight);
        let lower = crate::model::ScoreDefaults {
            unfamiliar_lexical_weight: 0.0,
            ..m
        };
        assert_eq!(lexical_prior(&lower, 0.9), m.lexical_weight, "never below");
    }

    #[test]
    fn a_model_without_word_pieces_starts_from_its_defaults() {
        // The hash embedder has no vocabulary: nothing to raise by.
        let (_d, snap) = index(5);
        let embedder = crate::model::embed::HashEmbedder::new(32);
        let start = starting(&snap, &embedder).unwrap();
        assert_eq!(
            start,
            crate::index::settings::model_defaults(&snap.manifest.model)
        );
    }

    #[test]
    fn too_few_questions_keep_the_default() {
        let (_d, snap) = index(MIN_QUESTIONS - 1);
        let (fusion_default, abstention_default) =
            crate::index::settings::model_defaults(&snap.manifest.model);
        assert!(abstention(&snap, None, &abstention_default)
            .unwrap()
            .is_none());
        assert!(fusion(&snap, None, &fusion_default).unwrap().is_none());
        assert_eq!(snap.manifest.abstention, abstention_default);
        assert_eq!(snap.manifest.fusion, fusion_default);
    }

    #[test]
    fn the_lexical_weight_is_fitted_leave_one_out_and_stored() {
        let (_d, snap) = index(30);
        let default = crate::index::settings::model_defaults(&snap.manifest.model).0;
        let f = fusion(&snap, None, &default).unwrap().unwrap();
        assert!(
            LEXICAL_SHARES
                .iter()
                .any(|s| s * default.lexical_weight == f.lexical_weight),
            "{f:?}"
        );
        assert!(f.lexical_weight <= default.lexical_weight, "{f:?}");
        assert!(f.source.starts_with("calibrated:"), "{f:?}");
        assert!(f.source.contains("30 stored questions"), "{f:?}");
        // What the build stored is what the fit gives (it is deterministic).
        assert_eq!(snap.manifest.fusion, f);
    }

    #[test]
    fn with_a_sparse_arm_its_weight_is_fitted_too_and_only_down() {
        let dir = tempfile::tempdir().unwrap();
        let (data, index) = (dir.path().join("data"), dir.path().join("index"));
        std::fs::create_dir(&data).unwrap();
        let mut text = String::from("P.\n");
        for i in 0..30 {
            text.push_str(&format!(
                "How does widget{i} work?\nWidget{i} turns gear{i} and spring{i}.\n"
            ));
        }
        std::fs::write(data.join("a.txt"), text).unwrap();
        let mut model = crate::model::sparse::WithSparse::new(
            Box::new(crate::model::embed::HashEmbedder::new(32)),
            Box::new(crate::model::sparse::HashSparse),
        );
        let config = crate::indexer::IndexConfig {
            sparse: true,
            ..Default::default()
        };
        crate::indexer::build(
            &data,
            &index,
            &mut model,
            &config,
            &mut crate::progress::NoProgress,
        )
        .unwrap();
        let snap = crate::store::open(&index).unwrap();
        let queries = SparseQueries::of(&snap, &mut model).unwrap().unwrap();
        assert_eq!(queries.questions.len(), 30);
        // Each question's own pair scores by its answer alone ("widget7"
        // and nothing of "how does … work").
        let row = snap.meta.question_row(7).unwrap();
        let hits = queries.hits(&snap, row, &[7]);
        let own = hits
            .iter()
            .find(|h| h.pair == 7)
            .expect("its answer shares widget7");
        assert_eq!(own.score, 1.0, "{hits:?}");
        let default = crate::index::settings::model_defaults(&snap.manifest.model).0;
        let f = fusion(&snap, Some(&queries), &default).unwrap().unwrap();
        assert!(f.sparse_weight <= default.sparse_weight, "{f:?}");
        assert!(
            LEXICAL_SHARES
                .iter()
                .any(|s| s * default.sparse_weight == f.sparse_weight),
            "{f:?}"
        );
        assert!(f.source.contains("sparse weight"), "{f:?}");
        // The build fitted the same (it is deterministic).
        assert_eq!(snap.manifest.fusion, f);
        assert!(self_scores(&snap, Some(&queries)).unwrap().len() == 30);
    }

    #[test]
    fn the_threshold_is_lowered_to_what_the_corpus_reaches_never_raised() {
        let (_d, snap) = index(30);
        let scores = self_scores(&snap, None).unwrap();
        assert_eq!(scores.len(), 30);
        let default = crate::index::settings::model_defaults(&snap.manifest.model).1;
        let a = abstention(&snap, None, &default).unwrap().unwrap();
        let mut sorted = scores.clone();
        sorted.sort_by(f32::total_cmp);
        let q05 = sorted[1]; // floor(0.05 · 29) = 1
        let default = crate::index::settings::model_defaults(&snap.manifest.model)
            .1
            .min_score;
        assert_eq!(a.min_score, q05.min(default), "{a:?} {sorted:?}");
        let answered = scores.iter().filter(|&&s| s >= a.min_score).count();
        assert!(answered as f64 >= 0.95 * 30.0 - 1.0, "{answered}");
        // The build stored what was fitted.
        assert_eq!(snap.manifest.abstention, a);
    }
}
