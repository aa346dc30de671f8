//! Answers to one question stand together. A FAQ may file several answers
//! under one stored question (StackFAQ files up to 24, one pair each, and
//! judges the thread); the question view scores them all alike, the answers
//! view each by its own words, so a sibling answer matched weakly falls
//! below other threads' strong answer sentences. After fusion, each pair is
//! raised by [`THREAD_SHARE`] of the gap between its score and its thread's
//! best: the thread's answers move up together.
//!
//! The first pair is its thread's best and is never raised; no raised pair
//! passes its thread's best. So what is asked first, and abstention (which
//! judges scores without the lift, [`crate::search::fuse::Fused::evidence`]),
//! are unchanged; what follows it is reordered.
//!
//! A thread: the pairs whose stored questions have the same words (case and
//! punctuation aside), in one document, or in documents that ask nothing
//! else (a FAQ exported one answer a record, as StackFAQ is). Across
//! documents that ask other things too, one wording is a generic question
//! about each document's own subject ("What are the side effects?" on each
//! drug's page), not one thread. Passages have no question and no thread.
//!
//! Measured (docs/search.md, "Answers to one question"): StackFAQ Q&A
//! +0.004 nDCG@10 with the default model and with the preset; no other
//! shared set has a stored question twice. On corpora whose "question" is a
//! heading its answers share (wikiqa-dev and xquad-en with each sentence
//! filed under its article's title), +0.001 and +0.006.

use std::collections::HashMap;

use serde::Serialize;

use crate::search::entity::words;
use crate::search::fuse::Fused;
use crate::store::PairMeta;

/// The share of the gap to its thread's best by which a pair is raised.
/// StackFAQ Q&A, default model, at 0 / 0.3 / 0.4 / 0.5 / 0.6: 0.9517 /
/// 0.9549 / 0.9562 / 0.9558 / 0.9544 nDCG@10 (the preset and minilm-int8
/// gain at each too).
pub const THREAD_SHARE: f32 = 0.4;

/// How a pair was raised toward its thread's best.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lift {
    /// The thread's best pair.
    pub best: u32,
    /// What was added to the pair's fused score.
    pub added: f32,
}

/// What `--explain` shows of a [`Lift`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Raised {
    /// What the lift added, on the results' scale.
    pub contribution: f32,
    /// The 1-based rank of the thread's best among the results.
    pub rank: usize,
}

/// Raises each pair of `fused` (best first) toward its thread's best and
/// sorts again, best first, ties by pair. `pairs`: the index's pairs, each
/// document's contiguous (as `meta.bin` holds them).
pub fn pool(fused: &mut [Fused], pairs: &[PairMeta]) {
    if fused.len() < 2 {
        return;
    }
    let mut one_question = HashMap::new();
    let threads: Vec<Option<Thread>> = fused
        .iter()
        .map(|f| thread_of(f.pair, pairs, &mut one_question))
        .collect();
    // `fused` is best first: a thread's first pair is its best.
    let mut best: HashMap<&Thread, (u32, f32)> = HashMap::new();
    for (f, thread) in fused.iter().zip(&threads) {
        if let Some(t) = thread {
            best.entry(t).or_insert((f.pair, f.score));
        }
    }
    let mut raised = false;
    for (f, thread) in fused.iter_mut().zip(&threads) {
        let Some(&(best, top)) = thread.as_ref().and_then(|t| best.get(t)) else {
            continue;
        };
        let added = THREAD_SHARE * (top - f.score);
        if best != f.pair && added > 0.0 {
            f.score += added;
            f.lift = Some(Lift { best, added });
            raised = true;
        }
    }
    if raised {
        fused.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.pair.cmp(&b.pair)));
    }
}

/// A thread's key: its question's words, and its document where that
/// document asks other things too.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Thread {
    question: String,
    doc: Option<u32>,
}

/// The thread of `pair`; None for a passage or a pair without a question.
/// `one_question` remembers, per document, whether it asks only one thing.
fn thread_of(
    pair: u32,
    pairs: &[PairMeta],
    one_question: &mut HashMap<u32, bool>,
) -> Option<Thread> {
    let p = pairs.get(pair as usize)?;
    if p.passage {
        return None;
    }
    let question = words(&p.question);
    if question.is_empty() {
        return None;
    }
    let only = *one_question
        .entry(p.doc)
        .or_insert_with(|| asks_one_thing(pair as usize, pairs, &question));
    Some(Thread {
        question,
        doc: (!only).then_some(p.doc),
    })
}

/// Whether every pair of `pairs[at]`'s document (passages aside) asks
/// `question` (its words). Stops at the first that does not.
fn asks_one_thing(at: usize, pairs: &[PairMeta], question: &str) -> bool {
    let doc = pairs[at].doc;
    let same = |p: &PairMeta| p.passage || words(&p.question) == question;
    let before = pairs[..at].iter().rev().take_while(|p| p.doc == doc);
    let after = pairs[at + 1..].iter().take_while(|p| p.doc == doc);
    before.chain(after).all(same)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(doc: u32, question: &str) -> PairMeta {
        PairMeta {
            doc,
            question: question.into(),
            answer: "An answer.".into(),
            line: 1,
            meta: Vec::new(),
            passage: question.is_empty(),
        }
    }

    fn fused(scores: &[(u32, f32)]) -> Vec<Fused> {
        scores
            .iter()
            .map(|&(pair, score)| Fused {
                pair,
                score,
                sparse_bonus: 0.0,
                lift: None,
                parts: Vec::new(),
            })
            .collect()
    }

    fn order(f: &[Fused]) -> Vec<u32> {
        f.iter().map(|f| f.pair).collect()
    }

    #[test]
    fn a_threads_answers_move_up_together_and_the_first_stays() {
        // One answer a document, as StackFAQ: pairs 0 and 2 answer one question.
        let pairs = [
            pair(0, "How do I strike text through?"),
            pair(1, "How do I bold text?"),
            pair(2, "how do I strike text through"),
        ];
        let mut f = fused(&[(0, 0.80), (1, 0.60), (2, 0.55)]);
        pool(&mut f, &pairs);
        assert_eq!(order(&f), [0, 2, 1]);
        assert_eq!(f[0].score, 0.80, "the first is not raised");
        assert!(f[0].lift.is_none());
        let lift = f[1].lift.expect("the sibling is raised");
        assert_eq!(lift.best, 0);
        assert!((f[1].score - (0.55 + THREAD_SHARE * 0.25)).abs() < 1e-6);
        assert!(
            (f[1].evidence() - 0.55).abs() < 1e-6,
            "abstention sees no lift"
        );
    }

    #[test]
    fn a_generic_question_in_documents_that_ask_other_things_is_no_thread() {
        // Each drug's page asks its side effects, and its dose.
        let pairs = [
            pair(0, "What are the side effects?"),
            pair(0, "What is the dose?"),
            pair(1, "What are the side effects?"),
            pair(1, "What is the dose?"),
        ];
        let mut f = fused(&[(0, 0.80), (1, 0.60), (2, 0.55)]);
        pool(&mut f, &pairs);
        assert_eq!(order(&f), [0, 1, 2]);
        assert!(f.iter().all(|f| f.lift.is_none()));
        // In one document (a spreadsheet's rows), the same question is a thread.
        let sheet = [
            pair(0, "What are the side effects?"),
            pair(0, "What is the dose?"),
            pair(0, "What are the side effects?"),
        ];
        let mut f = fused(&[(0, 0.80), (1, 0.60), (2, 0.55)]);
        pool(&mut f, &sheet);
        assert_eq!(order(&f), [0, 2, 1]);
    }

    #[test]
    fn passages_and_lone_questions_are_left_as_they_are() {
        let pairs = [pair(0, "Who won?"), pair(0, ""), pair(1, "Who lost?")];
        let mut f = fused(&[(1, 0.9), (0, 0.5), (2, 0.4)]);
        let before = f.clone();
        pool(&mut f, &pairs);
        assert_eq!(f, before);
    }

    #[test]
    fn a_pair_never_passes_its_threads_best() {
        let pairs: Vec<_> = (0..6).map(|d| pair(d, "Same question?")).collect();
        let scores: Vec<(u32, f32)> = (0..6).map(|p| (p, 0.9 - 0.1 * p as f32)).collect();
        let mut f = fused(&scores);
        pool(&mut f, &pairs);
        assert_eq!(
            order(&f),
            [0, 1, 2, 3, 4, 5],
            "the order within a thread is kept"
        );
        assert!(f.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(f.iter().all(|x| x.score <= 0.9));
    }
}
