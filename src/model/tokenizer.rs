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
