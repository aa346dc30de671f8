//! The indexer stage. Takes a corpus, an embedder and a store ([`BuildTarget`]);
//! gives a new generation there: corpus → [`plan`] (what to reuse, what to
//! embed, what happens to the graph) → [`make_generation`] (vectors, graph,
//! lexical index, [`calibrate`]d fusion and abstention) → the store's write.
//! [`changes`](Changes) says what changed since the last build; [`export`]
//! writes and reads vectors between machines. It sits above search because
//! calibration runs the search pipeline on the corpus's own questions.
//!
//! Vectors are kept keyed by (model identity, splitter version, sentence
//! text): a rebuild embeds only sentences the previous generation does not
//! have. When few rows would be hidden, the previous graph is reloaded and only
//! new rows are inserted; removed sentences are hidden from search. When more
//! than [`IndexConfig::compact_ratio`] of the rows would be hidden, or nothing
//! can be reused, the graph is rebuilt from the kept vectors (compaction).

mod ahead;
pub mod calibrate;
mod changes;
pub use crate::store::checkpoint;
mod embedding;
pub mod export;
mod generation;
mod graphs;
mod known;
mod pg;
mod plan;
mod recall;
mod reuse;
mod sparse;
mod target;

pub use ahead::{Ahead, Begun};
pub use changes::*;
pub use generation::*;
pub use known::*;
pub use plan::*;
pub use recall::{least_recall, Verdict, MIN_EXTENDED_RECALL, RECALL_SLACK};

pub use target::{at, BuildTarget};

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::corpus::split;
use crate::corpus::{self, Corpus, Skipped, Text, Warning};
use crate::error::{Error, Result};
use crate::index::ann::HnswParams;
use crate::index::mmap_graph::MmapGraph;
use crate::model::embed::{
    batches_by_length, embed_each, Calls, Embedder, Role, DEFAULT_BATCH_SIZE,
};
use crate::progress::{Progress, Stage};
use crate::store::{
    self, AnswerVectors, Counts, DocFingerprint, DocMeta, Kind, Manifest, Matrix, Meta, Occurrence,
    PairMeta, Snapshot, WriterLock,
};
use crate::store::{row_key, Made, RowKey};

/// Build-time settings.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexConfig {
    /// HNSW settings (persisted; a change rebuilds the graph).
    pub hnsw: HnswParams,
    /// Texts per model call. Default [`DEFAULT_BATCH_SIZE`].
    pub batch_size: usize,
    /// Ignore the previous index: embed everything and build a new graph. Default false.
    pub full: bool,
    /// Rebuild the graph when more than this share of rows would be hidden. Default 0.2.
    pub compact_ratio: f64,
    /// Whether each answer of several sentences also gets a vector of its
    /// own, and how it is made (see [`AnswerVectors`]).
    pub answer_vectors: AnswerVectors,
    /// Also embed each stored question, so that a user's question can find a
    /// pair by its question as well as by its answer. Default true.
    pub question_vectors: bool,
    /// Stored questions are embedded as queries apart from passages of the
    /// same words: set by [`build_corpus`] from the model (its role
    /// prefixes differ), not by a user.
    pub queries_apart: bool,
    /// Vectors known already (an export of the same model): texts found
    /// there are not embedded.
    pub known: Option<std::sync::Arc<KnownVectors>>,
    /// Build the learned sparse arm (`sparse.bin`; the embedder must carry
    /// the sparse encoder, [`crate::model::sparse::WithSparse`]). Default false.
    pub sparse: bool,
    /// How often the folder store checkpoints what the model has embedded
    /// ([`checkpoint`]), so a stopped build resumes.
    pub checkpoint: checkpoint::Every,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            hnsw: HnswParams::default(),
            batch_size: DEFAULT_BATCH_SIZE,
            full: false,
            compact_ratio: 0.2,
            answer_vectors: AnswerVectors::default(),
            question_vectors: true,
            queries_apart: false,
            known: None,
            sparse: false,
            checkpoint: checkpoint::Every::default(),
        }
    }
}

impl IndexConfig {
    /// The default settings, except those an index keeps across updates
    /// (graph settings, which vectors it holds), taken from its manifest.
    pub fn kept_from(manifest: &Manifest) -> Self {
        IndexConfig {
            hnsw: manifest.hnsw,
            answer_vectors: manifest.answer_vectors,
            question_vectors: manifest.question_vectors,
            sparse: manifest.files.contains_key(store::SPARSE),
            ..IndexConfig::default()
        }
    }
}

/// What a build did; `--json` prints this.
#[derive(Debug, Clone, Serialize)]
pub struct IndexSummary {
    /// Documents indexed.
    pub documents: usize,
    /// Q&A pairs indexed.
    pub qa_pairs: usize,
    /// Answer sentences indexed.
    pub sentences: usize,
    /// Vectors searched: sentences plus whole answers of several sentences.
    pub vectors: usize,
    /// Sentences embedded in this run.
    pub embedded: usize,
    /// Sentences whose vectors were reused.
    pub reused: usize,
    /// Texts whose vectors a stopped build had checkpointed ([`checkpoint`]).
    pub resumed: usize,
    /// Rows kept in the graph but hidden from search.
    pub hidden: usize,
    /// Wall time of the build in seconds.
    pub seconds: f64,
    /// Seconds spent in the model.
    pub embed_seconds: f64,
    /// Sentences indexed per second of wall time.
    pub sentences_per_second: f64,
    /// Sentences embedded per second of model time.
    pub embedded_per_second: f64,
    /// How the graph was made: "unchanged", "extended", "rebuilt"; in a
    /// database, "none" (it builds its own) or "loaded" (a folder's, as it was).
    pub graph: &'static str,
    /// How the lexical arm was written: "whole"; "delta" (the pairs changed
    /// since its base, beside that base linked from the previous
    /// generation); "unchanged".
    pub lexical: &'static str,
    /// Set when the corpus is mostly in a script the model cannot read.
    pub language_warning: Option<String>,
    /// Why nothing was reused, when that is the case.
    pub full_reason: Option<String>,
    /// The generation now current.
    pub generation: u64,
    /// The generation folder.
    pub index: String,
    /// What the reader skipped.
    pub skipped: Skipped,
    /// Files, documents and pairs read, per format.
    pub formats: std::collections::BTreeMap<&'static str, corpus::FormatCount>,
    /// Files of types qasearch does not read.
    pub unsupported: Vec<String>,
    /// Number of warnings.
    pub warnings: usize,
    /// Corpus files not read: their size and times were as the previous
    /// generation recorded them, so their documents were taken from it
    /// (`corpus::Recorded`; `--full` reads every file).
    pub files_unread: usize,
    /// With a sparse arm: the pairs (and passages) the sparse model read in
    /// this run; the others' weights were reused. Absent without the arm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparse_encoded: Option<usize>,
}

/// Refuses a data folder and an index folder that overlap: a build would
/// read its own files as corpus, or write (and clean up) inside the data.
pub fn check_overlap(data_dir: &Path, index_dir: &Path) -> Result<()> {
    if index_dir.exists() && !index_dir.is_dir() {
        return Err(Error::NotAnIndex {
            path: index_dir.to_path_buf(),
            reason: "it is a file, not a folder".into(),
        });
    }
    let data = data_dir.canonicalize().map_err(|_| Error::DataMissing {
        path: data_dir.to_path_buf(),
    })?;
    let index = canonical_even_if_missing(index_dir);
    if index.starts_with(&data) || data.starts_with(&index) {
        return Err(Error::NotAnIndex {
            path: index_dir.to_path_buf(),
            reason: format!(
                "it overlaps the data folder {} (one is inside the other): keep the index outside the data folder",
                data_dir.display()
            ),
        });
    }
    Ok(())
}

/// The canonical form of a path whose last components may not exist yet.
fn canonical_even_if_missing(path: &Path) -> std::path::PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut tail = Vec::new();
    let mut head = abs.as_path();
    loop {
        if let Ok(c) = head.canonicalize() {
            let mut out = c;
            for part in tail.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                head = parent;
            }
            _ => return abs,
        }
    }
}

/// Builds (or refreshes) the index of `data_dir` into `index_dir`.
///
/// Holds the index lock for the whole build; a second builder gets
/// [`Error::Busy`]. On any error the previous generation stays current.
pub fn build(
    data_dir: &Path,
    index_dir: &Path,
    embedder: &mut dyn Embedder,
    config: &IndexConfig,
    progress: &mut dyn Progress,
) -> Result<(IndexSummary, Vec<Warning>)> {
    config.hnsw.validate()?;
    check_overlap(data_dir, index_dir)?;
    let mut begun = Begun::opening(index_dir, config);
    let corpus = begun.read_corpus(data_dir)?;
    build_corpus(
        corpus, data_dir, index_dir, embedder, config, progress, begun,
    )
}

/// Builds (or refreshes) the index of an already parsed corpus; `data_dir` is
/// recorded in the manifest and named in errors. `begun`: when the build
/// began, and the current generation if it was opened ahead.
pub fn build_corpus(
    corpus: Corpus,
    data_dir: &Path,
    index_dir: &Path,
    embedder: &mut dyn Embedder,
    config: &IndexConfig,
    progress: &mut dyn Progress,
    begun: Begun,
) -> Result<(IndexSummary, Vec<Warning>)> {
    let started = begun.at;
    config.hnsw.validate()?;
    check_not_empty(&corpus, data_dir)?;
    let lock = WriterLock::acquire(index_dir)?;
    lock.preflight()?;
    lock.clean()?;
    let identity = embedder.identity().clone();
    let mut laps = Laps::start();

    // The previous generation, when its vectors can be reused.
    let (mut previous, full_reason) = if config.full {
        (None, Some("a full rebuild was asked".to_string()))
    } else if !store::exists(index_dir) {
        (None, None)
    } else {
        let opened = begun.ahead.take(index_dir).map(Ok);
        match opened.unwrap_or_else(|| store::open(index_dir)) {
            Ok(s) => match reusable(&s, &identity) {
                Ok(()) => (Some(s), None),
                Err(reason) => (None, Some(reason)),
            },
            Err(e @ (Error::IndexCorrupt { .. } | Error::Incompatible { .. })) => {
                (None, Some(format!("the previous index is not usable: {e}")))
            }
            Err(e) => return Err(e),
        }
    };

    laps.lap("open the previous generation");
    let mut checkpoint = checkpoint::Checkpoint::open(
        index_dir,
        &identity,
        embedder.dimension(),
        config.checkpoint,
    );
    let mut make = |previous: Option<&mut Snapshot>, progress: &mut dyn Progress| {
        let making = Making {
            graph: GraphMode::Build,
            checkpoint: Some(&mut checkpoint),
        };
        make_generation(
            &corpus, data_dir, previous, embedder, config, making, progress,
        )
    };
    let mut made = make(previous.as_mut(), progress)?;
    // Opened for an update, the previous generation's vectors were checked
    // while it ran: damaged, it is not used, as if opening had failed.
    let mut full_reason = full_reason;
    let mut laps = Laps::start();
    let damage = previous_damage(previous.as_mut(), made.as_mut())?;
    laps.lap("wait for the check of the previous vectors");
    if let Some(e) = damage {
        // What was made from it, and it, go before the rebuild.
        drop(made.take());
        previous = None;
        full_reason = Some(format!("the previous index is not usable: {e}"));
        made = make(None, progress)?;
    }
    let Some(mut made) = made else {
        checkpoint.remove();
        let prev = previous.expect("invariant: unchanged means a previous generation");
        return Ok((
            IndexSummary::unchanged(
                &prev.manifest,
                &corpus,
                started,
                prev.dir.display().to_string(),
                language_warning(&corpus, &*embedder),
            ),
            corpus.warnings,
        ));
    };

    let base = previous
        .as_ref()
        .and_then(|p| store::segments::VectorBase::of(p, made.kept_rows));
    let read = previous.as_ref();
    let dir = write_generation(&lock, &mut made.snapshot, base.as_ref(), read, progress)?;
    checkpoint.remove();
    made.full_reason = made.full_reason.or(full_reason);
    Ok((
        made.summary(&corpus, started, dir.display().to_string()),
        corpus.warnings,
    ))
}

/// Whether the vectors of the previous generation, wherever the update put
/// them (still in `previous`, or taken over by `made`), were intact
/// ([`Snapshot::vectors_verified`]): the damage when a file was damaged or
/// vanished (the generation is not usable); other errors (a read that
/// failed for want of resources) fail the build.
fn previous_damage(
    previous: Option<&mut Snapshot>,
    made: Option<&mut NewGeneration>,
) -> Result<Option<Error>> {
    let snapshots = previous.into_iter().chain(made.map(|m| &mut m.snapshot));
    for snapshot in snapshots {
        match snapshot.vectors_verified() {
            Ok(()) => {}
            Err(e @ (Error::IndexCorrupt { .. } | Error::IndexMissing { .. })) => {
                return Ok(Some(e))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Writes `snapshot` as the folder's next generation and switches to it;
/// returns its folder. `read`: the generation it was made from, whose
/// files read where they lie must still be as checked when it commits.
fn write_generation(
    lock: &WriterLock,
    snapshot: &mut Snapshot,
    base: Option<&store::segments::VectorBase>,
    read: Option<&Snapshot>,
    progress: &mut dyn Progress,
) -> Result<std::path::PathBuf> {
    progress.start(Stage::Writing, 4);
    let mut laps = Laps::start();
    let mut writer = lock.begin()?;
    let dim = snapshot.manifest.model.settings.dimension;
    snapshot.manifest.vector_files = writer.write_vectors(snapshot.vectors(), dim, base)?;
    // A mapped file that lost a page while its rows were written is not
    // written as if intact.
    snapshot.vectors_verified()?;
    laps.lap("write vectors.f32");
    progress.advance(1);
    // A patched graph's (or a delta's) base is the previous generation's
    // file, linked.
    let previous = |name: &str| base.and_then(|b| b.previous_file(name));
    writer.write_meta(
        &snapshot.meta,
        snapshot.meta_base.as_ref(),
        previous(store::META),
    )?;
    snapshot.manifest.meta_columns = true;
    laps.lap("write meta.bin");
    progress.advance(1);
    writer.write_graph(store::GRAPH, &snapshot.graph, previous(store::GRAPH))?;
    for side in store::Side::ALL {
        if let Some(graph) = snapshot.side_graph(side) {
            writer.write_graph(side.file(), graph, previous(side.file()))?;
        }
    }
    if let Some(probes) = &snapshot.probes {
        writer.write_encoded(store::PROBES, probes)?;
        if snapshot.passage_graph.is_some() {
            writer.write_encoded(store::PASSAGE_PROBES, &probes.passages)?;
        }
    }
    laps.lap("write graph.bin");
    writer.write_lexical(&snapshot.lexical, previous(store::LEXICAL))?;
    laps.lap("write lexical.bin");
    if let Some(sparse) = &snapshot.sparse {
        writer.write_encoded(store::SPARSE, sparse)?;
    }
    progress.advance(1);
    snapshot.manifest.generation = writer.generation();
    snapshot.manifest.files = writer.file_sums();
    snapshot.manifest.format_version = snapshot.manifest.format_needed();
    // The previous generation's graphs were extended, and their files
    // linked, where they lie: not committed if they changed meanwhile. An
    // error, not a rebuild: the next update's opening sums them again, and
    // rebuilds only if their bytes differ (a time moved alone costs this
    // update, not the embedding of every text).
    read.map_or(Ok(()), Snapshot::files_intact)?;
    let dir = writer.commit(&snapshot.manifest)?;
    laps.lap("commit (manifest, CURRENT)");
    progress.advance(1);
    progress.finish();
    Ok(dir)
}

/// The language warning where the corpus meets the model: [`corpus::script::mismatch`]
/// for a corpus and the model about to embed it, or, for a corpus in Latin
/// script that an English model's vocabulary mostly splits (German, Spanish:
/// no script tells them), the share it splits
/// ([`calibrate::familiarity_of`]).
pub fn language_warning(corpus: &Corpus, embedder: &dyn Embedder) -> Option<String> {
    let model = embedder.identity();
    // Read lazily: the profile stops after its sample of letters, the
    // vocabulary's share is taken from pairs spread through the corpus.
    let pairs = || {
        (corpus.documents.iter())
            .flat_map(|d| &d.pairs)
            .map(|p| (p.question.as_str(), p.answer.as_str()))
    };
    let english_only = crate::model::reads_only_english(model);
    let texts = pairs().flat_map(|(q, a)| [q, a]);
    let name = &model.settings.name;
    if let Some(w) =
        corpus::script::mismatch(&corpus::script::Profile::of(texts), name, english_only)
    {
        return Some(w);
    }
    if !english_only {
        return None;
    }
    // Advice only: a tokenizer that fails here fails the embedding anyway.
    // The pairs `familiarity_of` would take of them all.
    let step = (corpus.pair_count() / calibrate::FAMILIARITY_SAMPLE).max(1);
    let sample: Vec<(&str, &str)> = pairs()
        .step_by(step)
        .take(calibrate::FAMILIARITY_SAMPLE)
        .collect();
    let familiarity = calibrate::familiarity_of(&sample, embedder).ok()??;
    let share = familiarity.split_share();
    (share >= calibrate::UNFAMILIAR_FROM).then(|| {
        format!(
            "the model {name} reads English only, and its vocabulary splits {:.0}% of this corpus's \
             words (another language, or jargon it does not know: answers rest mostly on the words \
             they share with the question); if the corpus is not in English, the multilingual model \
             e5-small reads it",
            share * 100.0
        )
    })
}

/// Fails with [`Error::EmptyCorpus`] when the corpus has no pair.
pub fn check_not_empty(corpus: &Corpus, data_dir: &Path) -> Result<()> {
    if corpus.pair_count() == 0 {
        const SHOWN: usize = 10;
        let mut why: String = corpus
            .warnings
            .iter()
            .take(SHOWN)
            .map(|w| format!("\n  {w}"))
            .collect();
        if corpus.warnings.len() > SHOWN {
            why.push_str(&format!("\n  and {} more", corpus.warnings.len() - SHOWN));
        }
        return Err(Error::EmptyCorpus {
            path: data_dir.to_path_buf(),
            skipped: corpus.skipped.total(),
            why,
            supported: corpus::SUPPORTED,
        });
    }
    Ok(())
}

/// Whether a previous generation's vectors can be reused by `model`; if not, why.
pub fn reusable(
    previous: &Snapshot,
    model: &crate::model::ModelIdentity,
) -> std::result::Result<(), String> {
    if &previous.manifest.model != model {
        return Err(format!(
            "the model changed ({} -> {})",
            previous.manifest.model.id(),
            model.id()
        ));
    }
    if previous.manifest.splitter_version != split::SPLITTER_VERSION {
        return Err("the sentence splitter changed".into());
    }
    Ok(())
}

/// Times the phases of a build, each said at debug level (log target
/// [`LAP_TARGET`]): where a build's or an update's time goes
/// (`benches/update.rs` reads them).
#[derive(Debug)]
pub(crate) struct Laps(Instant);

/// The log target of [`Laps`].
pub const LAP_TARGET: &str = "qasearch::lap";

impl Laps {
    pub(crate) fn start() -> Laps {
        Laps(Instant::now())
    }

    /// Says how long `phase` took since the last lap.
    pub(crate) fn lap(&mut self, phase: &str) {
        log::debug!(target: LAP_TARGET, "{phase}: {:.3} ms", self.0.elapsed().as_secs_f64() * 1e3);
        self.0 = Instant::now();
    }
}

/// How a store makes its generations: whether they get a graph of their
/// own, and where the embedding is checkpointed.
#[derive(Debug)]
pub struct Making<'a> {
    /// The graph.
    pub graph: GraphMode,
    /// The build's checkpoint (the folder store; a database keeps none yet).
    pub checkpoint: Option<&'a mut checkpoint::Checkpoint>,
}

/// Whether a new generation gets a graph of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphMode {
    /// Extend the previous graph or build one (an index folder).
    Build,
    /// None: the store searches the vectors itself (a database).
    None,
}

impl IndexSummary {
    /// The summary of a build that kept the current generation.
    pub fn unchanged(
        manifest: &Manifest,
        corpus: &Corpus,
        started: Instant,
        location: String,
        language_warning: Option<String>,
    ) -> IndexSummary {
        let seconds = started.elapsed().as_secs_f64();
        let c = manifest.counts;
        IndexSummary {
            documents: c.documents,
            qa_pairs: c.qa_pairs,
            sentences: c.sentences,
            vectors: c.vectors,
            embedded: 0,
            reused: c.vectors,
            resumed: 0,
            hidden: c.rows - c.vectors,
            seconds,
            embed_seconds: 0.0,
            sentences_per_second: c.sentences as f64 / seconds.max(1e-9),
            embedded_per_second: 0.0,
            graph: "unchanged",
            lexical: "unchanged",
            language_warning,
            full_reason: None,
            generation: manifest.generation,
            index: location,
            skipped: corpus.skipped,
            formats: corpus.formats.clone(),
            unsupported: corpus.unsupported.clone(),
            warnings: corpus.warnings.len(),
            files_unread: corpus.files_taken,
            sparse_encoded: manifest.files.contains_key(store::SPARSE).then_some(0),
        }
    }
}

/// Helpers for the library's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::model::embed::HashEmbedder;
    use crate::progress::NoProgress;

    /// Builds an index of `files` with the hash embedder; returns it open.
    pub(crate) fn built(files: &[(&str, &str)]) -> (tempfile::TempDir, Snapshot) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        for (name, text) in files {
            std::fs::write(data.join(name), text).unwrap();
        }
        update(dir.path());
        let snap = store::open(&dir.path().join("index")).unwrap();
        (dir, snap)
    }

    /// Builds or updates `dir/index` from `dir/data` with the hash embedder
    /// and the default settings, as [`built`] made it.
    pub(crate) fn update(dir: &Path) -> IndexSummary {
        let (data, index) = (dir.join("data"), dir.join("index"));
        let config = IndexConfig::default();
        let mut e = HashEmbedder::new(32);
        build(&data, &index, &mut e, &config, &mut NoProgress)
            .unwrap()
            .0
    }
}

#[cfg(test)]
mod in_place_tests;
#[cfg(test)]
mod reuse_tests;
#[cfg(test)]
mod tests;
