//! Splits answer text into sentences.
//!
//! A pure function over a string: it returns byte spans into the input, so the
//! caller keeps exact offsets. Rules, in order:
//! - a line break ends a sentence (answers spread over lines are kept apart),
//!   unless the line is *wrapped*: it does not end like a sentence (a
//!   terminator, a colon or a semicolon) and the next line does not open a
//!   new block (a blank line, a list item, a heading, a quote, a table row, a
//!   code fence or indented code); wrapped lines are one sentence, whose span
//!   keeps the line break for display;
//! - `.`, `!`, `?` (and runs such as `?!` or `...`), optionally followed by
//!   closing quotes or brackets, end a sentence when whitespace follows and the
//!   next word starts like a sentence (a capital, a digit, an opening quote);
//! - a period does not end a sentence after a known abbreviation (`Dr.`,
//!   `Mr.`, `e.g.`, `etc.`), a single-letter initial (`J. K. Rowling`), or a
//!   dotted acronym (`U.S.`) unless the next word is a common sentence opener;
//! - decimals (`3.5`) and dotted names (`example.com`) never split, since no
//!   whitespace follows the period;
//! - in scripts without capitals (Arabic, Devanagari, CJK, …) a word after
//!   `. ` may open a sentence without one;
//! - the sentence ends of other scripts (`。！？` with no space after them,
//!   `؟ ۔ । ॥ ። ։ ။ ។`) always end a sentence.
//!
//! Spans are trimmed of surrounding whitespace, in order, never overlap, and
//! together hold every non-whitespace character of the input.

use std::ops::Range;

/// Version of the splitting rules; recorded in the index manifest so that a
/// change of rules rebuilds the index.
pub const SPLITTER_VERSION: u32 = 3;

/// Words that end with a period without ending a sentence (compared lowercase,
/// without the final period).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "etc", "e.g", "i.e", "cf",
    "al", "inc", "ltd", "co", "corp", "llc", "gen", "gov", "sen", "rep", "pres", "lt", "col",
    "capt", "cmdr", "sgt", "maj", "adm", "rev", "hon", "no", "nos", "vol", "pp", "p", "fig",
    "approx", "est", "dept", "univ", "ave", "blvd", "rd", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun",
    "a.m", "p.m", "ph.d", "u.s", "u.k", "u.n", "e.u", "d.c", "b.c", "a.d",
];

/// Capitalised words that usually open a sentence: after a dotted acronym
/// ("the U.S. The next …") they mark a boundary.
const OPENERS: &[&str] = &[
    "the", "this", "that", "these", "those", "it", "its", "he", "she", "they", "we", "i", "you",
    "there", "in", "on", "at", "for", "but", "and", "however", "also", "as", "a", "an", "his",
    "her", "their", "our", "after", "before", "when", "while", "since", "if", "although",
];

/// Returns the byte spans of the sentences in `text`.
///
/// ```
/// let text = "Dr. Smith arrived at 3.30 p.m. today. He met the U.S. envoy! Did it work?";
/// let sentences: Vec<&str> = qasearch::corpus::split::sentences(text).into_iter().map(|r| &text[r]).collect();
/// assert_eq!(sentences, [
///     "Dr. Smith arrived at 3.30 p.m. today.",
///     "He met the U.S. envoy!",
///     "Did it work?",
/// ]);
/// ```
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    for cut in boundaries(text) {
        push_trimmed(text, start..cut, &mut spans);
        start = cut;
    }
    push_trimmed(text, start..text.len(), &mut spans);
    spans
}

/// Convenience: the sentences as string slices.
pub fn sentence_strs(text: &str) -> Vec<&str> {
    sentences(text).into_iter().map(|r| &text[r]).collect()
}

fn push_trimmed(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let piece = &text[range.clone()];
    let lead = piece.len() - piece.trim_start().len();
    let trimmed = piece.trim();
    // A piece of only invisible characters is no sentence (crate::corpus::text).
    if crate::corpus::text::means_something(trimmed) {
        let s = range.start + lead;
        out.push(s..s + trimmed.len());
    }
}

fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '”'
            | '’'
            | ')'
            | ']'
            | '»'
            | '}'
            | '」'
            | '』'
            | '）'
            | '】'
            | '〕'
            | '》'
            | '〉'
            | '＂'
            | '］'
    )
}

fn is_opener(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '“'
            | '‘'
            | '('
            | '['
            | '«'
            | '¿'
            | '¡'
            | '「'
            | '『'
            | '（'
            | '【'
            | '〔'
            | '《'
            | '〈'
    )
}

/// Sentence ends of Latin text: they cut only before whitespace and a word
/// that starts like a sentence.
fn is_latin_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

/// Sentence ends of other scripts, which always end a sentence: Chinese and
/// Japanese full stops, exclamation and question marks (no space follows
/// them), the Arabic question mark and full stop, the Devanagari danda and
/// double danda, the Ethiopic, Armenian, Myanmar and Khmer full stops.
fn is_script_terminator(c: char) -> bool {
    matches!(
        c,
        '。' | '！'
            | '？'
            | '｡'
            | '．'
            | '؟'
            | '۔'
            | '।'
            | '॥'
            | '።'
            | '፧'
            | '։'
            | '။'
            | '។'
    )
}

/// A letter of a script without capitals (Arabic, Hebrew, Devanagari, CJK,
/// Thai, …): such a word can open a sentence without announcing it.
fn is_uncased_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_uppercase() && !c.is_lowercase()
}

/// Byte offsets just after each sentence end (before the following whitespace).
fn boundaries(text: &str) -> Vec<usize> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut cuts = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if c == '\n' {
            if !is_wrapped(&chars, i) {
                cuts.push(pos);
            }
            i += 1;
            continue;
        }
        let terminator = |c: char| is_latin_terminator(c) || is_script_terminator(c);
        if !terminator(c) {
            i += 1;
            continue;
        }
        // Take the whole run of terminators, then closing quotes and brackets.
        let mut j = i;
        while j < chars.len() && terminator(chars[j].1) {
            j += 1;
        }
        let run_has_strong = chars[i..j].iter().any(|&(_, ch)| ch != '.');
        let run_has_script = chars[i..j].iter().any(|&(_, ch)| is_script_terminator(ch));
        while j < chars.len() && is_closer(chars[j].1) {
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |&(p, _)| p);
        if run_has_script {
            // 。！？ and the like end a sentence, space or not.
            if j < chars.len() && chars[j].1 != '\n' {
                cuts.push(end);
            }
            i = j.max(i + 1);
            continue;
        }
        // Whitespace must follow; at the end of the text there is nothing to cut.
        let mut k = j;
        while k < chars.len() && chars[k].1.is_whitespace() && chars[k].1 != '\n' {
            k += 1;
        }
        if k == j || k >= chars.len() {
            i = j.max(i + 1);
            continue;
        }
        if chars[k].1 == '\n' {
            // The newline itself will cut; nothing more to decide here.
            i = k;
            continue;
        }
        let next_word = word_at(&chars, k);
        let starts_sentence = {
            let first = chars[k].1;
            first.is_uppercase()
                || first.is_ascii_digit()
                || is_opener(first)
                || is_uncased_letter(first)
        };
        let cut = if !starts_sentence || is_list_number(&chars, i) {
            false
        } else if run_has_strong || count_periods(&chars[i..j]) >= 2 {
            true
        } else {
            !is_non_terminal(&word_before(&chars, i), &next_word)
        };
        if cut {
            cuts.push(end);
        }
        i = j.max(i + 1);
    }
    cuts
}

/// True when the line break at `i` only wraps a paragraph: the line before
/// it does not end like a sentence and the line after it opens no new block.
fn is_wrapped(chars: &[(usize, char)], i: usize) -> bool {
    let line_start = chars[..i]
        .iter()
        .rposition(|&(_, c)| c == '\n')
        .map_or(0, |p| p + 1);
    let raw: String = chars[line_start..i].iter().map(|&(_, c)| c).collect();
    let line = raw.trim();
    let Some(last) = line.trim_end_matches(is_closer).chars().last() else {
        return false;
    };
    if is_latin_terminator(last)
        || is_script_terminator(last)
        || matches!(last, ':' | ';')
        || opens_block(line)
        || raw.starts_with("    ")
        || raw.starts_with('\t')
    {
        return false;
    }
    let next_end = chars[i + 1..]
        .iter()
        .position(|&(_, c)| c == '\n')
        .map_or(chars.len(), |p| i + 1 + p);
    let next: String = chars[i + 1..next_end].iter().map(|&(_, c)| c).collect();
    let indented = next.starts_with('\t') || next.starts_with("    ");
    !next.trim().is_empty() && !indented && !opens_block(next.trim_start())
}

/// True when a line (without its indentation) opens a block of its own: a
/// list item, a heading, a quote, a table row, a code fence.
fn opens_block(line: &str) -> bool {
    let mut chars = line.chars();
    match chars.next() {
        Some('#' | '>' | '|' | '•' | '·' | '▪' | '–' | '—') => true,
        Some('-' | '*' | '+') => chars.next().is_none_or(char::is_whitespace),
        Some('`' | '~') => line.starts_with("```") || line.starts_with("~~~"),
        Some(c) if c.is_ascii_digit() => {
            let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
            let mut r = rest.chars();
            matches!(r.next(), Some('.' | ')')) && r.next().is_none_or(char::is_whitespace)
        }
        _ => false,
    }
}

/// True when the terminator at `i` closes the number of a numbered list
/// item at the start of its line ("1. Open it").
fn is_list_number(chars: &[(usize, char)], i: usize) -> bool {
    let digits = chars[..i]
        .iter()
        .rev()
        .take_while(|&&(_, c)| c.is_ascii_digit())
        .count();
    digits > 0
        && chars[i].1 == '.'
        && chars[..i - digits]
            .iter()
            .rev()
            .take_while(|&&(_, c)| c != '\n')
            .all(|&(_, c)| c.is_whitespace())
}

fn count_periods(run: &[(usize, char)]) -> usize {
    run.iter().filter(|&&(_, c)| c == '.').count()
}

/// The token before position `i` (letters, digits and inner periods), lowercase.
fn word_before(chars: &[(usize, char)], i: usize) -> String {
    let mut s = i;
    while s > 0 && (chars[s - 1].1.is_alphanumeric() || chars[s - 1].1 == '.') {
        s -= 1;
    }
    chars[s..i]
        .iter()
        .map(|&(_, c)| c)
        .collect::<String>()
        .trim_start_matches('.')
        .to_lowercase()
}

/// The word starting at `k` (letters only), lowercase.
fn word_at(chars: &[(usize, char)], k: usize) -> String {
    chars[k..]
        .iter()
        .map(|&(_, c)| c)
        .skip_while(|c| is_opener(*c))
        .take_while(|c| c.is_alphabetic())
        .collect::<String>()
        .to_lowercase()
}

/// True when a period after `word` does not end the sentence.
fn is_non_terminal(word: &str, next_word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let dotted_acronym = word.contains('.')
        && word
            .split('.')
            .all(|part| part.chars().count() <= 2 && part.chars().all(char::is_alphabetic));
    if dotted_acronym || ABBREVIATIONS.contains(&word) {
        // "the U.S. The next day" ends a sentence; "U.S. Army" does not.
        let is_title = matches!(
            word,
            "mr" | "mrs"
                | "ms"
                | "dr"
                | "prof"
                | "st"
                | "gen"
                | "gov"
                | "sen"
                | "rep"
                | "lt"
                | "col"
                | "capt"
                | "sgt"
                | "rev"
                | "hon"
                | "pres"
                | "no"
                | "vs"
                | "e.g"
                | "i.e"
        );
        return is_title || !OPENERS.contains(&next_word);
    }
    // A single-letter initial: "J. K. Rowling". A lone capital "I." is rare.
    let mut it = word.chars();
    matches!((it.next(), it.next()), (Some(c), None) if c.is_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(text: &str) -> Vec<&str> {
        sentence_strs(text)
    }

    #[test]
    fn other_scripts() {
        assert_eq!(
            split("这是一本书。我喜欢读书！你呢？好的"),
            ["这是一本书。", "我喜欢读书！", "你呢？", "好的"]
        );
        assert_eq!(
            split("「東京は首都です。」と彼は言った。大阪は違う。"),
            ["「東京は首都です。」", "と彼は言った。", "大阪は違う。"]
        );
        assert_eq!(
            split("भारत की राजधानी नई दिल्ली है। यह बड़ा शहर है।"),
            ["भारत की राजधानी नई दिल्ली है।", "यह बड़ा शहर है।"]
        );
        assert_eq!(
            split("ما هو الهدف؟ الهدف هو السلام. والأمن أيضا."),
            ["ما هو الهدف؟", "الهدف هو السلام.", "والأمن أيضا."]
        );
        // A Latin abbreviation before an uncased word still does not cut.
        assert_eq!(split("Siehe z.B. Ja."), ["Siehe z.B. Ja."]);
        assert_eq!(split("Call Dr. 王 now."), ["Call Dr. 王 now."]);
    }

    #[test]
    fn plain_sentences() {
        assert_eq!(
            split("One fish. Two fish! Red fish? Blue fish."),
            ["One fish.", "Two fish!", "Red fish?", "Blue fish."]
        );
    }

    #[test]
    fn abbreviations_and_titles() {
        assert_eq!(
            split("Dr. Who met Mr. Smith and Prof. Jones. They talked."),
            ["Dr. Who met Mr. Smith and Prof. Jones.", "They talked."]
        );
        assert_eq!(
            split("Fruit, e.g. Apples, etc. are good. Yes."),
            ["Fruit, e.g. Apples, etc. are good.", "Yes."]
        );
    }

    #[test]
    fn acronyms() {
        assert_eq!(
            split("The U.S. Army moved. It rained."),
            ["The U.S. Army moved.", "It rained."]
        );
        assert_eq!(
            split("He flew to the U.S. The trip was long."),
            ["He flew to the U.S.", "The trip was long."]
        );
        assert_eq!(
            split("It starts at 9 a.m. Sharp."),
            ["It starts at 9 a.m. Sharp."]
        );
    }

    #[test]
    fn decimals_and_initials() {
        assert_eq!(
            split("Growth was 3.5 percent. J. K. Rowling wrote it. Version 2.0.1 shipped."),
            [
                "Growth was 3.5 percent.",
                "J. K. Rowling wrote it.",
                "Version 2.0.1 shipped."
            ]
        );
    }

    #[test]
    fn quotes_and_brackets() {
        assert_eq!(
            split("He said \"Stop.\" Then he left. (It was late.) \"Why?\" she asked."),
            [
                "He said \"Stop.\"",
                "Then he left.",
                "(It was late.)",
                "\"Why?\" she asked."
            ]
        );
        assert_eq!(
            split("Macron announced European “deterrence forces.” France agreed."),
            [
                "Macron announced European “deterrence forces.”",
                "France agreed."
            ]
        );
    }

    #[test]
    fn lowercase_after_period_does_not_split() {
        assert_eq!(
            split("See fig. three for details."),
            ["See fig. three for details."]
        );
        assert_eq!(split("Wait... what now"), ["Wait... what now"]);
    }

    #[test]
    fn ellipsis_and_runs() {
        assert_eq!(
            split("Really?! Yes... It works."),
            ["Really?!", "Yes...", "It works."]
        );
    }

    #[test]
    fn newlines_split_and_whitespace_is_trimmed() {
        assert_eq!(
            split("  first line.\nsecond line  \n\n"),
            ["first line.", "second line"]
        );
        assert_eq!(split("wrapped\nline"), ["wrapped\nline"]);
        assert_eq!(split(""), Vec::<&str>::new());
        assert_eq!(split("   \n "), Vec::<&str>::new());
        assert_eq!(split("no terminator"), ["no terminator"]);
    }

    #[test]
    fn wrapped_lines_are_one_sentence_and_blocks_stay_apart() {
        let text = "The quick brown fox jumps over\nthe lazy dog. It sleeps.\nInstall it with\n- make\n- make install\nThen run:\n    qasearch index\nA title\n\nA paragraph.";
        assert_eq!(
            split(text),
            [
                "The quick brown fox jumps over\nthe lazy dog.",
                "It sleeps.",
                "Install it with",
                "- make",
                "- make install",
                "Then run:",
                "qasearch index",
                "A title",
                "A paragraph.",
            ]
        );
        // A numbered step and a heading open blocks; an ordinary number does not.
        assert_eq!(
            split("Steps\n1. Open it\n2) Close it\n# Notes\nIt costs\n20 euros."),
            [
                "Steps",
                "1. Open it",
                "2) Close it",
                "# Notes",
                "It costs\n20 euros."
            ]
        );
    }

    #[test]
    fn seed_answer_splits_into_three() {
        let text = "The main goal of the Coalition of the Willing is to strengthen Ukraine's defense capabilities through international support and assistance amidst ongoing conflict. The coalition aims to provide military aid, negotiate ceasefire terms, and establish security guarantees to ensure stability in the region. This coalition includes several countries committed to supporting Ukraine militarily, which they view as vital for future peace and security in Europe.";
        assert_eq!(split(text).len(), 3);
    }

    fn non_ws(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    proptest! {
        #[test]
        fn spans_are_ordered_inside_and_lossless(
            text in proptest::collection::vec(
                prop_oneof![
                    "[A-Z][a-z]{0,8}",
                    "[a-z]{1,8}",
                    Just("Dr.".to_string()), Just("U.S.".to_string()), Just("3.5".to_string()),
                    Just(".".to_string()), Just("?".to_string()), Just("!".to_string()),
                    Just("...".to_string()), Just("\"".to_string()), Just("”".to_string()),
                    Just(" ".to_string()), Just("  ".to_string()), Just("\n".to_string()),
                    Just("\r\n".to_string()), Just("é".to_string()), Just("ß".to_string()),
                ],
                0..60,
            ).prop_map(|parts| parts.join(" "))
        ) {
            let spans = sentences(&text);
            let mut last_end = 0;
            for r in &spans {
                prop_assert!(r.start >= last_end, "overlap or out of order: {:?}", spans);
                prop_assert!(r.start < r.end && r.end <= text.len());
                prop_assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
                let s = &text[r.clone()];
                prop_assert_eq!(s, s.trim());
                last_end = r.end;
            }
            let joined: String = spans.iter().map(|r| non_ws(&text[r.clone()])).collect();
            prop_assert_eq!(joined, non_ws(&text));
        }

        #[test]
        fn arbitrary_unicode_never_panics(text in "\\PC{0,200}") {
            // A piece of only characters that carry nothing (U+FFFC alone, say)
            // is no sentence: every character that carries something is kept.
            let spans = sentences(&text);
            let meaningful = |s: &str| -> String {
                s.chars().filter(|&c| !crate::corpus::text::carries_nothing(c)).collect()
            };
            let joined: String = spans.iter().map(|r| meaningful(&text[r.clone()])).collect();
            prop_assert_eq!(joined, meaningful(&text));
        }
    }
}
