//! Vectors with a real model's geometry, at the cost of a hash (the update
//! bench's `--vectors cloud`).
//!
//! The hash embedder gives each word a random direction: over a small
//! vocabulary its vectors crowd together, and over a real one (`words.rs`)
//! a sentence of ten words is nearly orthogonal to every other, so that a
//! graph's recall says more about the hash than about the index (recall@10
//! 0.951 at 100,000 pairs, against 0.998 with 48 words). Embedding a
//! million pairs with the model takes hours; this embedder borrows its
//! geometry instead. The default model embeds each distinct text of the
//! shared English sets once (about 12,000 sentences and questions: the
//! centres; cached under `target/`), and a text's vector is
//! `c_i + c_j / 2 + noise`, normalised, where `i` and `j` are drawn from
//! the text's hash and the noise is Gaussian (σ = [`SIGMA`] a dimension).
//! So vectors keep the model's topics (what is near a centre is near its
//! neighbours), no two texts share one, a vector is about 0.8 from its
//! first centre and two of one centre about 0.65 apart, as a model puts
//! paraphrases. Words and vectors are drawn apart: the bench measures the
//! cost of every view and the graphs' recall, not the quality of fusion.

use std::path::{Path, PathBuf};

use qasearch::error::Result;
use qasearch::model::embed::{read_in_context, Embedder, InContext, Role};
use qasearch::model::ModelIdentity;

use crate::common::Rng;

/// The noise's standard deviation in each of the 384 dimensions.
pub const SIGMA: f32 = 0.03;

#[derive(Clone)]
pub struct CloudEmbedder {
    identity: ModelIdentity,
    /// Row-major centres, each of unit length.
    centres: Vec<f32>,
    dim: usize,
}

impl CloudEmbedder {
    /// The centres of the shared sets' texts, from the cache when it holds
    /// them for this model, else embedded (about a minute) and cached.
    pub fn load(sets: &Path) -> CloudEmbedder {
        let mut model = crate::common::embedder(qasearch::model::embed::Workload::Bulk);
        let dim = model.dimension();
        let mut identity = model.identity().clone();
        let cache = cache_path(&identity);
        let centres = match std::fs::read(&cache) {
            Ok(bytes) if bytes.len() % (dim * 4) == 0 && !bytes.is_empty() => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            _ => {
                let mut texts = crate::words::shared_texts(sets).unwrap_or_else(|e| {
                    panic!("the cloud's centres are the shared sets' texts: {e}")
                });
                texts.sort();
                texts.dedup();
                texts.retain(|t| t.split_whitespace().count() >= 3);
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let t = std::time::Instant::now();
                let centres = qasearch::model::embed::embed_all(
                    &mut model,
                    &refs,
                    Role::Passage,
                    32,
                    &mut |_| {},
                )
                .expect("the model embeds the shared texts");
                println!(
                    "cloud: {} centres embedded in {:.0} s, cached in {}",
                    texts.len(),
                    t.elapsed().as_secs_f64(),
                    cache.display()
                );
                std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
                std::fs::write(&cache, bytemuck::cast_slice(&centres)).unwrap();
                centres
            }
        };
        identity.settings.name = format!("cloud({}, sigma {SIGMA})", identity.settings.name);
        println!(
            "vectors: a cloud around {} centres of {}",
            centres.len() / dim,
            model.identity().settings.name
        );
        CloudEmbedder {
            identity,
            centres,
            dim,
        }
    }

    /// The vector of `text`.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let mut rng = Rng(fnv(text));
        let n = self.centres.len() / self.dim;
        let (i, j) = (rng.below(n), rng.below(n));
        let centre = |k: usize| &self.centres[k * self.dim..(k + 1) * self.dim];
        let mut v: Vec<f32> = (centre(i).iter().zip(centre(j)))
            .map(|(a, b)| a + 0.5 * b + SIGMA * rng.normal())
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

/// Where the centres of `model` are cached.
fn cache_path(model: &ModelIdentity) -> PathBuf {
    let tag = &model.onnx_sha256[..model.onnx_sha256.len().min(16)];
    crate::common::repo().join(format!("target/bench-cloud-centres-{tag}.f32"))
}

/// FNV-1a, 64 bits.
fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl Embedder for CloudEmbedder {
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }

    fn reads_in_context(&self) -> bool {
        true
    }

    /// As the hash embedder: a span read in context is a text of its own
    /// (the span and its passage), so that it has a vector of its own.
    fn embed_in_context(
        &mut self,
        texts: &[&str],
        spans: &[Vec<(usize, usize)>],
    ) -> Result<Vec<InContext>> {
        Ok(read_in_context(texts, spans, "", &|t| self.vector(t)))
    }

    fn dimension(&self) -> usize {
        self.dim
    }

    fn identity(&self) -> &ModelIdentity {
        &self.identity
    }
}

/// How the bench's texts are embedded (`--vectors cloud|hash`, cloud when
/// not given).
pub enum Vectors {
    /// The hash embedder of the runs before 2026-12-06's 21st session (and
    /// of the indexes they kept).
    Hash,
    Cloud(Box<CloudEmbedder>),
}

impl Vectors {
    pub fn choose(args: &[String]) -> Vectors {
        let asked = (args.iter().position(|a| a == "--vectors"))
            .and_then(|i| args.get(i + 1))
            .map_or("cloud", String::as_str);
        match asked {
            "hash" => Vectors::Hash,
            "cloud" => Vectors::Cloud(Box::new(CloudEmbedder::load(
                &crate::common::repo().join("../shared/datasets"),
            ))),
            other => panic!("--vectors {other}: expected cloud or hash"),
        }
    }

    /// A new embedder of this kind.
    pub fn make(&self) -> Box<dyn Embedder + Send> {
        match self {
            Vectors::Hash => Box::new(qasearch::model::embed::HashEmbedder::new(384)),
            Vectors::Cloud(cloud) => Box::new((**cloud).clone()),
        }
    }
}
