//! Fusion: one score per Q&A pair from its candidate views.
//!
//! `score = dense + w · bm25 / top_bm25 + s · sparse / top_sparse`, where
//! `dense = (1 − a) · max(answers, questions) + a · min(answers, questions)`
//! (`a` = `view_agreement`, 0 but for the quality preset) and
//! `w = lexical_weight · min(1, top_bm25 / lexical_saturation)`.
//!
//! - The dense views are cosine similarities of one model, on one scale: a
//!   pair scores by its best vector, whether that is an answer sentence or
//!   its stored question.
//! - The lexical arm adds up to `lexical_weight`, scaled by how strong the
//!   query's best lexical match is (`top_bm25` against `lexical_saturation`):
//!   a query that shares rare words with a pair gets their full weight, one
//!   whose best BM25 score is weak gets little. This is what keeps fusion
//!   from losing where lexical evidence is weak (wikiqa), where fixed
//!   reciprocal-rank fusion loses 0.08 nDCG@10, while keeping most of its gain
//!   where it is strong (xquad: +0.035).
//!
//! - The sparse arm (an index built with `--sparse`) adds up to
//!   `s = sparse_weight · min(1, lead / sparse_lead)`, by a pair's share of
//!   the question's best sparse score, where `lead` is how far that best is
//!   ahead of the second, as a share of it: the arm speaks when it singles
//!   out a pair, and little when its scores are flat (on StackFAQ, where
//!   it is far below the dense views, a fixed weight cost 0.010 nDCG@10;
//!   this, 0.001, while keeping wikiqa's +0.019; docs/search.md).
//!
//! A pair a view did not return gets that view's lowest returned score (an
//! upper bound of what it would have had).
//!
//! A document's passage (found by the `passage` view, and the lexical and
//! sparse arms' bonuses as a pair has them) scores its best sentence's
//! cosine less [`PASSAGE_MARGIN`]: a pair that answers as well
//! as the text it was written from stays first, and a question answered only
//! in the passage still finds it (by its words too: "Which US representative
//! took part in the talks in Paris?" names what only the passage says).

use serde::Serialize;

use crate::index::settings::FusionParams;
use crate::search::views::{View, ViewHit};

/// How much closer than a pair a passage's sentence must be to rank above it.
/// Measured on the bundled seed (docs/search.md, "Passages"): at 0.05 every
/// seed question and rewording keeps its own pair first, and the questions
/// answered only in the news paragraph find it.
pub const PASSAGE_MARGIN: f32 = 0.05;

/// What one view said about a pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Part {
    /// The view.
    pub view: View,
    /// What it added to the pair's score. Fused here; on the shown scale
    /// (0–1, [`FusionParams::shown`]) in a result. A dense view that is not
    /// the pair's best adds nothing (but its `view_agreement` share).
    pub contribution: f32,
    /// Its raw score: a cosine, or a BM25 or sparse dot product (not on
    /// the results' scale).
    pub raw: f32,
    /// The pair's 1-based rank in that view.
    pub rank: usize,
}

/// A pair with its fused score and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fused {
    /// The pair.
    pub pair: u32,
    /// The fused score.
    pub score: f32,
    /// What the sparse arm added to `score`. Abstention judges the score
    /// without it: the threshold was chosen on the other views, and the arm
    /// reorders what they found rather than vouching for it (unrelated
    /// questions went unanswered 1–4 points less often with it counted).
    #[serde(skip)]
    pub sparse_bonus: f32,
    /// How far the pair was raised toward the best of the answers to its
    /// stored question ([`crate::search::thread`]): in `score`, not in
    /// the evidence abstention judges.
    #[serde(skip)]
    pub lift: Option<crate::search::thread::Lift>,
    /// Every view that returned the pair.
    pub parts: Vec<Part>,
}

impl Fused {
    /// The score abstention compares with the threshold.
    pub fn evidence(&self) -> f32 {
        self.score - self.sparse_bonus - self.lift.map_or(0.0, |l| l.added)
    }
}

/// Fuses the views' hits (each best first, one per pair) into one list, best
/// first, ties by pair.
pub fn fuse(views: &[(View, Vec<ViewHit>)], params: &FusionParams) -> Vec<Fused> {
    use std::collections::HashMap;
    let get = |v: View| {
        views
            .iter()
            .find(|(w, _)| *w == v)
            .map(|(_, h)| h.as_slice())
    };
    let floor =
        |hits: Option<&[ViewHit]>| hits.and_then(|h| h.iter().map(|x| x.score).reduce(f32::min));
    let (answers, questions, lexical) =
        (get(View::Answers), get(View::Questions), get(View::Lexical));
    let (a_floor, q_floor) = (floor(answers), floor(questions));
    let top = lexical
        .and_then(|l| l.first())
        .map_or(0.0, |h| h.score)
        .max(0.0);
    let sparse = get(View::Sparse).unwrap_or_default();
    let sparse_top = sparse.first().map_or(0.0, |h| h.score).max(0.0);
    let sparse_weight = params.sparse_weight * sparse_lead(sparse, params.sparse_lead);
    let weight = if top > 0.0 {
        params.lexical_weight * (top / params.lexical_saturation.max(1e-6)).min(1.0)
    } else {
        0.0
    };
    let mut by_pair: HashMap<u32, Vec<Part>> = HashMap::new();
    for (view, hits) in views {
        for (i, h) in hits.iter().enumerate() {
            by_pair.entry(h.pair).or_default().push(Part {
                view: *view,
                contribution: 0.0,
                raw: h.score,
                rank: i + 1,
            });
        }
    }
    let mut out: Vec<Fused> = by_pair
        .into_iter()
        .map(|(pair, mut parts)| {
            parts.sort_by_key(|p| View::ALL.iter().position(|v| *v == p.view));
            let of = |v: View| parts.iter().find(|p| p.view == v).map(|p| p.raw);
            let share = |s: f32, top: f32| if top > 0.0 { s / top } else { 0.0 };
            let sparse = of(View::Sparse).map_or(0.0, |s| share(s, sparse_top));
            let sparse_bonus = sparse_weight * sparse;
            let mut added = vec![(View::Sparse, sparse_bonus)];
            let score = if let Some(passage) = of(View::Passage) {
                added.push((View::Passage, passage - PASSAGE_MARGIN));
                let lex = weight * of(View::Lexical).map_or(0.0, |s| share(s, top));
                added.push((View::Lexical, lex));
                passage - PASSAGE_MARGIN + lex + sparse_bonus
            } else {
                let (answers, questions) = (of(View::Answers), of(View::Questions));
                let dense = join(
                    answers.or(a_floor),
                    questions.or(q_floor),
                    params.view_agreement,
                );
                added.extend(dense_shares(answers, questions, params.view_agreement));
                let lex = weight * of(View::Lexical).map_or(0.0, |s| share(s, top));
                added.push((View::Lexical, lex));
                dense + lex + sparse_bonus
            };
            for p in &mut parts {
                p.contribution = added
                    .iter()
                    .filter(|(v, _)| *v == p.view)
                    .map(|(_, c)| c)
                    .sum();
            }
            Fused {
                pair,
                score,
                sparse_bonus,
                lift: None,
                parts,
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.pair.cmp(&b.pair)));
    out
}

/// How much of its weight the sparse arm has for one question: its best
/// pair's lead over the second, as a share of the best score, against
/// `full` (the lead from which it has all of it); a lone hit leads fully.
/// A sparse list without a clear first (the weights of common words spread
/// over many pairs) is noise beside the dense views; one that singles out
/// a pair (a name only it has) is evidence.
fn sparse_lead(hits: &[ViewHit], full: f32) -> f32 {
    let Some(best) = hits.first().map(|h| h.score).filter(|&s| s > 0.0) else {
        return 0.0;
    };
    let second = hits.get(1).map_or(0.0, |h| h.score.max(0.0));
    ((best - second) / best / full.max(1e-6)).min(1.0)
}

/// What each dense view that returned a pair adds to its dense score
/// ([`join`]): the better one `1 − agreement` of its cosine, the other
/// `agreement` of its own.
fn dense_shares(answers: Option<f32>, questions: Option<f32>, agreement: f32) -> Vec<(View, f32)> {
    match (answers, questions) {
        (Some(a), Some(q)) => {
            let (best, other) = if a >= q {
                ((View::Answers, a), (View::Questions, q))
            } else {
                ((View::Questions, q), (View::Answers, a))
            };
            vec![
                (best.0, (1.0 - agreement) * best.1),
                (other.0, agreement * other.1),
            ]
        }
        (Some(a), None) => vec![(View::Answers, a)],
        (None, Some(q)) => vec![(View::Questions, q)],
        (None, None) => Vec::new(),
    }
}

/// A pair's dense score from its two dense views: the best, with `agreement`
/// of the other's shortfall taken off (0: the best view alone).
fn join(answers: Option<f32>, questions: Option<f32>, agreement: f32) -> f32 {
    match (answers, questions) {
        (Some(a), Some(q)) => (1.0 - agreement) * a.max(q) + agreement * a.min(q),
        (a, q) => a.or(q).unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(list: &[(u32, f32)]) -> Vec<ViewHit> {
        list.iter()
            .map(|&(pair, score)| ViewHit {
                pair,
                score,
                row: None,
            })
            .collect()
    }

    #[test]
    fn best_dense_view_plus_scaled_lexical_by_hand() {
        let p = FusionParams::default();
        let views = [
            (View::Answers, hits(&[(1, 0.6), (2, 0.5)])),
            (View::Questions, hits(&[(2, 0.9), (3, 0.4)])),
            (View::Lexical, hits(&[(3, 10.0), (1, 5.0)])),
        ];
        let f = fuse(&views, &p);
        // Lexical weight: 0.2 · min(1, 10 / 20) = 0.1.
        let score = |pair: u32| f.iter().find(|x| x.pair == pair).unwrap().score;
        assert!((score(2) - 0.9).abs() < 1e-6, "question view wins for 2");
        assert!((score(1) - (0.6 + 0.1 * 0.5)).abs() < 1e-6);
        // 3: answers floor 0.5 beats its question 0.4; plus full lexical.
        assert!((score(3) - (0.5 + 0.1)).abs() < 1e-6);
        assert_eq!(f.iter().map(|x| x.pair).collect::<Vec<_>>(), [2, 1, 3]);
        // Each view's contribution: what it added; together, the score.
        let one = f.iter().find(|x| x.pair == 1).unwrap();
        let added: Vec<(View, f32)> = one.parts.iter().map(|p| (p.view, p.contribution)).collect();
        assert_eq!(added.len(), 2);
        assert!((added[0].1 - 0.6).abs() < 1e-6 && added[0].0 == View::Answers);
        assert!((added[1].1 - 0.05).abs() < 1e-6 && added[1].0 == View::Lexical);
        let sum: f32 = one.parts.iter().map(|p| p.contribution).sum();
        assert!((sum - one.score).abs() < 1e-6);
        // Pair 2: its question is its best dense view; the answer adds nothing.
        let two = f.iter().find(|x| x.pair == 2).unwrap();
        assert_eq!(two.parts[0].view, View::Answers);
        assert_eq!(two.parts[0].contribution, 0.0);
        assert_eq!(f[0].parts.len(), 2);
        assert_eq!(
            f[0].parts[1],
            Part {
                view: View::Questions,
                contribution: 0.9,
                raw: 0.9,
                rank: 1
            }
        );
    }

    #[test]
    fn view_agreement_lets_the_answer_speak_beside_another_pairs_question() {
        // Pair 1: a stored question of the same template (0.82), a weak
        // answer (0.66); pair 2: the answer that names the entity (0.76),
        // its own question less alike (0.75).
        let views = [
            (View::Answers, hits(&[(2, 0.76), (1, 0.66)])),
            (View::Questions, hits(&[(1, 0.82), (2, 0.75)])),
        ];
        let mut p = FusionParams::default();
        assert_eq!(fuse(&views, &p)[0].pair, 1, "the best view alone");
        p.view_agreement = 0.5;
        let f = fuse(&views, &p);
        assert_eq!(f[0].pair, 2, "{f:?}");
        assert!((f[0].score - (0.5 * 0.76 + 0.5 * 0.75)).abs() < 1e-6);
        // One view alone is unchanged.
        assert_eq!(join(Some(0.6), None, 0.5), 0.6);
        assert_eq!(join(None, None, 0.5), 0.0);
    }

    #[test]
    fn the_sparse_arm_adds_its_weight_by_its_share_of_the_best() {
        let views = [
            (View::Answers, hits(&[(1, 0.60), (2, 0.55)])),
            (View::Sparse, hits(&[(2, 20.0), (1, 5.0)])),
        ];
        let none = FusionParams {
            sparse_weight: 0.0,
            ..FusionParams::default()
        };
        assert_eq!(fuse(&views, &none)[0].pair, 1, "the dense view alone");
        let p = FusionParams {
            sparse_weight: 0.1,
            sparse_lead: 0.5,
            ..FusionParams::default()
        };
        let f = fuse(&views, &p);
        // Lead (20 − 5) / 20 = 0.75 ≥ 0.5: the full weight. Pair 2:
        // 0.55 + 0.1 · 20/20; pair 1: 0.60 + 0.1 · 5/20.
        assert_eq!(f[0].pair, 2, "{f:?}");
        assert!((f[0].score - 0.65).abs() < 1e-6, "{f:?}");
        assert!((f[1].score - 0.625).abs() < 1e-6, "{f:?}");
        assert_eq!(f[0].parts[1].view, View::Sparse);
        assert!(
            (f[0].evidence() - 0.55).abs() < 1e-6,
            "abstention without the arm"
        );
        // A flat sparse list (lead 0.1 of the 0.5 that gives the full
        // weight) has a fifth of it: the dense view decides.
        let flat = [
            (View::Answers, hits(&[(1, 0.60), (2, 0.55)])),
            (View::Sparse, hits(&[(2, 20.0), (1, 18.0)])),
        ];
        let f = fuse(&flat, &p);
        assert_eq!(f[0].pair, 1, "{f:?}");
        assert!((f[1].score - (0.55 + 0.02)).abs() < 1e-6, "{f:?}");
        assert_eq!(sparse_lead(&hits(&[(3, 7.0)]), 0.5), 1.0, "a lone hit");
        assert_eq!(sparse_lead(&[], 0.5), 0.0);
    }

    #[test]
    fn weak_lexical_evidence_weighs_little_and_none_nothing() {
        let p = FusionParams::default();
        let strong = [
            (View::Answers, hits(&[(1, 0.50), (2, 0.49)])),
            (View::Lexical, hits(&[(2, 40.0)])),
        ];
        assert_eq!(fuse(&strong, &p)[0].pair, 2, "strong lexical match decides");
        let weak = [
            (View::Answers, hits(&[(1, 0.50), (2, 0.45)])),
            (View::Lexical, hits(&[(2, 2.0)])),
        ];
        assert_eq!(fuse(&weak, &p)[0].pair, 1, "weak lexical match does not");
        let none = [(View::Answers, hits(&[(1, 0.5)])), (View::Lexical, vec![])];
        assert_eq!(fuse(&none, &p)[0].score, 0.5);
    }
}
