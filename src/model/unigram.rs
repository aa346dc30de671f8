//! SentencePiece Unigram tokenizers (multilingual-e5-small's 250,002 pieces)
//! without the `tokenizers` crate's slow vocabulary.
//!
//! That crate keeps a Unigram vocabulary in a trie with a hash map per node:
//! for e5-small it took about 1.1 s to build and 0.4 s to free, most of a
//! cold `ask`. Here the same tokenization runs in two steps:
//!
//! 1. [`Pieces::of`]: the file's own added tokens, normalizer and
//!    pre-tokenizer (run by `tokenizers`, with a one-word stand-in model),
//!    then a Viterbi over a hash map of the pieces — the algorithm of
//!    `tokenizers`' `Unigram::encode_optimized`, with its tie-breaking, its
//!    unknown-character penalty and its fusing of unknown runs — giving the
//!    text's pieces, one space between each;
//! 2. the tokenizer handed to fastembed reads those pieces with the same
//!    vocabulary as a word-level model, the file's added tokens and its
//!    post-processor (and fastembed's padding and truncation), so ids,
//!    special tokens and truncation are those of the file.
//!
//! The test `unigram_ids_equal_the_tokenizers_crate` (tests/it/embed.rs)
//! compares ids with the `tokenizers` crate's on every text of the shared
//! sets and on hostile ones.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    NormalizerWrapper, OffsetReferential, OffsetType, PreTokenizer, SplitDelimiterBehavior,
    Tokenizer,
};

use crate::model::tokenizer::LoadError;

/// Subtracted from the lowest piece score for a character no piece covers
/// (`tokenizers`' and SentencePiece's `kUnkPenalty`).
const UNK_PENALTY: f64 = 10.0;

/// A Unigram vocabulary and the steps before it.
pub struct Pieces {
    /// Added tokens, normalizer and pre-tokenizer of the file; its model is
    /// never used.
    front: Tokenizer,
    /// Piece → id (a piece listed twice keeps its last id, as `tokenizers`).
    ids: HashMap<Box<str>, u32>,
    /// Score of each id.
    scores: Vec<f64>,
    /// The longest piece, in bytes.
    longest: usize,
    min_score: f64,
    unk_id: u32,
    /// The unknown piece's text.
    unk: Box<str>,
    /// The added tokens' texts (every reader's vocabulary has them).
    specials: Vec<String>,
}

impl std::fmt::Debug for Pieces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pieces")
            .field("pieces", &self.scores.len())
            .finish()
    }
}

/// What kind of model a tokenizer.json holds.
#[derive(Deserialize)]
struct FileKind {
    model: ModelKind,
}

#[derive(Deserialize)]
struct ModelKind {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    byte_fallback: bool,
    #[serde(default)]
    unk_id: Option<usize>,
}

/// A Unigram tokenizer.json: the vocabulary as pieces with scores, the rest
/// as it is.
#[derive(Deserialize)]
struct UnigramFile {
    model: UnigramModel,
    #[serde(default)]
    version: Value,
    #[serde(default)]
    truncation: Value,
    #[serde(default)]
    padding: Value,
    #[serde(default)]
    added_tokens: Value,
    #[serde(default)]
    normalizer: Value,
    #[serde(default)]
    pre_tokenizer: Value,
    #[serde(default)]
    post_processor: Value,
    #[serde(default)]
    decoder: Value,
}

#[derive(Deserialize)]
struct UnigramModel {
    vocab: Vec<(String, f64)>,
}

/// A Unigram `tokenizer.json` split in two: the pieces, and the word-level
/// tokenizer over them for fastembed (its padding, truncation and the special
/// tokens of `special_tokens_map.json` still to be set, as for any
/// tokenizer). `None`: not a Unigram tokenizer this module reads (another
/// model, or byte fallback): load it whole.
pub fn split(tokenizer_json: &[u8]) -> Result<Option<(Pieces, Tokenizer)>, LoadError> {
    let invalid = |e: serde_json::Error| format!("tokenizer.json is not valid JSON: {e}");
    // Typed reads: a `Value` of 250,000 small lists allocates and frees far
    // more than the pieces themselves.
    let kind: FileKind = serde_json::from_slice(tokenizer_json).map_err(invalid)?;
    if kind.model.kind != "Unigram" || kind.model.byte_fallback || kind.model.unk_id.is_none() {
        return Ok(None);
    }
    let file: UnigramFile = serde_json::from_slice(tokenizer_json).map_err(invalid)?;
    let unk_id = kind.model.unk_id.unwrap_or_default();
    let mut ids: HashMap<Box<str>, u32> = HashMap::with_capacity(file.model.vocab.len());
    let mut scores = Vec::with_capacity(file.model.vocab.len());
    let mut longest = 0;
    let mut min_score = f64::INFINITY;
    let mut unk_token = None;
    for (i, (piece, score)) in file.model.vocab.into_iter().enumerate() {
        if i == unk_id {
            unk_token = Some(piece.clone());
        }
        longest = longest.max(piece.len());
        min_score = min_score.min(score);
        scores.push(score);
        ids.insert(piece.into_boxed_str(), i as u32);
    }
    let mut root = serde_json::json!({
        "version": file.version, "truncation": file.truncation, "padding": file.padding,
        "added_tokens": file.added_tokens, "normalizer": file.normalizer,
        "pre_tokenizer": file.pre_tokenizer, "post_processor": file.post_processor,
        "decoder": file.decoder,
    });
    let unk = unk_id;
    let unk_token =
        unk_token.ok_or("tokenizer.json: the Unigram model's `unk_id` is not in its vocabulary")?;
    let added = added_tokens(&root["added_tokens"])?;
    let mut pieces = Pieces {
        front: Tokenizer::new(tokenizers::models::wordlevel::WordLevel::default()),
        ids,
        scores,
        longest,
        min_score,
        unk_id: unk as u32,
        unk: unk_token.clone().into_boxed_str(),
        specials: added.iter().map(|t| t.content.clone()).collect(),
    };

    // The file without its vocabulary: a one-word model in its place.
    root["model"] = serde_json::json!({
        "type": "WordLevel", "vocab": {unk_token.as_str(): unk}, "unk_token": unk_token,
    });
    let unreadable = |e: serde_json::Error| format!("tokenizer.json cannot be read: {e}");
    pieces.front = serde_json::from_value(root.clone()).map_err(unreadable)?;
    // The reader's added tokens take their ids from the vocabulary, as in the
    // file's own tokenizer: added once a model with them is in place.
    root["added_tokens"] = Value::Array(Vec::new());
    let mut reader: Tokenizer = serde_json::from_value(root).map_err(unreadable)?;
    reader
        .with_model(pieces.words(std::iter::empty())?)
        .with_normalizer(None::<NormalizerWrapper>)
        .map_err(|e| e.to_string())?
        .with_pre_tokenizer(Some(
            Split::new(
                SplitPattern::String(" ".into()),
                SplitDelimiterBehavior::Removed,
                false,
            )
            .map_err(|e| e.to_string())?,
        ))
        .add_tokens(added)
        .map_err(|e| e.to_string())?;
    Ok(Some((pieces, reader)))
}

/// The `added_tokens` of a tokenizer.json, in order.
fn added_tokens(list: &Value) -> Result<Vec<tokenizers::AddedToken>, LoadError> {
    let Some(list) = list.as_array() else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|t| {
            let flag = |name: &str| t[name].as_bool().unwrap_or(false);
            let special = flag("special");
            Ok(tokenizers::AddedToken {
                content: t["content"]
                    .as_str()
                    .ok_or("tokenizer.json: an added token has no `content`")?
                    .to_string(),
                single_word: flag("single_word"),
                lstrip: flag("lstrip"),
                rstrip: flag("rstrip"),
                // As `tokenizers` reads an added token without the field.
                normalized: t["normalized"].as_bool().unwrap_or(!special),
                special,
            })
        })
        .collect()
}

impl Pieces {
    /// Adds the special tokens also given to the reader (those of
    /// `special_tokens_map.json`), so that both split a text alike.
    pub fn add_special_tokens(&mut self, tokens: &[tokenizers::AddedToken]) -> Result<(), String> {
        self.front
            .add_special_tokens(tokens.iter().cloned())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// A word-level model over `pieces` (those of the texts about to be
    /// read), the added tokens and the unknown piece, each with its id. The
    /// reader needs no more: built per batch, it costs microseconds, where
    /// the whole vocabulary as a word-level model took 0.2–0.3 s to build.
    pub fn words<'a>(
        &self,
        pieces: impl Iterator<Item = &'a str>,
    ) -> Result<tokenizers::models::wordlevel::WordLevel, String> {
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut add = |piece: &str| {
            if let Some(&id) = self.ids.get(piece) {
                if !vocab.contains_key(piece) {
                    vocab.insert(piece.to_string(), id);
                }
            }
        };
        self.specials.iter().for_each(|s| add(s));
        add(&self.unk);
        pieces.for_each(add);
        tokenizers::models::wordlevel::WordLevel::builder()
            .vocab(vocab.into_iter().collect())
            .unk_token(self.unk.to_string())
            .build()
            .map_err(|e| e.to_string())
    }

    /// Makes `reader` read `texts` (outputs of [`Pieces::of`]): its model
    /// becomes [`Pieces::words`] of their pieces.
    pub fn prepare(&self, reader: &mut Tokenizer, texts: &[String]) -> Result<(), String> {
        let words = self.words(texts.iter().flat_map(|t| t.split(' ')))?;
        reader.with_model(words);
        Ok(())
    }

    /// The pieces of `text`, one space between each, for the reader.
    pub fn of(&self, text: &str) -> Result<String, String> {
        let mut pre = self
            .front
            .get_added_vocabulary()
            .extract_and_normalize(self.front.get_normalizer(), text);
        if let Some(p) = self.front.get_pre_tokenizer() {
            p.pre_tokenize(&mut pre).map_err(|e| e.to_string())?;
        }
        let mut out = String::with_capacity(text.len() * 2);
        let mut push = |piece: &str| {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(piece);
        };
        for (split, _, tokens) in pre.get_splits(OffsetReferential::Original, OffsetType::None) {
            match tokens {
                Some(tokens) => tokens.iter().for_each(|t| push(&t.value)),
                None => {
                    for piece in self.encode(split) {
                        push(piece);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The best segmentation of `s` into pieces (as `tokenizers`'
    /// `Unigram::encode_optimized` and `tokenize`): the unknown piece for
    /// runs no piece covers.
    fn encode<'a>(&'a self, s: &'a str) -> Vec<&'a str> {
        #[derive(Clone, Copy)]
        struct Best {
            id: u32,
            score: f64,
            from: Option<usize>,
        }
        let n = s.len();
        let unk_score = self.min_score - UNK_PENALTY;
        let mut best = vec![
            Best {
                id: 0,
                score: 0.0,
                from: None
            };
            n + 1
        ];
        let mut at = 0;
        while at < n {
            let here = best[at].score;
            let first = s[at..].chars().next().map_or(1, char::len_utf8);
            let mut single = false;
            // Every piece starting here, shortest first (the trie's order).
            let ends = s[at..]
                .char_indices()
                .skip(1)
                .map(|(i, _)| at + i)
                .chain(std::iter::once(n))
                .take_while(|&end| end - at <= self.longest);
            for end in ends {
                let Some(&id) = self.ids.get(&s[at..end]) else {
                    continue;
                };
                let score = here + self.scores[id as usize];
                let target = &mut best[end];
                if target.from.is_none() || score > target.score {
                    *target = Best {
                        id,
                        score,
                        from: Some(at),
                    };
                }
                single |= end - at == first;
            }
            if !single {
                let score = here + unk_score;
                let target = &mut best[at + first];
                if target.from.is_none() || score > target.score {
                    *target = Best {
                        id: self.unk_id,
                        score,
                        from: Some(at),
                    };
                }
            }
            at += first;
        }
        // Back from the end; a run of unknown pieces is one piece.
        let mut out: Vec<&str> = Vec::new();
        let (mut end, mut unknown_from) = (n, None::<usize>);
        let unknown = |from: usize, to: usize| -> &str {
            let text = &s[from..to];
            if self.ids.contains_key(text) {
                text
            } else {
                &self.unk
            }
        };
        let mut unknown_to = n;
        while end > 0 {
            let node = best[end];
            let from = node.from.unwrap_or(0);
            if node.id == self.unk_id {
                if unknown_from.is_none() {
                    unknown_to = end;
                }
                unknown_from = Some(from);
            } else {
                if let Some(u) = unknown_from.take() {
                    out.push(unknown(u, unknown_to));
                }
                out.push(&s[from..end]);
            }
            end = from;
        }
        if let Some(u) = unknown_from {
            out.push(unknown(u, unknown_to));
        }
        out.reverse();
        out
    }
}
