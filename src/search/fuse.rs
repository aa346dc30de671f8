//! Fusion: one score per Q&A pair from its candidate views.
//!
//! `score = dense + w · bm25 / top_bm25`, where
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
//! A pair a view did not return gets that view's lowest returned score (an
//! upper bound of what it would have had).
//!
//! A document's passage (found by the `passage` view alone) scores its best
//! sentence's cosine less [`PASSAGE_MARGIN`]: a pair that answers as well
//! as the text it was written from stays first, and a question answered only
//! in the passage still finds it.

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
    /// Its raw score (cosine, or BM25).
    pub score: f32,
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
    /// Every view that returned the pair.
    pub parts: Vec<Part>,
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
                score: h.score,
                rank: i + 1,
            });
        }
    }
    let mut out: Vec<Fused> = by_pair
        .into_iter()
        .map(|(pair, mut parts)| {
            parts.sort_by_key(|p| View::ALL.iter().position(|v| *v == p.view));
            let of = |v: View| parts.iter().find(|p| p.view == v).map(|p| p.score);
            if let Some(passage) = of(View::Passage) {
                return Fused {
                    pair,
                    score: passage - PASSAGE_MARGIN,
                    parts,
                };
            }
            let dense = join(
                of(View::Answers).or(a_floor),
                of(View::Questions).or(q_floor),
                params.view_agreement,
            );
            let lex = of(View::Lexical).map_or(0.0, |s| if top > 0.0 { s / top } else { 0.0 });
            Fused {
                pair,
                score: dense + weight * lex,
                parts,
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.pair.cmp(&b.pair)));
    out
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
        assert_eq!(f[0].parts.len(), 2);
        assert_eq!(
            f[0].parts[1],
            Part {
                view: View::Questions,
                score: 0.9,
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
