//! Another topic, same template: a stored question worded as the asked one
//! but for what it asks about ("What are the criticisms of the Coalition of
//! the Willing?" for "What is the main goal of the Coalition of the
//! Willing?") scores high in the question view, above the pair whose answer
//! says what was asked. [`crate::search::entity`] catches such a match when
//! the slot is a name; this catches it when the slot is any word. Such a
//! match is discounted when
//!
//! - the stored question is the asked one's template: its words and the
//!   question's, in order, share at least [`TEMPLATE_SHARE`] of the longer;
//! - each differs from the other (the question has a content word the stored
//!   question lacks, and the stored question one the question lacks);
//! - the question's words the stored question lacks are said neither by it
//!   nor by any answer to it (every candidate pair with that stored
//!   question: a FAQ thread's answers are one pair each), and
//! - the best pair of the lexical arm or of the answers view, a pair with
//!   another question, says all of them.
//!
//! The last two keep it off rewordings: "How could I introduce new styles to
//! Google Docs?" shares its template with "How do I add new styles to Google
//! Docs?", but BM25's best pair and the answers view's are that stored
//! question's own. Measured on the sets with stored questions
//! (docs/search.md, "Another topic, same template"). The discount, its
//! floor and the candidate list are the entity check's
//! ([`crate::search::entity::discount_question_hits`]).

use crate::search::entity::{candidates, discount_question_hits, each, words};
use crate::search::views::{View, ViewHit};
use crate::store::{PairMeta, Snapshot};

/// The share of the longer of the two, in words, that the question and a
/// stored question must have in common, in order, to be one template.
pub const TEMPLATE_SHARE: f32 = 0.6;

/// A question longer than this (in words) is not a template of anything:
/// the check is quadratic in it.
const LONGEST_TEMPLATE: usize = 64;

/// Words that say what kind of question it is, not what it is about
/// (with the frame of a question: "Is it possible to", "Does anyone know").
#[rustfmt::skip]
const FUNCTION_WORDS: &[&str] = &[
    "a", "able", "about", "all", "also", "am", "an", "and", "any", "anybody", "anyone", "anything",
    "are", "as", "at", "be", "been", "being", "but", "by", "can", "could", "did", "do", "does",
    "doing", "done", "each", "even", "everything", "for", "from", "get", "gets", "getting", "got",
    "had", "has", "have", "having", "he", "her", "here", "him", "his", "how", "i", "if", "in",
    "into", "is", "it", "its", "just", "know", "like", "make", "makes", "many", "may", "me",
    "might", "more", "most", "much", "must", "my", "need", "no", "not", "of", "off", "on", "one",
    "only", "or", "other", "our", "out", "over", "please", "possible", "shall", "she", "should",
    "so", "some", "somebody", "someone", "something", "still", "than", "thanks", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "under", "up", "us",
    "use", "used", "using", "very", "want", "was", "way", "we", "were", "what", "when", "where",
    "whether", "which", "who", "whom", "whose", "why", "will", "with", "would", "yet", "you",
    "your",
];

/// The words of `words` (a [`words`] string) that say what a question is
/// about: not function words, not one letter long.
fn content(words: &str) -> impl Iterator<Item = &str> {
    each(words).filter(|w| w.chars().nth(1).is_some() && FUNCTION_WORDS.binary_search(w).is_err())
}

/// `word` without one ending of inflection ("-ing", "-ed", "-es", "-ly",
/// "-s"), when three letters or more remain.
fn stem(word: &str) -> &str {
    for ending in ["ing", "ed", "es", "ly", "s"] {
        if let Some(stem) = word.strip_suffix(ending) {
            if stem.chars().nth(2).is_some() {
                return stem;
            }
        }
    }
    word
}

/// Whether `word` is one of `words`: the same, the same five-letter start,
/// or the same stem ("link" and "linking", "goal" and "goals").
fn said<'w>(word: &str, mut words: impl Iterator<Item = &'w str>) -> bool {
    let start = word
        .char_indices()
        .nth(4)
        .map(|(i, c)| &word[..i + c.len_utf8()]);
    let stemmed = stem(word);
    words.any(|w| w == word || start.is_some_and(|s| w.starts_with(s)) || stem(w) == stemmed)
}

/// The length of the longest common subsequence of `a` and `b`.
fn common_run(a: &[&str], b: &[&str]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        let mut diagonal = 0;
        for (j, y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if x == y {
                diagonal + 1
            } else {
                above.max(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Whether `stored` (words) is `asked`'s template with another topic: the
/// question's words it lacks (the slot), if it has a slot of its own.
fn slot<'a>(asked: &'a str, stored: &str) -> Option<Vec<&'a str>> {
    let (a, s): (Vec<&str>, Vec<&str>) = (each(asked).collect(), each(stored).collect());
    let longer = a.len().max(s.len()) as f32;
    // The common run is at most the shorter: most stored questions end here.
    if s.len() > LONGEST_TEMPLATE || (a.len().min(s.len()) as f32) < TEMPLATE_SHARE * longer {
        return None;
    }
    if (common_run(&a, &s) as f32) < TEMPLATE_SHARE * longer {
        return None;
    }
    let mut slot: Vec<&str> = content(asked).filter(|w| !said(w, each(stored))).collect();
    slot.dedup();
    let own_slot = content(stored).any(|w| !said(w, each(asked)));
    (!slot.is_empty() && own_slot).then_some(slot)
}

/// Lowers the question view's score of stored questions that are the
/// question's template with another topic (see the module's text), never
/// below the view's lowest score.
pub fn discount_other_topics(
    snapshot: &Snapshot,
    question: &str,
    views: &mut [(View, Vec<ViewHit>)],
) {
    let asked = words(question);
    if each(&asked).nth(LONGEST_TEMPLATE).is_some() {
        return;
    }
    let Some(mut judge) = Judge::new(&snapshot.meta.pairs, &asked, views) else {
        return;
    };
    discount_question_hits(views, |pair| judge.other_topic(pair));
}

/// One question's candidates, as the check reads them: each text split into
/// words once, when first needed, and each stored question judged once (a
/// FAQ thread's pairs share theirs).
struct Judge<'a> {
    pairs: &'a [PairMeta],
    asked: &'a str,
    /// Every pair a view returned, ascending.
    candidates: Vec<u32>,
    /// The best pair of the lexical arm and of the answers view: the
    /// evidence of another pair that a discount needs.
    lead_pairs: Vec<u32>,
    /// The words of each candidate's stored question (by position).
    questions: Option<Vec<String>>,
    /// The words of each lead's stored question, and of all its text.
    leads: Option<Vec<(String, String)>>,
    /// Stored questions (their words) judged so far, with the verdict.
    judged: Vec<(String, bool)>,
}

impl<'a> Judge<'a> {
    /// None when there is nothing to judge: no question view, or no lead.
    fn new(pairs: &'a [PairMeta], asked: &'a str, views: &[(View, Vec<ViewHit>)]) -> Option<Self> {
        let lead_pairs: Vec<u32> = [View::Lexical, View::Answers]
            .iter()
            .filter_map(|&lead| views.iter().find(|(v, _)| *v == lead))
            .filter_map(|(_, hits)| hits.first().map(|h| h.pair))
            .collect();
        if lead_pairs.is_empty() || !views.iter().any(|(v, _)| *v == View::Questions) {
            return None;
        }
        let candidates = candidates(views);
        Some(Judge {
            pairs,
            asked,
            candidates,
            lead_pairs,
            questions: None,
            leads: None,
            judged: Vec::new(),
        })
    }

    /// Whether `pair`'s stored question is the asked one's template with
    /// another topic, which a lead says.
    fn other_topic(&mut self, pair: u32) -> bool {
        let stored = words(&self.pairs[pair as usize].question);
        if let Some((_, verdict)) = self.judged.iter().find(|(s, _)| *s == stored) {
            return *verdict;
        }
        let verdict = self.judge(&stored);
        self.judged.push((stored, verdict));
        verdict
    }

    fn judge(&mut self, stored: &str) -> bool {
        let Some(slot) = slot(self.asked, stored) else {
            return false;
        };
        let (pairs, candidates) = (self.pairs, &self.candidates);
        let questions = self.questions.get_or_insert_with(|| {
            (candidates.iter())
                .map(|&c| words(&pairs[c as usize].question))
                .collect()
        });
        // What the stored question and every answer to it say.
        let thread: String = candidates
            .iter()
            .zip(questions.iter())
            .filter(|(_, question)| question.as_str() == stored)
            .map(|(&c, _)| {
                format!(
                    "{} {} ",
                    pairs[c as usize].question, pairs[c as usize].answer
                )
            })
            .collect();
        let thread = words(&thread);
        let unsaid: Vec<&str> = (slot.into_iter())
            .filter(|w| !said(w, each(&thread)))
            .collect();
        if unsaid.is_empty() {
            return false;
        }
        let lead_pairs = &self.lead_pairs;
        let leads = self.leads.get_or_insert_with(|| {
            (lead_pairs.iter())
                .map(|&pair| {
                    let p = &pairs[pair as usize];
                    let text = words(&format!("{} {}", p.question, p.answer));
                    (words(&p.question), text)
                })
                .collect()
        });
        leads.iter().any(|(question, text)| {
            question != stored && unsaid.iter().all(|w| said(w, each(text)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_words_are_sorted_for_the_binary_search() {
        assert!(FUNCTION_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_template_with_another_topic_has_a_slot_each_way() {
        let asked = words("What is the main goal of the Coalition of the Willing?");
        let other = words("What are the criticisms of the Coalition of the Willing?");
        assert_eq!(slot(&asked, &other), Some(vec!["main", "goal"]));
        // Its own rewording with nothing added: no slot of the stored one.
        let same = words("What is the goal of the Coalition of the Willing?");
        assert_eq!(slot(&asked, &same), None);
        // The frame of a question is not its topic ("possible"), nor is an
        // inflection ("link" for "linking").
        let youtube = words("Is it possible to link to a specific point in a YouTube video?");
        let stored = words("Linking directly to a specific point in time of a YouTube video");
        assert_eq!(slot(&youtube, &stored), None);
        // A paraphrase shares too little of its wording to be a template.
        let paraphrase = words("Why do some people criticize the coalition?");
        assert_eq!(slot(&other, &paraphrase), None);
    }

    #[test]
    fn words_are_said_by_their_form_their_five_letter_start_or_their_stem() {
        assert!(said("criticisms", ["critics", "argue"].into_iter()));
        assert!(said("goal", ["goals"].into_iter()));
        assert!(said("goals", ["goal"].into_iter()));
        assert!(said("link", ["linking"].into_iter()));
        assert!(said("added", ["add"].into_iter()));
        assert!(!said("goal", ["go", "main"].into_iter()));
        // Too short a stem is no stem: "is" is not "i".
        assert_eq!(stem("uses"), "use");
        assert_eq!(stem("is"), "is");
        // No abbreviations: a short word is not the start of a long one.
        assert!(!said("ui", ["user", "interface"].into_iter()));
    }

    proptest::proptest! {
        /// Any text, any script: no panic, and a slot holds only the
        /// question's own content words, none the stored question says.
        #[test]
        fn a_slot_is_made_of_the_questions_content_words(
            asked in "[a-zA-ZéİıΣσς0-9 ?',-]{0,80}",
            stored in "[a-zA-ZéİıΣσς0-9 ?',-]{0,80}",
        ) {
            check_slot(&words(&asked), &words(&stored))?;
        }

        /// The same, where the stored question is the question with one
        /// word replaced: a template, most of the time.
        #[test]
        fn a_slot_of_one_replaced_word(
            asked in proptest::collection::vec("[a-zéı]{1,7}", 2..12),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            by in "[a-zéı]{1,7}",
        ) {
            let mut stored = asked.clone();
            stored[at.index(asked.len())] = by;
            check_slot(&asked.join(" "), &stored.join(" "))?;
        }
    }

    fn check_slot(asked: &str, stored: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        if let Some(slot) = slot(asked, stored) {
            proptest::prop_assert!(!slot.is_empty());
            for w in slot {
                proptest::prop_assert!(content(asked).any(|c| c == w));
                proptest::prop_assert!(!said(w, each(stored)));
            }
        }
        Ok(())
    }

    #[test]
    fn the_common_run_is_the_longest_common_subsequence() {
        let a = ["what", "is", "the", "goal", "of", "it"];
        let b = ["what", "are", "the", "views", "of", "it"];
        assert_eq!(common_run(&a, &b), 4);
        assert_eq!(common_run(&a, &[]), 0);
        assert_eq!(common_run(&["x", "y"], &["y", "x"]), 1);
    }
}
