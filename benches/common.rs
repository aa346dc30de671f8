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
