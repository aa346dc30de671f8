//! The model's tokenizer, loaded on its own thread while the runtime session
//! is made (see [`crate::model::embed::OnnxEmbedder::load`]).
//!
//! fastembed 7.7.0 loads the tokenizer after the session, one after the
//! other, and keeps its loader private; [`load`] configures the tokenizer
//! exactly as fastembed's `load_tokenizer` does (padding to the longest text
//! of a batch with the configured pad token, truncation at the model's
//! window, the special tokens of `special_tokens_map.json`), and the
//! end-to-end test `embed_parallel_load_matches_fastembed` checks that the
//! vectors are identical to those of fastembed's own loading.

use serde_json::Value;
use tokenizers::{AddedToken, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::model::unigram::Pieces;

/// Why the tokenizer could not be loaded.
pub type LoadError = String;

fn json(bytes: &[u8], name: &str) -> Result<Value, LoadError> {
    serde_json::from_slice(bytes).map_err(|e| format!("{name} is not valid JSON: {e}"))
}

/// The tokenizer of `files`, reading at most `max_length` tokens, and for a
/// SentencePiece Unigram vocabulary the [`Pieces`] step that comes before it
/// (see [`crate::model::unigram`]: the tokenizer then reads pieces).
pub fn load(
    files: &fastembed::TokenizerFiles,
    max_length: usize,
) -> Result<(Tokenizer, Option<Pieces>), LoadError> {
    configured(files, max_length, false)
}

/// The tokenizer of `files` as the `tokenizers` crate alone reads it (for a
/// Unigram vocabulary, slowly): the reference [`load`] is checked against.
pub fn load_whole(
    files: &fastembed::TokenizerFiles,
    max_length: usize,
) -> Result<Tokenizer, LoadError> {
    configured(files, max_length, true).map(|(t, _)| t)
}

fn configured(
    files: &fastembed::TokenizerFiles,
    max_length: usize,
    whole: bool,
) -> Result<(Tokenizer, Option<Pieces>), LoadError> {
    let config = json(&files.config_file, "config.json")?;
    let special_tokens_map = json(&files.special_tokens_map_file, "special_tokens_map.json")?;
    let tokenizer_config = json(&files.tokenizer_config_file, "tokenizer_config.json")?;
    let split = if whole {
        None
    } else {
        crate::model::unigram::split(&files.tokenizer_file)?
    };
    let (mut tokenizer, mut pieces) = match split {
        Some((pieces, reader)) => (reader, Some(pieces)),
        None => (
            Tokenizer::from_bytes(&files.tokenizer_file)
                .map_err(|e| format!("tokenizer.json cannot be read: {e}"))?,
            None,
        ),
    };
    let model_max_length = tokenizer_config["model_max_length"]
        .as_f64()
        .ok_or("tokenizer_config.json is missing a numeric `model_max_length` field")?
        as f32;
    let max_length = max_length.min(model_max_length as usize);
    let pad_token_value = &tokenizer_config["pad_token"];
    let pad_token: String = pad_token_value
        .as_str()
        .or_else(|| pad_token_value["content"].as_str())
        .ok_or("tokenizer_config.json is missing a string `pad_token` field")?
        .into();
    let pad_id = config["pad_token_id"]
        .as_u64()
        .map(|id| id as u32)
        .or_else(|| tokenizer.token_to_id(&pad_token))
        .unwrap_or(0);
    tokenizer
        .with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_token,
            pad_id,
            ..Default::default()
        }))
        .with_truncation(Some(TruncationParams {
            max_length,
            ..Default::default()
        }))
        .map_err(|e| e.to_string())?;
    if let (Some(p), Value::Object(root)) = (&pieces, &special_tokens_map) {
        // The reader's model must know the special tokens' ids when they are added.
        let contents = root
            .values()
            .filter_map(|v| v.as_str().or_else(|| v["content"].as_str()));
        tokenizer.with_model(p.words(contents)?);
    }
    if let Value::Object(root) = special_tokens_map {
        for value in root.values() {
            let token = special_token(value);
            if let Some(token) = token {
                if let Some(p) = &mut pieces {
                    p.add_special_tokens(std::slice::from_ref(&token))?;
                }
                tokenizer
                    .add_special_tokens([token])
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok((tokenizer, pieces))
}

/// A special token as `special_tokens_map.json` gives it: a string, or an
/// object with all its flags (anything else is not one).
fn special_token(value: &Value) -> Option<AddedToken> {
    match value {
        Value::String(content) => Some(AddedToken {
            content: content.clone(),
            special: true,
            ..Default::default()
        }),
        Value::Object(_) => match (
            value["content"].as_str(),
            value["single_word"].as_bool(),
            value["lstrip"].as_bool(),
            value["rstrip"].as_bool(),
            value["normalized"].as_bool(),
        ) {
            (Some(content), Some(single_word), Some(lstrip), Some(rstrip), Some(normalized)) => {
                Some(AddedToken {
                    content: content.into(),
                    special: true,
                    single_word,
                    lstrip,
                    rstrip,
                    normalized,
                })
            }
            _ => None,
        },
        _ => None,
    }
}

/// A tokenizer that parses in microseconds, for fastembed to load while the
/// real one loads elsewhere; it is replaced before any text is embedded.
pub fn stand_in() -> fastembed::TokenizerFiles {
    fastembed::TokenizerFiles {
        tokenizer_file: br#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,"model":{"type":"WordLevel","unk_token":"[UNK]","vocab":{"[UNK]":0,"[PAD]":1}}}"#.to_vec(),
        config_file: br#"{"pad_token_id": 1}"#.to_vec(),
        special_tokens_map_file: b"{}".to_vec(),
        tokenizer_config_file: br#"{"model_max_length": 512, "pad_token": "[PAD]"}"#.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stand_in_loads_and_bad_files_are_errors_not_panics() {
        let (t, pieces) = load(&stand_in(), 256).unwrap();
        assert!(pieces.is_none());
        assert_eq!(t.get_vocab_size(true), 2);
        let mut bad = stand_in();
        bad.tokenizer_config_file = b"{}".to_vec();
        assert!(load(&bad, 256).unwrap_err().contains("model_max_length"));
        let mut bad = stand_in();
        bad.tokenizer_file = b"not json".to_vec();
        assert!(load(&bad, 256).is_err());
    }
}

/// How many of a corpus's words a model's vocabulary holds whole: the
/// words (two letters or more) its tokenizer read, and those it had to
/// split into pieces. An English model splits 3–8% of the words of the
/// English shared sets and 59% of xquad-de-para's German (docs/search.md,
/// "Corpora in a language the model reads poorly").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Familiarity {
    /// Words read.
    pub words: usize,
    /// Of those, the words split into more than one token.
    pub split: usize,
}

impl Familiarity {
    /// The share of words split (0 when there were none).
    pub fn split_share(&self) -> f64 {
        if self.words == 0 {
            0.0
        } else {
            self.split as f64 / self.words as f64
        }
    }
}

/// Counts the words of `texts` that `tokenizer` splits (what it reads of
/// each: its truncation applies). A word is what the tokenizer's
/// pre-tokenizer makes one, counted when it is letters only and at least
/// two of them (numbers and punctuation say nothing about a language).
pub fn familiarity(tokenizer: &Tokenizer, texts: &[&str]) -> Result<Familiarity, LoadError> {
    let mut count = Familiarity::default();
    for text in texts {
        let encoding = tokenizer
            .encode(*text, false)
            .map_err(|e| format!("cannot tokenize: {e}"))?;
        let (ids, offsets) = (encoding.get_word_ids(), encoding.get_offsets());
        let mut i = 0;
        while i < ids.len() {
            let Some(word) = ids[i] else {
                i += 1;
                continue;
            };
            let mut end = i + 1;
            while end < ids.len() && ids[end] == Some(word) {
                end += 1;
            }
            let (from, to) = (offsets[i].0, offsets[end - 1].1);
            let letters = text.get(from..to).unwrap_or("");
            if letters.chars().count() >= 2 && letters.chars().all(char::is_alphabetic) {
                count.words += 1;
                count.split += usize::from(end - i > 1);
            }
            i = end;
        }
    }
    Ok(count)
}
