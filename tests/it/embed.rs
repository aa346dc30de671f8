//! The model loader: its parallel tokenizer gives the vectors fastembed's own
//! loading gives.

use qasearch::embed::{Embedder, OnnxEmbedder, Workload};
use qasearch::model::{self, ModelOptions};

use crate::util::repo;

#[test]
fn embed_parallel_load_matches_fastembed() {
    let files = model::resolve(&ModelOptions {
        models_dir: repo().join("models"),
        fetch: true,
        ..Default::default()
    })
    .unwrap();
    // Loads the runtime too, which fastembed below then uses.
    let mut ours = OnnxEmbedder::load(&files, Some(2), Workload::Bulk).unwrap();
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    let tokenizer = fastembed::TokenizerFiles {
        tokenizer_file: read(&files.tokenizer[0]),
        config_file: read(&files.tokenizer[1]),
        special_tokens_map_file: read(&files.tokenizer[2]),
        tokenizer_config_file: read(&files.tokenizer[3]),
    };
    let mut theirs = fastembed::TextEmbedding::try_new_from_user_defined(
        fastembed::UserDefinedEmbeddingModel::new(read(&files.onnx), tokenizer)
            .with_pooling(fastembed::Pooling::Mean),
        fastembed::InitOptionsUserDefined::new()
            .with_max_length(files.identity.settings.max_length)
            .with_intra_threads(2),
    )
    .unwrap();
    let long = "The coalition met again in Paris to discuss guarantees. ".repeat(40);
    let texts = [
        "What is France doing?",
        "a",
        long.as_str(),
        "Ünïcödé, emoji 🙂 and [CLS] [SEP] [PAD] [MASK] written in the text.",
        "  spaces   around  ",
        "Mixed lengths pad to the longest text of the batch.",
    ];
    let a = ours.embed_batch(&texts).unwrap();
    let b = theirs.embed(texts, Some(texts.len())).unwrap();
    assert_eq!(a.len(), b.len());
    for ((x, y), t) in a.iter().zip(&b).zip(&texts) {
        let worst = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-6, "{t:?}: differs by {worst}");
    }
}
