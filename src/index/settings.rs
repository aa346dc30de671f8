//! The retrieval settings an index records: how much the lexical arm may
//! add in fusion, and the score below which `ask` abstains. Plain data owned
//! here, below the store that records them ([`crate::store::Manifest`]) and
//! the search that applies them ([`crate::search::fuse`]).

use serde::{Deserialize, Serialize};

/// Fusion settings, stored in the manifest (calibrated at index time where
/// the corpus has stored questions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusionParams {
    /// The most the lexical arm can add to a pair's score.
    pub lexical_weight: f32,
    /// The BM25 score from which the lexical arm has its full weight.
    pub lexical_saturation: f32,
    /// How much a pair's other dense view counts: its dense score is
    /// `(1 − a) · max(answers, questions) + a · min(answers, questions)`.
    /// 0 (the best view alone) for one model; the quality preset's mixed
    /// cosines rate a stored question of another pair's template higher
    /// than either model does, and 0.2 lets the answer have a say
    /// (docs/search.md, "Fusion"). Absent in indexes before it: 0.
    #[serde(default)]
    pub view_agreement: f32,
    /// The most the sparse arm (an index built with `--sparse`) adds to a
    /// pair's score, scaled by its share of the question's best sparse
    /// score. Absent in indexes before it: 0.
    #[serde(default)]
    pub sparse_weight: f32,
    /// The sparse arm's lead (its best pair over the second, as a share of
    /// the best) from which it has its full weight (see
    /// [`crate::search::fuse`]). Absent in indexes before it: 0.2.
    #[serde(default = "default_sparse_lead")]
    pub sparse_lead: f32,
    /// How the values were chosen: "default" or "calibrated".
    pub source: String,
}

impl FusionParams {
    /// The most a pair can score: a perfect cosine with the lexical arm's
    /// full weight (and the sparse arm's, when the index has one). Scores
    /// are shown as a share of it ([`FusionParams::shown`]).
    pub fn ceiling(&self, sparse: bool) -> f32 {
        let sparse = if sparse {
            self.sparse_weight.max(0.0)
        } else {
            0.0
        };
        1.0 + self.lexical_weight.max(0.0) + sparse
    }

    /// A fused score (or threshold) on the scale results are shown on: 0 to
    /// 1, higher is better, the share of [`FusionParams::ceiling`]. The
    /// order of pairs and abstention are the same on either scale.
    pub fn shown(&self, raw: f32, sparse: bool) -> f32 {
        (raw / self.ceiling(sparse)).clamp(0.0, 1.0)
    }

    /// A threshold given on the shown scale (`--min-score`), as a fused score.
    pub fn raw_threshold(&self, shown: f32, sparse: bool) -> f32 {
        shown * self.ceiling(sparse)
    }
}

fn default_sparse_lead() -> f32 {
    crate::model::MINILM_DEFAULTS.sparse_lead
}

impl Default for FusionParams {
    /// Chosen on xquad-en, wikiqa-dev and xquad-de-para together (docs/search.md,
    /// "Fusion"): 0.2 and 20.
    fn default() -> Self {
        FusionParams {
            lexical_weight: 0.2,
            lexical_saturation: 20.0,
            view_agreement: 0.0,
            sparse_weight: crate::model::MINILM_DEFAULTS.sparse_weight,
            sparse_lead: crate::model::MINILM_DEFAULTS.sparse_lead,
            source: "default".into(),
        }
    }
}

/// When `ask` says it has no confident answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Abstention {
    /// The least fused score of a confident answer.
    pub min_score: f32,
    /// How it was chosen: "default" or "calibrated".
    pub source: String,
}

impl Default for Abstention {
    /// See docs/search.md, "Abstention".
    fn default() -> Self {
        Abstention {
            min_score: DEFAULT_MIN_SCORE,
            source: "default".into(),
        }
    }
}

/// The default threshold of a confident answer (docs/search.md, "Abstention").
pub const DEFAULT_MIN_SCORE: f32 = 0.45;

/// The fusion and abstention settings a new index starts from: those fitted
/// to its model's scores (a model not in the catalogue gets MiniLM's).
pub fn model_defaults(identity: &crate::model::ModelIdentity) -> (FusionParams, Abstention) {
    let (d, source) = match crate::model::catalogued(identity) {
        Some(m) => (m.defaults, format!("default for {}", m.name)),
        None => (
            crate::model::MINILM_DEFAULTS,
            "default (the model is not in the catalogue: all-MiniLM-L6-v2's)".to_string(),
        ),
    };
    (
        FusionParams {
            lexical_weight: d.lexical_weight,
            lexical_saturation: d.lexical_saturation,
            view_agreement: d.view_agreement,
            sparse_weight: d.sparse_weight,
            sparse_lead: d.sparse_lead,
            source: source.clone(),
        },
        Abstention {
            min_score: d.min_score,
            source,
        },
    )
}
