//! Vectors a user supplies (`--vectors-from`, an export of another index):
//! looked up by row key, and checked against the model before a build trusts
//! them.

use super::*;

/// Vectors of texts made by one model, by how each text is embedded (what
/// `qasearch export` writes, read back): a build takes them instead of
/// embedding those texts again.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownVectors {
    /// The model that made them.
    pub model: crate::model::ModelIdentity,
    /// Their dimension.
    pub dimension: usize,
    /// The file they were read from.
    pub source: std::path::PathBuf,
    map: HashMap<OwnedKey, Vec<f32>>,
}

/// How close the model's own vector for an exported text must be to the
/// exported one (the same model gives 0.9999+ on any CPU; another model's
/// vectors are unrelated, near 0).
pub const EXPORT_CHECK_MIN_COSINE: f32 = 0.99;

/// Texts of an export the model embeds again to check it made them.
pub(super) const EXPORT_CHECK_TEXTS: usize = 4;

/// A [`RowKey`] that owns its text.
pub(super) type OwnedKey = (Made, String, Option<(u32, u32)>);

impl KnownVectors {
    /// The vectors of an export.
    pub fn from_export(e: crate::indexer::export::Exported) -> KnownVectors {
        let apart = e.model.settings.roles_differ();
        let pooled = e.answer_vectors == AnswerVectors::Pooled;
        let mut map = HashMap::new();
        for t in e.texts {
            let how = match t.kind {
                Kind::Sentence if t.span.is_some() => Made::InContext,
                Kind::Question if apart => Made::AsQuery,
                Kind::Answer if pooled => Made::Pooled,
                _ => Made::Embedded,
            };
            map.insert((how, t.text, t.span), t.vector);
        }
        KnownVectors {
            model: e.model,
            dimension: e.dimension,
            source: e.source,
            map,
        }
    }

    /// Checks that `embedder`'s model made these vectors, whatever their
    /// label says: it embeds a few of their texts (drawn anew in each
    /// process, so no forged file can know which) and compares. A
    /// relabelled export of another model is refused here, naming the file.
    pub fn check_made_by(&self, embedder: &mut dyn Embedder) -> Result<()> {
        let sample: Vec<(&str, Role, &[f32])> = self
            .map
            .iter()
            .filter_map(|((how, text, span), v)| match (how, span) {
                (Made::Embedded, None) => Some((text.as_str(), Role::Passage, v.as_slice())),
                (Made::AsQuery, None) => Some((text.as_str(), Role::Query, v.as_slice())),
                _ => None,
            })
            // A HashMap's order is drawn per process.
            .take(EXPORT_CHECK_TEXTS)
            .collect();
        for (text, role, given) in sample {
            let own = embedder.embed_as(&[text], role)?;
            let own = own.first().map(Vec::as_slice).unwrap_or_default();
            let cosine: f32 = own.iter().zip(given).map(|(a, b)| a * b).sum();
            if cosine.is_nan() || cosine < EXPORT_CHECK_MIN_COSINE {
                return Err(Error::BadInput {
                    path: self.source.clone(),
                    line: None,
                    message: format!(
                        "its vectors were not made by the model {} it names: for {:?} the model gives a vector at cosine {cosine:.3} from the exported one (at least {EXPORT_CHECK_MIN_COSINE} expected); export again from an index of this model, or leave out {}",
                        self.model.id(),
                        crate::corpus::excerpt(text, 60),
                        crate::error::Setting::VectorsFrom
                    ),
                });
            }
        }
        Ok(())
    }

    /// Texts with a vector.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when it holds no vector.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(super) fn get(&self, key: RowKey<'_>) -> Option<&[f32]> {
        self.map
            .get(&(key.how, key.text.to_string(), key.span))
            .map(Vec::as_slice)
    }
}
