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
//! the model's default to none. Left out, the stored question cannot help, so
//! these queries lean on the lexical arm more than users' questions do; a fit
//! allowed to raise it chose 0.3 for multilingual-e5-small on StackFAQ
//! (default 0.05), which cost its user questions 0.04 nDCG@10 and lifted
//! unrelated questions over the threshold (the threshold is fitted to the
//! model's scores at its default weight). The question view's `max` join is
//! not fitted.

use crate::error::Result;
use crate::index::settings::{Abstention, FusionParams};
use crate::search::views::{View, ViewHit};
use crate::search::{self, SearchConfig};
use crate::store::{Kind, Snapshot};

/// Stored questions sampled for calibration (evenly over the corpus).
pub const SAMPLE: usize = 300;
/// Fewer stored questions than this: keep the default.
pub const MIN_QUESTIONS: usize = 20;
/// The share of the corpus's own questions that must be answered.
pub const ANSWERED_SHARE: f64 = 0.95;

/// The fused top score of each sampled stored question, asked leave-one-out.
pub fn self_scores(snapshot: &Snapshot) -> Result<Vec<f32>> {
    let meta = &snapshot.meta;
    let config = SearchConfig::default();
    sampled_questions(snapshot)
        .iter()
        .map(|&(pair, row)| {
            let query = snapshot.vector(row as usize).to_vec();
            let text = &meta.pairs[pair as usize].question;
            let mut views = search::views(snapshot, &query, text, &config)?;
            search::leave_out(&mut views, row);
            Ok(crate::search::fuse::fuse(&views, &snapshot.manifest.fusion)
                .first()
                .map_or(0.0, |f| f.score))
        })
        .collect()
}

/// A stored question asked of its corpus: every view's candidates, and the
/// pairs that have the question (the right answers).
type SelfQuery = (Vec<(View, Vec<ViewHit>)>, Vec<u32>);

/// Lexical weights tried when calibrating fusion, as shares of the model's
/// default (MiniLM: 0, 0.05, 0.1, 0.15, 0.2).
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

/// The fusion weights for this generation, fitted on its stored questions
/// asked leave-one-out, or None to keep the defaults (too few questions).
///
/// Each stored question is asked with its own vector; the pairs that have it
/// are the right answers. Leave-one-out holds for both views that could see
/// the question: the question view may not return its row, and the lexical
/// arm searches the answers alone. The lexical weight with the best MRR@10
/// wins (ties: the one nearest the default). The question view's join (`max`)
/// is not fitted: left out, it has nothing to say for these queries.
pub fn fusion(snapshot: &Snapshot) -> Result<Option<FusionParams>> {
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
    let config = SearchConfig::default();
    let depth = search::VIEW_DEPTH;
    let queries: Vec<SelfQuery> = sample
        .iter()
        .map(|&(pair, row)| {
            let query = snapshot.vector(row as usize).to_vec();
            let text = &meta.pairs[pair as usize].question;
            let questions = search::view(snapshot, &query, text, View::Questions, &config)?;
            let lexical = answers_only
                .search(text, depth)
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
            search::leave_out(&mut views, row);
            let relevant = meta
                .occurrences_of(row as usize)
                .filter(|o| o.kind == Kind::Question)
                .map(|o| o.pair)
                .collect();
            Ok((views, relevant))
        })
        .collect::<Result<_>>()?;
    let (default, _) = crate::index::settings::model_defaults(&snapshot.manifest.model);
    let mrr = |weight: f32| -> f64 {
        let params = FusionParams {
            lexical_weight: weight,
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
    let scored: Vec<(f32, f64)> = LEXICAL_SHARES
        .iter()
        .map(|&share| {
            let w = share * default.lexical_weight;
            (w, mrr(w))
        })
        .collect();
    let (best, best_mrr) = scored
        .iter()
        .copied()
        .max_by(|a, b| {
            a.1.total_cmp(&b.1).then(
                (b.0 - default.lexical_weight)
                    .abs()
                    .total_cmp(&(a.0 - default.lexical_weight).abs()),
            )
        })
        .expect("invariant: weights to try");
    let at_default = mrr(default.lexical_weight);
    Ok(Some(FusionParams {
        lexical_weight: best,
        source: format!(
            "calibrated: lexical weight {best} gave MRR@10 {best_mrr:.3} on {} stored questions asked leave-one-out (default {}: {at_default:.3})",
            queries.len(),
            default.lexical_weight
        ),
        ..default
    }))
}

/// The abstention threshold for this generation, or None to keep the default
/// (too few stored questions).
pub fn abstention(snapshot: &Snapshot) -> Result<Option<Abstention>> {
    let mut scores = self_scores(snapshot)?;
    if scores.len() < MIN_QUESTIONS {
        return Ok(None);
    }
    scores.sort_by(f32::total_cmp);
    let at = ((1.0 - ANSWERED_SHARE) * (scores.len() - 1) as f64).floor() as usize;
    let fitted = scores[at];
    let (_, default) = crate::index::settings::model_defaults(&snapshot.manifest.model);
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
    fn too_few_questions_keep_the_default() {
        let (_d, snap) = index(MIN_QUESTIONS - 1);
        assert!(abstention(&snap).unwrap().is_none());
        assert!(fusion(&snap).unwrap().is_none());
        let (fusion, abstention) = crate::index::settings::model_defaults(&snap.manifest.model);
        assert_eq!(snap.manifest.abstention, abstention);
        assert_eq!(snap.manifest.fusion, fusion);
    }

    #[test]
    fn the_lexical_weight_is_fitted_leave_one_out_and_stored() {
        let (_d, snap) = index(30);
        let f = fusion(&snap).unwrap().unwrap();
        let default = crate::index::settings::model_defaults(&snap.manifest.model).0;
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
    fn the_threshold_is_lowered_to_what_the_corpus_reaches_never_raised() {
        let (_d, snap) = index(30);
        let scores = self_scores(&snap).unwrap();
        assert_eq!(scores.len(), 30);
        let a = abstention(&snap).unwrap().unwrap();
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
