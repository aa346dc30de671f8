//! The words of the update bench's synthetic corpus.
//!
//! By default they are drawn one by one from the unigram distribution of
//! the English text in the shared evaluation sets (`../shared/datasets`:
//! WikiQA's and XQuAD's passages, StackFAQ's questions and answers; about
//! 15,000 distinct words in 260,000): common words common, most words
//! rare, stop words among them, as in a user's corpus. The lexical arm's
//! cost follows from that: a query word's postings are as long as the word
//! is common. Drawn independently, no two sentences of a million pairs are
//! alike by chance; one question in 50, and one answer in 50, is repeated
//! on purpose ([`some_repeated`]), as FAQs repeat themselves.
//!
//! `--vocabulary 48` keeps the corpus of the bench's earlier runs (and of the
//! indexes they kept): 48 words drawn uniformly, so each word of a question
//! is in about a fifth of the answers: the lexical arm's worst case, not a
//! user's.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use crate::common::Rng;

/// The small uniform vocabulary of the earlier runs.
const SMALL: [&str; 48] = [
    "harbour",
    "library",
    "orchard",
    "bakery",
    "museum",
    "railway",
    "vineyard",
    "bridge",
    "market",
    "school",
    "river",
    "forest",
    "garden",
    "tower",
    "castle",
    "village",
    "ferry",
    "telescope",
    "statue",
    "oven",
    "train",
    "harvest",
    "map",
    "lamp",
    "opened",
    "closed",
    "renewed",
    "moved",
    "painted",
    "repaired",
    "sold",
    "built",
    "north",
    "south",
    "east",
    "west",
    "winter",
    "spring",
    "summer",
    "autumn",
    "early",
    "late",
    "quietly",
    "slowly",
    "twice",
    "again",
    "often",
    "rarely",
];

/// Where the words come from.
pub enum Words {
    /// [`SMALL`], uniformly (`--vocabulary 48`).
    Small,
    /// Words with their counts in the shared sets' text, most common first;
    /// `cumulative[i]` is the count of words `0..=i`.
    Counted {
        words: Vec<String>,
        cumulative: Vec<u64>,
    },
}

static IN_USE: OnceLock<Words> = OnceLock::new();

/// Chooses the vocabulary from the command line (`--vocabulary 48|shared`,
/// shared when not given), once, before any word is drawn.
pub fn choose(args: &[String]) {
    let asked = (args.iter().position(|a| a == "--vocabulary"))
        .and_then(|i| args.get(i + 1))
        .map_or("shared", String::as_str);
    let words = match asked {
        "48" => Words::Small,
        "shared" => {
            let sets = crate::common::repo().join("../shared/datasets");
            counted(&sets).unwrap_or_else(|e| {
                panic!(
                    "the bench's words come from the English sets in {}: {e} \
                     (`--vocabulary 48` for the small synthetic vocabulary)",
                    sets.display()
                )
            })
        }
        other => panic!("--vocabulary {other}: expected 48 or shared"),
    };
    if let Words::Counted { words, cumulative } = &words {
        println!(
            "vocabulary: {} words over {} in the shared sets' English text",
            words.len(),
            cumulative.last().copied().unwrap_or(0)
        );
    }
    assert!(IN_USE.set(words).is_ok(), "the vocabulary is chosen once");
}

fn in_use() -> &'static Words {
    IN_USE.get_or_init(|| Words::Small)
}

/// A word of a sentence.
pub fn word(rng: &mut Rng) -> &'static str {
    match in_use() {
        Words::Small => SMALL[rng.below(SMALL.len())],
        Words::Counted { words, cumulative } => {
            let total = *cumulative.last().unwrap();
            let at = rng.next() % total;
            &words[cumulative.partition_point(|&c| c <= at)]
        }
    }
}

/// The word a template question asks about (one of the first 24 of the
/// small vocabulary, its nouns; any word of the counted one).
pub fn topic(rng: &mut Rng) -> &'static str {
    match in_use() {
        Words::Small => SMALL[rng.below(24)],
        Words::Counted { .. } => word(rng),
    }
}

/// Pairs as users' corpora have them, some said twice: with the counted
/// vocabulary, one question in 50 is one asked before (an FAQ answering it
/// in two places), and one answer in 50 one given before (the same answer
/// to two questions), drawn from the last [`RECENT`] of each. The small
/// vocabulary's corpus had none (and keeps its draws as they were).
pub fn some_repeated(rng: &mut Rng, question: String, answer: String) -> (String, String) {
    if matches!(in_use(), Words::Small) {
        return (question, answer);
    }
    let mut recent = RECENT_PAIRS.lock().unwrap();
    let [questions, answers] = &mut *recent;
    let question = repeated(rng, questions, question);
    let answer = repeated(rng, answers, answer);
    (question, answer)
}

/// How many earlier questions, and answers, a repeated one is drawn from.
pub const RECENT: usize = 4096;

static RECENT_PAIRS: std::sync::Mutex<[Vec<String>; 2]> =
    std::sync::Mutex::new([Vec::new(), Vec::new()]);

/// `text`, or one in 50 times one of `recent`; `recent` keeps the texts
/// not repeated (a random one replaced once it is full).
fn repeated(rng: &mut Rng, recent: &mut Vec<String>, text: String) -> String {
    if !recent.is_empty() && rng.below(50) == 0 {
        return recent[rng.below(recent.len())].clone();
    }
    if recent.len() < RECENT {
        recent.push(text.clone());
    } else {
        let at = rng.below(RECENT);
        recent[at] = text.clone();
    }
    text
}

/// The shared sets' English texts: every string of their JSON lines (ids
/// left out; a title once per line it heads) and StackFAQ's user and
/// corpus questions, in the order the files hold them.
pub fn shared_texts(sets: &Path) -> Result<Vec<String>, String> {
    let files = [
        "wikiqa-dev/corpus.jsonl",
        "wikiqa-dev/queries.jsonl",
        "xquad-en/corpus.jsonl",
        "xquad-en/queries.jsonl",
        "stackfaq-dev/data/stackfaq.jsonl",
        "stackfaq-dev/questions.tsv",
    ];
    let mut texts = Vec::new();
    for file in files {
        let path = sets.join(file);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if file.ends_with(".tsv") {
            // question, doc (an id), corpus question; after a header.
            for line in text.lines().skip(1) {
                texts.extend(line.split('\t').step_by(2).map(str::to_string));
            }
            continue;
        }
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("{}: {e}", path.display()))?;
            strings_of(&value, &mut texts);
        }
    }
    Ok(texts)
}

/// Counts the words of [`shared_texts`].
fn counted(sets: &Path) -> Result<Words, String> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for text in shared_texts(sets)? {
        count_words(&text, &mut counts);
    }
    let mut words: Vec<(String, u64)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if words.len() < 1000 {
        return Err(format!("only {} distinct words", words.len()));
    }
    let mut total = 0;
    let cumulative = (words.iter())
        .map(|(_, n)| {
            total += n;
            total
        })
        .collect();
    let words = words.into_iter().map(|(w, _)| w).collect();
    Ok(Words::Counted { words, cumulative })
}

fn strings_of(value: &serde_json::Value, texts: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => texts.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings_of(v, texts)),
        serde_json::Value::Object(fields) => {
            for (key, v) in fields {
                if !matches!(key.as_str(), "_id" | "id" | "doc") {
                    strings_of(v, texts);
                }
            }
        }
        _ => {}
    }
}

/// Runs of ASCII letters, lower-cased (URLs and numbers fall apart into
/// their letters' runs, as a tokenizer would mostly see them).
fn count_words(text: &str, counts: &mut HashMap<String, u64>) {
    for w in text.split(|c: char| !c.is_ascii_alphabetic()) {
        if !w.is_empty() {
            *counts.entry(w.to_ascii_lowercase()).or_default() += 1;
        }
    }
}
