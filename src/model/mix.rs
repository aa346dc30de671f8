//! Several models as one (the quality preset, `--model minilm+e5`).
//!
//! Each text is read by every model; their unit vectors, each scaled by the
//! square root of its weight, are laid end to end. The weights sum to 1, so
//! the result is a unit vector again, and the dot product of two such
//! vectors is the weighted sum of the models' cosines:
//! `⟨√w·a₁ ‖ √(1−w)·b₁, √w·a₂ ‖ √(1−w)·b₂⟩ = w·cos(a) + (1−w)·cos(b)`.
//! Everything after the embedder (the graph, the views, fusion, the stores)
//! sees one model of the summed dimension; nothing else needs to know.
//!
//! [`Mix`] of one model at weight 1 is that model, vector for vector (the
//! vectors are multiplied by 1.0): the binary loads every model this way.

use sha2::{Digest, Sha256};

use crate::corpus::hex;
use crate::error::{Error, ModelFix, Result};
use crate::model::embed::{Embedder, InContext, OnnxEmbedder, Role, Workload};
use crate::model::tokenizer::Familiarity;
use crate::model::{ModelFiles, ModelIdentity, ModelInfo, ModelSettings};

/// What a mix's `onnx_sha256` starts with: a mix has no file of its own,
/// and no SHA-256 in hex starts so (see [`crate::model::catalogued`]).
pub const MIX_TAG: &str = "mix:";

/// The identity of a mix: its catalogue name, the summed dimension, and a
/// hash of its models' identities and weights in order (another model,
/// weight or order is another identity, so an index is never asked with
/// vectors of another mix).
pub fn identity(info: &ModelInfo, parts: &[(&ModelIdentity, f32)]) -> ModelIdentity {
    let mut model = Sha256::new();
    let mut tokenizer = Sha256::new();
    for (p, w) in parts {
        model.update(format!("{}\u{0}{w}\u{0}", p.id()).as_bytes());
        tokenizer.update(format!("{}\u{0}", p.tokenizer_sha256).as_bytes());
    }
    ModelIdentity {
        settings: ModelSettings {
            name: info.name.to_string(),
            dimension: parts.iter().map(|(p, _)| p.settings.dimension).sum(),
            pooling: "mean".into(),
            max_length: parts
                .iter()
                .map(|(p, _)| p.settings.max_length)
                .max()
                .unwrap_or(0),
            // Each model puts its own prefix; these say that a question and
            // a passage are read differently (some part has prefixes).
            query_prefix: info.query_prefix.into(),
            passage_prefix: info.passage_prefix.into(),
        },
        onnx_sha256: format!("{MIX_TAG}{}", hex(&model.finalize())),
        tokenizer_sha256: hex(&tokenizer.finalize()),
        int8_runtime_sha256: parts
            .iter()
            .map(|(p, _)| p.int8_runtime_sha256.as_str())
            .find(|s| !s.is_empty())
            .unwrap_or_default()
            .to_string(),
        int8_cpu: parts
            .iter()
            .map(|(p, _)| p.int8_cpu.as_str())
            .find(|s| !s.is_empty())
            .unwrap_or_default()
            .to_string(),
    }
}

/// A mix's files name its first model's: loading them as one model would
/// run that model under the mix's identity.
pub(crate) fn refuse_mix(files: &ModelFiles) -> Result<()> {
    match files.parts.is_empty() {
        true => Ok(()),
        false => Err(Error::Model {
            fix: ModelFix::None,
            message: format!(
                "{} is a mix of models: load it with model::mix::Mix::load",
                files.identity.settings.name
            ),
        }),
    }
}

/// Models read together: see the module documentation.
pub struct Mix<E = OnnxEmbedder> {
    parts: Vec<(E, f32)>,
    identity: ModelIdentity,
}

/// The model the binary embeds with: one model, or the models of a mix.
pub type ModelEmbedder = Mix<OnnxEmbedder>;

impl<E> std::fmt::Debug for Mix<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mix")
            .field("identity", &self.identity.id())
            .field(
                "weights",
                &self.parts.iter().map(|p| p.1).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Mix<OnnxEmbedder> {
    /// Loads the model of `files`, or each model of a mix.
    pub fn load(files: &ModelFiles, threads: Option<usize>, workload: Workload) -> Result<Self> {
        if files.parts.is_empty() {
            let one = OnnxEmbedder::load(files, threads, workload)?;
            return Mix::new(vec![(one, 1.0)], files.identity.clone());
        }
        let workload = without_spinning(workload);
        let parts = files
            .parts
            .iter()
            .map(|(f, w)| Ok((OnnxEmbedder::load(f, threads, workload)?, *w)))
            .collect::<Result<Vec<_>>>()?;
        Mix::new(parts, files.identity.clone())
    }

    /// Another session of the same models (a server's second core), each
    /// copying its tokenizer from this one's.
    pub fn another(
        &self,
        files: &ModelFiles,
        threads: Option<usize>,
        workload: Workload,
    ) -> Result<Self> {
        let one = [(files.clone(), 1.0)];
        let (file_parts, workload): (&[(ModelFiles, f32)], _) = match files.parts.is_empty() {
            true => (&one, workload),
            false => (&files.parts, without_spinning(workload)),
        };
        let parts = self
            .parts
            .iter()
            .zip(file_parts)
            .map(|((e, w), (f, _))| Ok((e.another(f, threads, workload)?, *w)))
            .collect::<Result<Vec<_>>>()?;
        Mix::new(parts, files.identity.clone())
    }
}

/// The workload a mix's models run with: never spinning. A session's
/// threads spin for a while after each call, to answer the next one sooner;
/// two sessions in one process then take turns stealing each other's cores
/// (a question took 42 ms with the mix against 6 + 17 ms for its models
/// apart, 2 cores; without spinning 24–27 ms).
fn without_spinning(_: Workload) -> Workload {
    Workload::Bulk
}

impl<E: Embedder> Mix<E> {
    /// Models and their weights (positive, summing to 1), as `identity`.
    pub fn new(parts: Vec<(E, f32)>, identity: ModelIdentity) -> Result<Self> {
        let sum: f32 = parts.iter().map(|p| p.1).sum();
        let dimension: usize = parts.iter().map(|p| p.0.dimension()).sum();
        if parts.is_empty() || parts.iter().any(|p| p.1 <= 0.0) || (sum - 1.0).abs() > 1e-4 {
            return Err(Error::Embed(format!(
                "a mix of models needs positive weights summing to 1, got {:?}",
                parts.iter().map(|p| p.1).collect::<Vec<_>>()
            )));
        }
        if dimension != identity.settings.dimension {
            return Err(Error::Embed(format!(
                "the mixed models give {dimension}-d vectors, but {} says {}",
                identity.settings.name, identity.settings.dimension
            )));
        }
        Ok(Mix { parts, identity })
    }

    /// Lays each model's vectors end to end, scaled by √weight.
    fn join(&self, each: Vec<Vec<Vec<f32>>>, n: usize) -> Result<Vec<Vec<f32>>> {
        let mut out = vec![Vec::with_capacity(self.identity.settings.dimension); n];
        for ((e, w), vectors) in self.parts.iter().zip(each) {
            if vectors.len() != n {
                return Err(Error::Embed(format!(
                    "{} returned {} vectors for {n} texts",
                    e.identity().settings.name,
                    vectors.len()
                )));
            }
            let scale = w.sqrt();
            for (o, v) in out.iter_mut().zip(vectors) {
                o.extend(v.into_iter().map(|x| x * scale));
            }
        }
        Ok(out)
    }
}

impl<E: Embedder> Embedder for Mix<E> {
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let each = self
            .parts
            .iter_mut()
            .map(|(e, _)| e.embed_batch(texts))
            .collect::<Result<Vec<_>>>()?;
        self.join(each, texts.len())
    }

    /// Each model with its own prefix for `role`.
    fn embed_as(&mut self, texts: &[&str], role: Role) -> Result<Vec<Vec<f32>>> {
        let each = self
            .parts
            .iter_mut()
            .map(|(e, _)| e.embed_as(texts, role))
            .collect::<Result<Vec<_>>>()?;
        self.join(each, texts.len())
    }

    /// As the first model does: the others read each span alone.
    fn reads_in_context(&self) -> bool {
        self.parts[0].0.reads_in_context()
    }

    /// The first model reads the spans in context; the others read the
    /// whole passages and, alone, the spans the first one gave vectors.
    fn embed_in_context(
        &mut self,
        texts: &[&str],
        spans: &[Vec<(usize, usize)>],
    ) -> Result<Vec<InContext>> {
        let (first, rest) = self.parts.split_first_mut().expect("invariant: a part");
        let mut read = first.0.embed_in_context(texts, spans)?;
        if rest.is_empty() {
            return Ok(read);
        }
        // The spans the first model gave a vector, as (text, span) indexes.
        let mut wanted = Vec::new();
        for (t, r) in read.iter().enumerate() {
            for (s, v) in r.spans.iter().enumerate() {
                if v.is_some() {
                    wanted.push((t, s));
                }
            }
        }
        let span_texts: Vec<&str> = wanted
            .iter()
            .map(|&(t, s)| {
                let (a, b) = spans[t][s];
                texts[t].get(a..b).unwrap_or_default()
            })
            .collect();
        let scale = first.1.sqrt();
        for r in &mut read {
            r.whole.iter_mut().for_each(|x| *x *= scale);
            for v in r.spans.iter_mut().flatten() {
                v.iter_mut().for_each(|x| *x *= scale);
            }
        }
        for (e, w) in rest.iter_mut() {
            let scale = w.sqrt();
            let wholes = e.embed_as(texts, Role::Passage)?;
            let alone = e.embed_as(&span_texts, Role::Passage)?;
            if wholes.len() != texts.len() || alone.len() != span_texts.len() {
                return Err(Error::Embed(format!(
                    "{} returned too few vectors",
                    e.identity().settings.name
                )));
            }
            for (r, v) in read.iter_mut().zip(wholes) {
                r.whole.extend(v.into_iter().map(|x| x * scale));
            }
            for (&(t, s), v) in wanted.iter().zip(alone) {
                if let Some(out) = read[t].spans[s].as_mut() {
                    out.extend(v.into_iter().map(|x| x * scale));
                }
            }
        }
        Ok(read)
    }

    fn dimension(&self) -> usize {
        self.identity.settings.dimension
    }

    fn identity(&self) -> &ModelIdentity {
        &self.identity
    }

    /// The part that reads the corpus worst speaks for the mix (of those
    /// with a word vocabulary): its share of every cosine is noise there,
    /// whatever the others read. For the quality preset, MiniLM's.
    fn familiarity(&self, texts: &[&str]) -> Result<Option<Familiarity>> {
        let mut worst: Option<Familiarity> = None;
        for (e, _) in &self.parts {
            if let Some(f) = e.familiarity(texts)? {
                if worst.is_none_or(|w| f.split_share() > w.split_share()) {
                    worst = Some(f);
                }
            }
        }
        Ok(worst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::embed::HashEmbedder;
    use crate::model::vector::dot;

    fn mix() -> Mix<HashEmbedder> {
        let a = HashEmbedder::new(32);
        let b = HashEmbedder::new(48).with_prefixes("query: ", "passage: ");
        let info = crate::model::MODELS
            .iter()
            .find(|m| !m.parts.is_empty())
            .expect("a mix in the catalogue");
        let id = identity(info, &[(a.identity(), 0.3), (b.identity(), 0.7)]);
        Mix::new(vec![(a, 0.3), (b, 0.7)], id).unwrap()
    }

    #[test]
    fn the_dot_product_of_mixed_vectors_is_the_weighted_sum_of_cosines() {
        let mut m = mix();
        let texts = ["a day pass costs five euros", "how much is a day pass"];
        let q = m.embed_as(&texts[1..], Role::Query).unwrap().remove(0);
        let p = m.embed_as(&texts[..1], Role::Passage).unwrap().remove(0);
        assert_eq!(q.len(), 80);
        assert!((dot(&q, &q) - 1.0).abs() < 1e-5, "unit length");
        let mut a = HashEmbedder::new(32);
        let mut b = HashEmbedder::new(48).with_prefixes("query: ", "passage: ");
        let cos = |e: &mut HashEmbedder| {
            let q = e.embed_as(&texts[1..], Role::Query).unwrap().remove(0);
            let p = e.embed_as(&texts[..1], Role::Passage).unwrap().remove(0);
            dot(&q, &p)
        };
        let (ca, cb) = (cos(&mut a), cos(&mut b));
        assert!(ca != cb, "the two models disagree: {ca} {cb}");
        assert!((dot(&q, &p) - (0.3 * ca + 0.7 * cb)).abs() < 1e-5);
    }

    #[test]
    fn in_context_spans_get_every_models_part_or_none() {
        let mut m = mix();
        let text = "Bikes are red. Passes cost five euros.";
        let spans = vec![vec![(0, 14), (15, text.len())]];
        let read = m.embed_in_context(&[text], &spans).unwrap();
        assert_eq!(read[0].whole.len(), 80);
        let alone = m
            .embed_as(&["Passes cost five euros."], Role::Passage)
            .unwrap()
            .remove(0);
        let span = read[0].spans[1].as_ref().unwrap();
        assert_eq!(span.len(), 80);
        // The second model read the span alone: its half is the span's own.
        assert_eq!(&span[32..], &alone[32..]);
        assert!((dot(span, span) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn weights_must_sum_to_one_and_identities_differ_by_weight() {
        let a = HashEmbedder::new(8);
        let info = crate::model::MODELS
            .iter()
            .find(|m| !m.parts.is_empty())
            .unwrap();
        let id = identity(info, &[(a.identity(), 0.5)]);
        assert!(Mix::new(vec![(a.clone(), 0.5)], id).is_err());
        let one = identity(info, &[(a.identity(), 0.3), (a.identity(), 0.7)]);
        let two = identity(info, &[(a.identity(), 0.7), (a.identity(), 0.3)]);
        assert_ne!(one, two);
        assert!(one.onnx_sha256.starts_with(MIX_TAG));
        assert_eq!(
            crate::model::catalogued(&one).map(|m| m.name),
            Some(info.name)
        );
    }
}
