//! [`HashEmbedder`]: a model stand-in for tests, examples and benches.

use super::embed::*;
use super::ModelIdentity;
use crate::error::Result;

/// A deterministic stand-in: each lowercase word hashes to a few coordinates.
///
/// Texts sharing words get similar vectors, so it behaves like a crude
/// lexical model. For tests and examples only; it knows nothing of meaning.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    pub(crate) identity: ModelIdentity,
}

impl HashEmbedder {
    /// A hash embedder of `dimension` floats.
    pub fn new(dimension: usize) -> Self {
        HashEmbedder {
            identity: ModelIdentity {
                settings: crate::model::ModelSettings {
                    name: "hash-bag-of-words".into(),
                    dimension,
                    pooling: "sum".into(),
                    max_length: 0,
                    query_prefix: String::new(),
                    passage_prefix: String::new(),
                },
                onnx_sha256: "0".repeat(64),
                tokenizer_sha256: "0".repeat(64),
                int8_runtime_sha256: String::new(),
                int8_cpu: String::new(),
            },
        }
    }

    /// The same with role prefixes, as a model with conventions (e5) has:
    /// its prefixes are words, so they change the vectors.
    pub fn with_prefixes(mut self, query: &str, passage: &str) -> Self {
        self.identity.settings.query_prefix = query.into();
        self.identity.settings.passage_prefix = passage.into();
        self
    }

    /// Embeds one text.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let dim = self.identity.settings.dimension;
        let mut v = vec![0f32; dim];
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let w = word.to_lowercase();
            let mut h: u64 = 0xcbf29ce484222325;
            for b in w.bytes() {
                h = (h ^ b as u64).wrapping_mul(0x100000001b3);
            }
            for k in 0..2 {
                let hk = h.rotate_left(17 * k).wrapping_mul(0x9e3779b97f4a7c15);
                let sign = if hk >> 63 == 0 { 1.0 } else { -1.0 };
                v[(hk % dim as u64) as usize] += sign;
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            v[0] = 1.0;
        }
        v
    }
}

impl Embedder for HashEmbedder {
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }

    fn reads_in_context(&self) -> bool {
        true
    }

    /// A span read in context is the span's words and the passage's words
    /// together (a word counts as a token for the limit).
    fn embed_in_context(
        &mut self,
        texts: &[&str],
        spans: &[Vec<(usize, usize)>],
    ) -> Result<Vec<InContext>> {
        let prefix = self.identity.settings.prefix(Role::Passage).to_string();
        Ok(read_in_context(texts, spans, &prefix, &|t| self.vector(t)))
    }

    fn dimension(&self) -> usize {
        self.identity.settings.dimension
    }

    fn identity(&self) -> &ModelIdentity {
        &self.identity
    }
}

/// Passages read "in context" by a stand-in whose vector of a text is
/// `vector`: the whole passage is its prefix and text, and each span is a
/// text of its own, the span's words then the whole's (none for a span of
/// blanks, or of a passage of more than [`IN_CONTEXT_MAX_TOKENS`] words).
/// The hash embedder's, and the update bench's embedder's.
pub fn read_in_context(
    texts: &[&str],
    spans: &[Vec<(usize, usize)>],
    prefix: &str,
    vector: &dyn Fn(&str) -> Vec<f32>,
) -> Vec<InContext> {
    texts
        .iter()
        .zip(spans)
        .map(|(text, spans)| {
            let whole = format!("{prefix}{text}");
            let long = whole.split_whitespace().count() > IN_CONTEXT_MAX_TOKENS;
            InContext {
                whole: vector(&whole),
                spans: spans
                    .iter()
                    .map(|&(a, b)| {
                        let span = text.get(a..b)?;
                        (!long && !span.trim().is_empty())
                            .then(|| vector(&format!("{span} {whole}")))
                    })
                    .collect(),
            }
        })
        .collect()
}
