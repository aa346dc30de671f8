//! Answers to one question stand together. A FAQ may file several answers
//! under one stored question (StackFAQ files up to 24, one pair each, and
//! judges the thread); the question view scores them all alike, the answers
//! view each by its own words, so a sibling answer matched weakly falls
//! below other threads' strong answer sentences; and where the question
//! decides their scores, nothing but the lexical arm orders them. After
//! fusion, in each thread:
//!
//! 1. its pairs take the thread's places (their scores) in the order of
//!    what else is told of them: the answers view's cosine and what the
//!    lexical and sparse arms added;
//! 2. each is raised by [`THREAD_SHARE`] of the gap between its place's
//!    score and the thread's first.
//!
//! No pair passes its thread's first place, so the first result is the
//! fused first or a sibling answering the same question, with the same
//! score. Abstention judges each pair's own evidence
//! ([`crate::search::fuse::Fused::evidence`] leaves the thread out).
//!
//! A thread: the pairs whose stored questions have the same words (case and
//! punctuation aside), in one document, or in documents that ask nothing
//! else (a FAQ exported one answer a record, as StackFAQ is). Across
//! documents that ask other things too, one wording is a generic question
//! about each document's own subject ("What are the side effects?" on each
//! drug's page), not one thread. Passages have no question and no thread.
//! Whether a document asks one thing is found by a pass over its rows, once
//! a question: 0.7 ms for a spreadsheet of 100,000 rows of one question.
//!
//! Measured (docs/search.md, "Answers to one question"): StackFAQ Q&A
//! +0.004 nDCG@10 with the default model and with the preset; no other
//! shared set has a stored question twice. On corpora whose "question" is a
//! heading its answers share (wikiqa-dev and xquad-en with each sentence
//! filed under its article's title): 0.6749 → 0.7536 (above the answers
//! view's 0.7276, which it was below) and 0.8751 → 0.8739.

use serde::Serialize;

use crate::search::entity::words;
use crate::search::fuse::Fused;
use crate::store::PairMeta;

/// The share of the gap to its thread's first place by which a pair is
/// raised. StackFAQ Q&A, default model, at 0 / 0.3 / 0.4 / 0.5 / 0.6: 0.9517 /
/// 0.9549 / 0.9562 / 0.9558 / 0.9544 nDCG@10 (the preset and minilm-int8
/// gain at each too).
pub const THREAD_SHARE: f32 = 0.4;

/// How a pair's place changed with its thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lift {
    /// The thread's first pair (the pair itself when it is first).
    pub first: u32,
    /// What was added to the pair's fused score (less than 0 where a
    /// sibling better told took its place).
    pub added: f32,
}

/// What `--explain` shows of a [`Lift`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Raised {
    /// What the thread added, on the results' scale (less than 0 where a
    /// sibling better told took its place).
    pub contribution: f32,
    /// The 1-based rank of the thread's first pair among the results.
    pub first: usize,
}

/// Orders each thread of `fused` (best first) by what else is told of its
/// pairs, raises each toward the thread's first, and sorts again, best
/// first, ties by pair. `answers_floor`: the answers view's lowest score
/// (what a pair it did not return is taken to have). `pairs`: the index's
/// pairs, each document's contiguous (as `meta.bin` holds them).
pub fn pool(fused: &mut [Fused], pairs: &[PairMeta], answers_floor: Option<f32>) {
    if fused.len() < 2 {
        return;
    }
    // Most questions are asked once among the candidates: a key of their
    // words, made without them, finds the few asked twice.
    let keys: Vec<Option<u64>> = fused
        .iter()
        .map(|f| pairs.get(f.pair as usize).and_then(words_key))
        .collect();
    let mut seen: foldhash::HashMap<u64, u32> = Default::default();
    for key in keys.iter().flatten() {
        *seen.entry(*key).or_default() += 1;
    }
    let mut one_question = foldhash::HashMap::default();
    // Each thread's members, in `fused`'s order: best first.
    let mut members: foldhash::HashMap<Thread, Vec<usize>> = Default::default();
    for (i, (f, key)) in fused.iter().zip(&keys).enumerate() {
        if let Some(key) = key.filter(|k| seen[k] > 1) {
            let thread = thread_of(f.pair, key, pairs, &mut one_question);
            members.entry(thread).or_default().push(i);
        }
    }
    let question = |i: usize| pairs[fused[i].pair as usize].question.as_str();
    for places in members.values_mut() {
        // The same words, not only the same key (a hash can collide).
        let first = question(places[0]);
        let words_of_first = std::cell::OnceCell::new();
        places.retain(|&i| {
            let q = question(i);
            q == first || words(q) == *words_of_first.get_or_init(|| words(first))
        });
    }
    let mut moved = Vec::new();
    for places in members.values().filter(|m| m.len() > 1) {
        let mut told = places.clone();
        told.sort_by(|&a, &b| {
            let key = |i: usize| told_besides_the_question(&fused[i], answers_floor);
            key(b)
                .total_cmp(&key(a))
                .then(fused[a].pair.cmp(&fused[b].pair))
        });
        let top = fused[places[0]].score;
        let first = fused[told[0]].pair;
        for (&place, &i) in places.iter().zip(&told) {
            let slot = fused[place].score;
            let score = slot + THREAD_SHARE * (top - slot);
            moved.push((i, score, first));
        }
    }
    if moved.is_empty() {
        return;
    }
    for (i, score, first) in moved {
        let f = &mut fused[i];
        if score != f.score {
            f.lift = Some(Lift {
                first,
                added: score - f.score,
            });
            f.score = score;
        }
    }
    fused.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.pair.cmp(&b.pair)));
}

/// What is told of a pair besides its stored question, which its thread
/// shares: the answers view's cosine (its floor where it did not return
/// the pair), and what the lexical and sparse arms added.
fn told_besides_the_question(f: &Fused, answers_floor: Option<f32>) -> f32 {
    use crate::search::views::View;
    let answers = f
        .parts
        .iter()
        .find(|p| p.view == View::Answers)
        .map(|p| p.raw)
        .or(answers_floor)
        .unwrap_or(f32::MIN / 2.0);
    let arms: f32 = f
        .parts
        .iter()
        .filter(|p| matches!(p.view, View::Lexical | View::Sparse))
        .map(|p| p.contribution)
        .sum();
    answers + arms
}

/// A thread: its question's [`words_key`], and its document where that
/// document asks other things too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Thread {
    key: u64,
    doc: Option<u32>,
}

/// A hash of a stored question's [`words`], made without them: questions
/// with the same words have the same key (a word-final sigma is folded, as
/// `words` lowers it apart). None for a passage or a question without a word.
fn words_key(p: &PairMeta) -> Option<u64> {
    const PRIME: u64 = 0x0100_0000_01b3;
    let mix = |h: u64, c: char| (h ^ u64::from(c)).wrapping_mul(PRIME);
    let (mut h, mut gap, mut any) = (0xcbf2_9ce4_8422_2325_u64, false, false);
    if p.passage {
        return None;
    }
    for c in p.question.chars() {
        if !c.is_alphanumeric() {
            gap = true;
            continue;
        }
        if gap && any {
            h = mix(h, ' ');
        }
        (gap, any) = (false, true);
        if c.is_ascii() {
            h = mix(h, c.to_ascii_lowercase());
        } else {
            for l in c.to_lowercase() {
                h = mix(h, if l == 'ς' { 'σ' } else { l });
            }
        }
    }
    any.then_some(h)
}

/// The thread of `pair`, whose question's key is `key`. `one_question`
/// remembers, per document, whether it asks only one thing.
fn thread_of(
    pair: u32,
    key: u64,
    pairs: &[PairMeta],
    one_question: &mut foldhash::HashMap<u32, bool>,
) -> Thread {
    let doc = pairs[pair as usize].doc;
    let only = *one_question
        .entry(doc)
        .or_insert_with(|| asks_one_thing(pair as usize, pairs, key));
    Thread {
        key,
        doc: (!only).then_some(doc),
    }
}

/// Whether every pair of `pairs[at]`'s document (passages aside) asks what
/// it asks (the same words, whose key is `key`). Stops at the first that
/// does not; a question spelled as `pairs[at]`'s is not read again (a
/// spreadsheet may repeat one question on a hundred thousand rows).
fn asks_one_thing(at: usize, pairs: &[PairMeta], key: u64) -> bool {
    let (doc, spelled) = (pairs[at].doc, &pairs[at].question);
    let same = |p: &PairMeta| {
        p.passage
            || p.question == *spelled
            || (words_key(p) == Some(key) && words(&p.question) == words(spelled))
    };
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
        pool(&mut f, &pairs, None);
        assert_eq!(order(&f), [0, 2, 1]);
        assert_eq!(f[0].score, 0.80, "the first is not raised");
        assert!(f[0].lift.is_none());
        let lift = f[1].lift.expect("the sibling is raised");
        assert_eq!(lift.first, 0);
        assert!((f[1].score - (0.55 + THREAD_SHARE * 0.25)).abs() < 1e-6);
        assert!(
            (f[1].evidence() - 0.55).abs() < 1e-6,
            "abstention sees no lift"
        );
    }

    #[test]
    fn a_thread_takes_its_places_in_the_order_of_what_else_is_told_of_its_pairs() {
        use crate::search::fuse::Part;
        use crate::search::views::View;
        let part = |view, raw, contribution| Part {
            view,
            contribution,
            raw,
            rank: 1,
        };
        // A heading shared by two answers: its cosine (0.8) is both pairs'
        // score; the answers view and the words tell the second is meant.
        let pairs = [pair(0, "Billing"), pair(1, "Other"), pair(2, "Billing")];
        let mut f = fused(&[(0, 0.82), (1, 0.81), (2, 0.80)]);
        f[0].parts = vec![
            part(View::Answers, 0.30, 0.0),
            part(View::Lexical, 2.0, 0.02),
        ];
        f[2].parts = vec![part(View::Answers, 0.70, 0.0)];
        pool(&mut f, &pairs, Some(0.25));
        // Pair 0 takes the second place, 0.80, raised by a share of 0.02.
        assert_eq!(order(&f), [2, 1, 0]);
        assert!((f[0].score - 0.82).abs() < 1e-6, "the first place's score");
        assert!((f[2].score - (0.80 + THREAD_SHARE * 0.02)).abs() < 1e-6);
        assert!(f[1].lift.is_none(), "another thread is left alone");
        let (first, second) = (f[0].lift.unwrap(), f[2].lift.unwrap());
        assert_eq!((first.first, second.first), (2, 2));
        assert!(first.added > 0.0 && second.added < 0.0);
        // Abstention's evidence is each pair's own: the best is unchanged.
        let best = f.iter().map(|x| x.evidence()).fold(f32::MIN, f32::max);
        assert!((best - 0.82).abs() < 1e-6);
        // Where nothing else is told, the answers view's floor stands in
        // and the thread keeps its order.
        let mut f = fused(&[(0, 0.82), (1, 0.81), (2, 0.80)]);
        f[2].parts = vec![part(View::Answers, 0.10, 0.0)];
        pool(&mut f, &pairs, Some(0.25));
        assert_eq!(order(&f), [0, 1, 2]);
        assert!(f[0].lift.is_none());
        assert!(f[2].lift.is_some_and(|l| l.first == 0 && l.added > 0.0));
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
        pool(&mut f, &pairs, None);
        assert_eq!(order(&f), [0, 1, 2]);
        assert!(f.iter().all(|f| f.lift.is_none()));
        // In one document (a spreadsheet's rows), the same question is a thread.
        let sheet = [
            pair(0, "What are the side effects?"),
            pair(0, "What is the dose?"),
            pair(0, "What are the side effects?"),
        ];
        let mut f = fused(&[(0, 0.80), (1, 0.60), (2, 0.55)]);
        pool(&mut f, &sheet, None);
        assert_eq!(order(&f), [0, 2, 1]);
    }

    #[test]
    fn the_words_key_is_the_same_where_the_words_are() {
        let key = |q: &str| words_key(&pair(0, q));
        for (a, b) in [
            (
                "How do I strike text through?",
                "how do I  strike-text through",
            ),
            ("ΟΔΟΣ ΣΟΦΙΑΣ;", "οδος σοφιας"),
            ("İSTANBUL?", "İstanbul"),
        ] {
            assert_eq!(words(a), words(b), "{a} / {b}");
            assert_eq!(key(a), key(b), "{a} / {b}");
        }
        assert_ne!(key("How do I bold text?"), key("How do I strike text?"));
        assert_ne!(key("a bc"), key("ab c"), "word breaks count");
        assert_eq!(key("?!"), None);
        assert_eq!(words_key(&pair(0, "")), None, "a passage");
    }

    #[test]
    fn passages_and_lone_questions_are_left_as_they_are() {
        let pairs = [pair(0, "Who won?"), pair(0, ""), pair(1, "Who lost?")];
        let mut f = fused(&[(1, 0.9), (0, 0.5), (2, 0.4)]);
        let before = f.clone();
        pool(&mut f, &pairs, None);
        assert_eq!(f, before);
    }

    #[test]
    fn a_pair_never_passes_its_threads_best() {
        let pairs: Vec<_> = (0..6).map(|d| pair(d, "Same question?")).collect();
        let scores: Vec<(u32, f32)> = (0..6).map(|p| (p, 0.9 - 0.1 * p as f32)).collect();
        let mut f = fused(&scores);
        pool(&mut f, &pairs, None);
        assert_eq!(
            order(&f),
            [0, 1, 2, 3, 4, 5],
            "the order within a thread is kept"
        );
        assert!(f.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(f.iter().all(|x| x.score <= 0.9));
    }
}
