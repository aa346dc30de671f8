//! Another entity, same template: a stored question that matches the asked
//! one word for word but for its name ("How does President Zelenskyy view
//! the coalition?" for "What did the president of Slovakia say about the
//! coalition?") scores high in the question view, above the pair whose
//! answer names what was asked. Such a match is discounted when
//!
//! - the question names something (a capitalised word past its first, or a
//!   word with a digit) that neither the stored question nor its pair's
//!   answer names, but another candidate pair does, and
//! - the stored question names something the question does not.
//!
//! Names match case-insensitively, by a shared five-letter start ("Slovak",
//! "Slovakia") or as an abbreviation ("FB" for "Facebook": its letters in
//! order, from the first). Measured on the sets with stored questions
//! (docs/search.md, "Another entity, same template").

use crate::search::views::{View, ViewHit};
use crate::store::Snapshot;

/// What a discounted stored-question match loses (a cosine).
pub const TEMPLATE_DISCOUNT: f32 = 0.15;

/// Lower-cased words of `text` (runs of letters and digits), one string,
/// a space between words: one allocation, however many words.
pub(super) fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        // `str::to_lowercase` but for the allocation: it differs from
        // lowering char by char only at a word-final capital sigma.
        if w.contains('Σ') {
            out.push_str(&w.to_lowercase());
        } else {
            out.extend(w.chars().flat_map(char::to_lowercase));
        }
    }
    out
}

/// The words of a string `words` made.
pub(super) fn each(words: &str) -> impl Iterator<Item = &str> + Clone {
    words.split(' ').filter(|w| !w.is_empty())
}

/// Words that name something: capitalised past the first word, or holding
/// a digit; question words and articles never.
fn names(text: &str) -> Vec<String> {
    const COMMON: &[&str] = &[
        "i", "a", "an", "the", "what", "who", "how", "why", "when", "where", "which", "does", "do",
        "did", "is", "are", "was", "were", "can", "could", "should", "would", "will", "of", "in",
        "on", "for", "to", "and", "or", "with", "about", "s",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .enumerate()
        .filter(|(i, w)| {
            let capital = *i > 0 && w.chars().next().is_some_and(char::is_uppercase);
            (capital || w.chars().any(|c| c.is_ascii_digit()))
                && !COMMON.contains(&w.to_lowercase().as_str())
        })
        .map(|(_, w)| w.to_lowercase())
        .collect()
}

/// Whether `name` is one of `words`: the same, the same five-letter start,
/// or an abbreviation of it (2–4 letters, in order, from its first).
fn named<'w>(name: &str, mut words: impl Iterator<Item = &'w str>) -> bool {
    // The first five characters when there are five: a word shares them
    // exactly when it starts with them.
    let start = name
        .char_indices()
        .nth(4)
        .map(|(i, c)| &name[..i + c.len_utf8()]);
    words.any(|w| w == name || start.is_some_and(|s| w.starts_with(s)) || abbreviates(name, w))
}

fn abbreviates(short: &str, word: &str) -> bool {
    let n = short.chars().count();
    if !(2..=4).contains(&n) || word.chars().count() <= n || !short.chars().all(char::is_alphabetic)
    {
        return false;
    }
    let mut letters = word.chars();
    short.chars().enumerate().all(|(i, c)| match i {
        0 => letters.next() == Some(c),
        _ => letters.any(|x| x == c),
    })
}

/// Lowers the question view's score of stored questions of the same
/// template but another entity (see the module's text), never below the
/// view's lowest score (which stands in for pairs it did not return).
pub fn discount_other_entities(
    snapshot: &Snapshot,
    question: &str,
    views: &mut [(View, Vec<ViewHit>)],
) {
    let asked = names(question);
    if asked.is_empty() {
        return;
    }
    let asked_words = words(question);
    let candidates = candidates(views);
    // For each asked name, the candidates (positions in `candidates`)
    // whose question or answer names it: found the first time needed.
    let mut naming: Option<Vec<Vec<usize>>> = None;
    discount_question_hits(views, |pair| {
        let stored = &snapshot.meta.pairs[pair as usize].question;
        if !names(stored).iter().any(|n| !named(n, each(&asked_words))) {
            return false;
        }
        let naming = naming.get_or_insert_with(|| naming_pairs(snapshot, &candidates, &asked));
        let own = candidates.binary_search(&pair).ok();
        // A name its own pair lacks, that another candidate has.
        naming.iter().any(|pairs| {
            !own.is_some_and(|own| pairs.contains(&own)) && pairs.iter().any(|&p| Some(p) != own)
        })
    });
}

/// Every pair a view returned, ascending.
pub(super) fn candidates(views: &[(View, Vec<ViewHit>)]) -> Vec<u32> {
    let mut all: Vec<u32> = views
        .iter()
        .flat_map(|(_, hits)| hits.iter().map(|h| h.pair))
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Lowers by [`TEMPLATE_DISCOUNT`] the question view's hits whose pair
/// `picked` picks, never below the view's lowest score (which stands in for
/// pairs it did not return), and sorts the view again.
pub(super) fn discount_question_hits(
    views: &mut [(View, Vec<ViewHit>)],
    mut picked: impl FnMut(u32) -> bool,
) {
    for (view, hits) in views.iter_mut() {
        if *view != View::Questions {
            continue;
        }
        let Some(floor) = hits.iter().map(|h| h.score).reduce(f32::min) else {
            continue;
        };
        for hit in hits.iter_mut() {
            if picked(hit.pair) {
                hit.score = (hit.score - TEMPLATE_DISCOUNT).max(floor);
            }
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.pair.cmp(&b.pair)));
    }
}

/// For each of `names`, the positions in `candidates` of the pairs whose
/// question or answer names it.
fn naming_pairs(snapshot: &Snapshot, candidates: &[u32], names: &[String]) -> Vec<Vec<usize>> {
    let texts: Vec<String> = candidates
        .iter()
        .map(|&pair| {
            let p = &snapshot.meta.pairs[pair as usize];
            words(&format!("{} {}", p.question, p.answer))
        })
        .collect();
    names
        .iter()
        .map(|n| {
            (0..texts.len())
                .filter(|&i| named(n, each(&texts[i])))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_capitalised_words_past_the_first_and_words_with_digits() {
        assert_eq!(
            names("What did the president of Slovakia say about the coalition?"),
            ["slovakia"]
        );
        assert_eq!(
            names("How does President Zelenskyy view the coalition?"),
            ["president", "zelenskyy"]
        );
        assert_eq!(names("Removing my FB account in 2024"), ["fb", "2024"]);
        assert!(names("What is the main goal?").is_empty());
    }

    #[test]
    fn a_name_matches_its_form_its_five_letter_start_or_its_abbreviation() {
        assert!(named("slovakia", ["slovak", "president"].into_iter()));
        assert!(named("fb", ["facebook"].into_iter()));
        assert!(named("ms", ["microsoft"].into_iter()));
        assert!(!named("fb", ["bf", "buffer"].into_iter()));
        assert!(!named("zelenskyy", ["slovak", "pellegrini"].into_iter()));
        assert!(!named("eu", ["nato"].into_iter()));
    }

    /// The first way of matching (word sets of owned strings, prefixes
    /// collected per comparison), kept as the oracle.
    fn named_as_first(name: &str, text: &str) -> bool {
        let words: std::collections::HashSet<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let prefix = |w: &str| w.chars().take(5).collect::<String>();
        let long = name.chars().count() >= 5;
        words.iter().any(|w| {
            w == name
                || (long && w.chars().count() >= 5 && prefix(w) == prefix(name))
                || abbreviates(name, w)
        })
    }

    proptest::proptest! {
        #[test]
        fn matching_equals_the_first_way(
            // Few letters, so that words share starts of every length.
            text in "[abABΣσςéÉİ0 ,']{0,60}",
            name in "[abσςéi̇0]{1,8}",
        ) {
            proptest::prop_assert_eq!(
                named(&name, each(&words(&text))),
                named_as_first(&name, &text)
            );
            // Every name the text itself holds, too.
            for n in names(&text) {
                proptest::prop_assert_eq!(
                    named(&n, each(&words(&text))),
                    named_as_first(&n, &text)
                );
            }
        }
    }
}
