//! Shared setup for the benches: the real model, from `models/` (fetched on first use).

use std::path::PathBuf;

use qasearch::model::embed::OnnxEmbedder;
use qasearch::model::{self, ModelOptions};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[allow(dead_code)] // not every bench embeds
pub fn embedder(workload: qasearch::model::embed::Workload) -> OnnxEmbedder {
    let opts = ModelOptions {
        models_dir: std::env::var_os("QASEARCH_MODELS")
            .map_or_else(|| repo().join("models"), Into::into),
        fetch: true,
        ..Default::default()
    };
    let files = model::resolve(&opts).expect("model files");
    OnnxEmbedder::load(&files, None, workload).expect("model loads")
}

/// splitmix64 stream.
#[allow(dead_code)] // each bench uses some of it
pub struct Rng(pub u64);
#[allow(dead_code)]
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}
