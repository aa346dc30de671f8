//! Building a generation's sparse arm: each pair's question and answer (the
//! text the lexical arm reads; a passage's own text) encoded by the sparse model, reusing the
//! previous generation's weights for every pair whose text is unchanged, so
//! that an update encodes only what changed.

use std::time::Instant;

use crate::error::{Error, Result};
use crate::index::sparse::{text_hash, SparseIndex};
use crate::model::embed::Embedder;
use crate::model::sparse::SparseVec;
use crate::progress::{Progress, Stage};
use crate::store::{Meta, Snapshot};

/// Pairs per call of the sparse model (progress is reported after each).
const BATCH: usize = 32;

/// The sparse arm of a generation of `meta` when `wanted`, and how many
/// texts the sparse model read for it.
pub(super) fn arm(
    wanted: bool,
    meta: &Meta,
    previous: Option<&Snapshot>,
    embedder: &mut dyn Embedder,
    progress: &mut dyn Progress,
) -> Result<(Option<SparseIndex>, Option<usize>)> {
    if !wanted {
        return Ok((None, None));
    }
    let (index, encoded) = build(meta, previous, embedder, progress)?;
    Ok((Some(index), Some(encoded)))
}

/// The sparse arm of a generation of `meta`, and how many texts the sparse
/// model read for it.
fn build(
    meta: &Meta,
    previous: Option<&Snapshot>,
    embedder: &mut dyn Embedder,
    progress: &mut dyn Progress,
) -> Result<(SparseIndex, usize)> {
    let Some(encoder) = embedder.sparse() else {
        return Err(Error::Usage(
            "the sparse arm needs the sparse model loaded beside the dense one".into(),
        ));
    };
    let model = encoder.identity().to_owned();
    // A pair's question and answer; a passage's own text (the passage view
    // finds it, and the arm speaks for it as for a pair): the lexical arm's.
    let texts: Vec<String> = meta
        .pairs
        .iter()
        .map(crate::indexer::generation::lexical_text)
        .collect();
    let hashes: Vec<u64> = texts.iter().map(|t| text_hash(t)).collect();
    let known = previous
        .and_then(|p| p.sparse.as_ref())
        .filter(|s| s.model == model)
        .map(SparseIndex::by_hash)
        .unwrap_or_default();
    let mut weights: Vec<Option<SparseVec>> = texts
        .iter()
        .zip(&hashes)
        .map(|(t, h)| match t.trim().is_empty() {
            true => Some(Vec::new()),
            false => known.get(h).map(|w| (*w).clone()),
        })
        .collect();
    let todo: Vec<usize> = (0..texts.len()).filter(|&i| weights[i].is_none()).collect();
    let t = Instant::now();
    progress.start(Stage::Sparse, todo.len() as u64);
    for chunk in todo.chunks(BATCH) {
        let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
        let encoded = encoder.encode(&batch)?;
        if encoded.len() != chunk.len() {
            return Err(Error::Embed(
                "the sparse model returned fewer weights than texts".into(),
            ));
        }
        for (&i, w) in chunk.iter().zip(encoded) {
            weights[i] = Some(w);
        }
        progress.advance(chunk.len() as u64);
    }
    progress.finish();
    log::debug!(
        "sparse arm: {} pairs encoded, {} reused, in {:.1} s",
        todo.len(),
        texts.len() - todo.len(),
        t.elapsed().as_secs_f64()
    );
    let index = SparseIndex::build(
        &model,
        hashes
            .into_iter()
            .zip(weights.into_iter().map(Option::unwrap_or_default))
            .collect(),
    );
    Ok((index, todo.len()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use crate::error::{Error, Result};
    use crate::indexer::{build, IndexConfig};
    use crate::model::embed::HashEmbedder;
    use crate::model::sparse::{HashSparse, SparseEncoder, SparseVec, WithSparse};
    use crate::progress::NoProgress;
    use crate::search::views::View;
    use crate::store;

    /// The word-hashing encoder, counting the texts it is given.
    struct Counting(Arc<AtomicUsize>);

    impl SparseEncoder for Counting {
        fn identity(&self) -> &str {
            "hash-sparse"
        }
        fn encode(&mut self, texts: &[&str]) -> Result<Vec<SparseVec>> {
            self.0.fetch_add(texts.len(), Ordering::SeqCst);
            HashSparse.encode(texts)
        }
    }

    fn model(count: &Arc<AtomicUsize>) -> WithSparse {
        WithSparse::new(
            Box::new(HashEmbedder::new(32)),
            Box::new(Counting(count.clone())),
        )
    }

    const DATA: &str = "A passage.\nHow do kettles boil water?\nA heating coil warms the water.\n\
        What do tulips need?\nTulips need cold winters.\nWhere do owls sleep?\nOwls sleep in hollow trees.\n";

    /// A data folder holding [`DATA`], an index folder beside it, and the
    /// settings that ask for the arm.
    fn corpus() -> (tempfile::TempDir, PathBuf, PathBuf, IndexConfig) {
        let dir = tempfile::tempdir().unwrap();
        let (data, index) = (dir.path().join("data"), dir.path().join("index"));
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("a.txt"), DATA).unwrap();
        let sparse = IndexConfig {
            sparse: true,
            ..IndexConfig::default()
        };
        (dir, data, index, sparse)
    }

    #[test]
    fn the_arm_is_stored_searched_and_an_update_encodes_only_changed_pairs() {
        let (_dir, data, index, sparse) = corpus();
        let count = Arc::new(AtomicUsize::new(0));
        build(&data, &index, &mut model(&count), &sparse, &mut NoProgress).unwrap();
        // Three pairs and the passage.
        assert_eq!(count.load(Ordering::SeqCst), 4);
        let snap = store::open(&index).unwrap();
        assert!(snap.manifest.files.contains_key(store::SPARSE));
        let arm = snap.sparse.as_ref().expect("the arm is read back");
        assert_eq!(arm.len(), snap.meta.pairs.len());
        assert_eq!(arm.model, "hash-sparse");
        // The arm finds the pair by words of its answer alone.
        let weights = HashSparse.encode(&["hollow trees"]).unwrap().pop().unwrap();
        let vector = vec![0.0; 32];
        let views = crate::search::views(
            &snap,
            &vector,
            "hollow trees",
            Some(&weights),
            &crate::search::SearchConfig::default(),
        )
        .unwrap();
        let (_, hits) = views.iter().find(|(v, _)| *v == View::Sparse).unwrap();
        let owls = snap.meta.pairs[hits[0].pair as usize].question.as_str();
        assert_eq!(owls, "Where do owls sleep?");
        assert_eq!(hits.len(), 1, "the others share no word: {hits:?}");
        let passage = HashSparse.encode(&["a passage"]).unwrap().pop().unwrap();
        let found = crate::search::views::sparse(&snap, &passage, 5, &Default::default());
        assert!(snap.meta.pairs[found[0].pair as usize].passage, "{found:?}");

        // One answer changes: one pair is encoded again.
        std::fs::write(
            data.join("a.txt"),
            DATA.replace("cold winters", "cold nights"),
        )
        .unwrap();
        build(&data, &index, &mut model(&count), &sparse, &mut NoProgress).unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 5);
        let updated = store::open(&index).unwrap();
        assert_eq!(updated.manifest.generation, 2);

        // Dropped on an unchanged corpus: a new generation without it.
        build(
            &data,
            &index,
            &mut model(&count),
            &IndexConfig::default(),
            &mut NoProgress,
        )
        .unwrap();
        let dropped = store::open(&index).unwrap();
        assert_eq!(dropped.manifest.generation, 3);
        assert!(dropped.sparse.is_none());
        assert!(!dropped.manifest.files.contains_key(store::SPARSE));
        assert!(!IndexConfig::kept_from(&dropped.manifest).sparse);
        assert!(IndexConfig::kept_from(&updated.manifest).sparse);

        // Asked for without its model: a clear error, the index untouched.
        let e = build(
            &data,
            &index,
            &mut HashEmbedder::new(32),
            &sparse,
            &mut NoProgress,
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::Usage(ref m) if m.contains("sparse model")),
            "{e}"
        );
        assert_eq!(store::open(&index).unwrap().manifest.generation, 3);
    }

    #[test]
    fn a_damaged_arm_is_refused_on_open() {
        let (_dir, data, index, sparse) = corpus();
        let count = Arc::new(AtomicUsize::new(0));
        build(&data, &index, &mut model(&count), &sparse, &mut NoProgress).unwrap();
        let file = store::open(&index).unwrap().dir.join(store::SPARSE);
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&file, bytes).unwrap();
        let e = store::open(&index).unwrap_err();
        assert!(matches!(e, Error::IndexCorrupt { .. }), "{e}");
        assert!(e.to_string().contains("sparse.bin"), "{e}");
    }
}
