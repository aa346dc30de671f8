//! Builds and refreshes the index: corpus → sentences → vectors → graph →
//! a new generation on disk.
//!
//! Vectors are kept keyed by (model identity, splitter version, sentence
//! text): a rebuild embeds only sentences the previous generation does not
//! have. When few rows would be hidden, the previous graph is reloaded and only
//! new rows are inserted; removed sentences are hidden from search. When more
//! than [`IndexConfig::compact_ratio`] of the rows would be hidden, or nothing
//! can be reused, the graph is rebuilt from the kept vectors (compaction).

pub mod calibrate;
pub mod export;
mod pg;
mod target;

pub use target::{at, BuildTarget};

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::corpus::split;
use crate::corpus::{self, Corpus, Skipped, Warning};
use crate::error::{Error, Result};
use crate::index::ann::HnswParams;
use crate::index::mmap_graph::MmapGraph;
use crate::model::embed::{batches_by_length, embed_all, Embedder, Role, DEFAULT_BATCH_SIZE};
use crate::progress::{Progress, Stage};
use crate::store::{
    self, AnswerVectors, Counts, DocFingerprint, DocMeta, Kind, Manifest, Meta, Occurrence,
    PairMeta, Snapshot, WriterLock,
};
use crate::store::{row_key, row_key_of, Made, RowKey};

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
}

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
const EXPORT_CHECK_TEXTS: usize = 4;

/// A [`RowKey`] that owns its text.
type OwnedKey = (Made, String, Option<(u32, u32)>);

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
                        "its vectors were not made by the model {} it names: for {:?} the model gives a vector at cosine {cosine:.3} from the exported one (at least {EXPORT_CHECK_MIN_COSINE} expected); export again from an index of this model, or leave out --vectors-from",
                        self.model.id(),
                        crate::corpus::excerpt(text, 60)
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

    fn get(&self, key: RowKey<'_>) -> Option<&[f32]> {
        self.map
            .get(&(key.how, key.text.to_string(), key.span))
            .map(Vec::as_slice)
    }
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
    /// Number of warnings.
    pub warnings: usize,
}

/// Counts of changed documents or files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// New since the index was built.
    pub added: usize,
    /// Present in both, with other content.
    pub changed: usize,
    /// Gone since the index was built.
    pub removed: usize,
}

impl Changes {
    /// Compares items keyed by name: new keys are added, keys in both that
    /// `same` says differ are changed, old keys not seen are removed (a set
    /// difference: never a subtraction that could wrap).
    pub fn between<'a, O, N>(
        old: impl IntoIterator<Item = (&'a str, O)>,
        new: impl IntoIterator<Item = (&'a str, N)>,
        same: impl Fn(&O, &N) -> bool,
    ) -> Changes {
        let old: HashMap<&str, O> = old.into_iter().collect();
        let mut changes = Changes::default();
        let mut seen = std::collections::HashSet::new();
        for (key, n) in new {
            match old.get(key) {
                None => changes.added += 1,
                Some(o) => {
                    seen.insert(key);
                    if !same(o, &n) {
                        changes.changed += 1;
                    }
                }
            }
        }
        changes.removed = old.keys().filter(|k| !seen.contains(*k)).count();
        changes
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added + self.changed + self.removed == 0
    }
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} added, {} changed, {} removed",
            self.added, self.changed, self.removed
        )
    }
}

/// Compares the corpus files on disk with those an index was built from,
/// cheaply: only files whose size or mtime differ are hashed. A file that
/// could not be read when the index was built counts as changed only once it
/// can be read (or its size or mtime changed).
pub fn file_changes(data_dir: &Path, manifest: &Manifest) -> Result<Changes> {
    let scan = corpus::scan(data_dir)?;
    let old = manifest.sources.iter().map(|s| (s.path.as_str(), s));
    let new = scan
        .files
        .iter()
        .zip(&scan.paths)
        .map(|(f, p)| (f.path.as_str(), (f, p)));
    Ok(Changes::between(old, new, |o, &(f, path)| {
        let same_stat = o.size == f.size && o.mtime_ns == f.mtime_ns;
        if o.sha256.is_empty() {
            // Unreadable at build time: the same while it stays so.
            same_stat && !crate::safe_fs::readable(path)
        } else {
            same_stat
                || (o.size == f.size
                    && crate::safe_fs::read_inside(path, &scan.root)
                        .is_ok_and(|b| corpus::sha256_hex(&b) == o.sha256))
        }
    }))
}

/// Whether an index matches its data folder. Decided here only: by file
/// stat and hash ([`file_changes`], cheap, before every `ask`), or on a parsed
/// corpus by file hash and document ([`corpus_freshness`], for `status` and
/// for a build's "nothing changed").
#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    /// Corpus files added, changed (by content) and removed since the build.
    pub files: Changes,
    /// The same for documents, when the corpus was parsed to find out.
    pub documents: Option<Changes>,
}

impl Freshness {
    /// True when nothing changed.
    pub fn is_fresh(&self) -> bool {
        self.files.is_empty() && self.documents.is_none_or(|d| d.is_empty())
    }
}

/// Compares a parsed corpus with a manifest: files by content hash (an
/// unreadable file by its size and mtime), and documents.
pub fn corpus_freshness(corpus: &Corpus, manifest: &Manifest) -> Freshness {
    let old = manifest.sources.iter().map(|s| (s.path.as_str(), s));
    let new = corpus.files.iter().map(|f| (f.path.as_str(), f));
    let files = Changes::between(old, new, |o, f| {
        if o.sha256.is_empty() || f.sha256.is_empty() {
            o.sha256 == f.sha256 && o.size == f.size && o.mtime_ns == f.mtime_ns
        } else {
            o.sha256 == f.sha256
        }
    });
    Freshness {
        files,
        documents: Some(document_changes(corpus, manifest)),
    }
}

/// Compares documents of a parsed corpus with those of a manifest.
pub fn document_changes(corpus: &Corpus, manifest: &Manifest) -> Changes {
    let old = manifest
        .documents
        .iter()
        .map(|d| (d.key.as_str(), d.fingerprint.as_str()));
    let new = corpus.documents.iter().map(|d| (d.key.as_str(), d));
    Changes::between(old, new, |fp, d| *fp == d.fingerprint())
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
    let started = Instant::now();
    check_overlap(data_dir, index_dir)?;
    let corpus = corpus::load(data_dir)?;
    build_corpus(
        corpus, data_dir, index_dir, embedder, config, progress, started,
    )
}

/// Queries sampled to check an extended graph against exact search.
const CHECK_QUERIES: usize = 64;
/// Breadth of the graph searches of that check.
const CHECK_EF: usize = 128;
/// The least recall@10 an extended graph must keep; below it the graph is rebuilt.
pub const MIN_EXTENDED_RECALL: f64 = 0.99;

/// Recall@10 of the graph against exact search, over live rows used as
/// queries: the rows from `first_new` on (the ones just inserted, which are
/// the ones an extension can leave unreachable) and as many older ones.
pub fn graph_recall(
    graph: &MmapGraph,
    vectors: &[f32],
    dim: usize,
    live: &dyn Fn(usize) -> bool,
    first_new: usize,
) -> f64 {
    let rows = vectors.len() / dim.max(1);
    let pick = |from: usize, to: usize, n: usize| -> Vec<usize> {
        let candidates: Vec<usize> = (from..to).filter(|&r| live(r)).collect();
        let step = (candidates.len() / n.max(1)).max(1);
        candidates.into_iter().step_by(step).take(n).collect()
    };
    let mut queries = pick(first_new, rows, CHECK_QUERIES / 2);
    queries.extend(pick(0, first_new, CHECK_QUERIES - queries.len()));
    let (mut found, mut wanted) = (0usize, 0usize);
    for &q in &queries {
        let query = &vectors[q * dim..(q + 1) * dim];
        let exact = crate::index::ann::exact_search(vectors, dim, query, 10, Some(live));
        let approx = graph.search(vectors, dim, query, 10, CHECK_EF, Some(live));
        wanted += exact.len();
        found += crate::index::ann::hits_as_good(&exact, &approx);
    }
    if wanted == 0 {
        1.0
    } else {
        found as f64 / wanted as f64
    }
}

/// Builds (or refreshes) the index of an already parsed corpus; `data_dir` is
/// recorded in the manifest and named in errors.
pub fn build_corpus(
    corpus: Corpus,
    data_dir: &Path,
    index_dir: &Path,
    embedder: &mut dyn Embedder,
    config: &IndexConfig,
    progress: &mut dyn Progress,
    started: Instant,
) -> Result<(IndexSummary, Vec<Warning>)> {
    config.hnsw.validate()?;
    check_not_empty(&corpus, data_dir)?;
    let lock = WriterLock::acquire(index_dir)?;
    lock.preflight()?;
    lock.clean()?;
    let identity = embedder.identity().clone();

    // The previous generation, when its vectors can be reused.
    let (previous, full_reason) = if config.full {
        (None, Some("a full rebuild was asked".to_string()))
    } else if !store::exists(index_dir) {
        (None, None)
    } else {
        match store::open(index_dir) {
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

    let made = make_generation(
        &corpus,
        data_dir,
        previous.as_ref(),
        embedder,
        config,
        GraphMode::Build,
        progress,
    )?;
    let Some(mut made) = made else {
        let prev = previous.expect("invariant: unchanged means a previous generation");
        return Ok((
            IndexSummary::unchanged(
                &prev.manifest,
                &corpus,
                started,
                prev.dir.display().to_string(),
                language_warning(&corpus, &identity),
            ),
            corpus.warnings,
        ));
    };

    // Write the generation and switch to it.
    progress.start(Stage::Writing, 4);
    let mut writer = lock.begin()?;
    let snapshot = &mut made.snapshot;
    writer.write_file(store::VECTORS, &store::f32_as_bytes(snapshot.vectors()))?;
    progress.advance(1);
    writer.write_file(store::META, &store::encode(&snapshot.meta))?;
    progress.advance(1);
    writer.write_file(store::GRAPH, snapshot.graph.as_bytes())?;
    writer.write_file(store::LEXICAL, &store::encode(&snapshot.lexical))?;
    progress.advance(1);
    snapshot.manifest.generation = writer.generation();
    snapshot.manifest.files = writer.file_sums();
    let dir = writer.commit(&snapshot.manifest)?;
    progress.advance(1);
    progress.finish();
    made.full_reason = made.full_reason.or(full_reason);
    Ok((
        made.summary(&corpus, started, dir.display().to_string()),
        corpus.warnings,
    ))
}

/// The language warning where the corpus meets the model: [`corpus::script::mismatch`]
/// for a corpus and the model about to embed it.
pub fn language_warning(corpus: &Corpus, model: &crate::model::ModelIdentity) -> Option<String> {
    let texts = corpus
        .documents
        .iter()
        .flat_map(|d| &d.pairs)
        .flat_map(|p| [p.question.as_str(), p.answer.as_str()]);
    corpus::script::mismatch(
        &corpus::script::Profile::of(texts),
        &model.settings.name,
        crate::model::reads_only_english(model),
    )
}

/// Fails with [`Error::EmptyCorpus`] when the corpus has no pair.
pub fn check_not_empty(corpus: &Corpus, data_dir: &Path) -> Result<()> {
    if corpus.pair_count() == 0 {
        return Err(Error::EmptyCorpus {
            path: data_dir.to_path_buf(),
            skipped: corpus.skipped.total(),
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

/// Whether a new generation gets a graph of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphMode {
    /// Extend the previous graph or build one (an index folder).
    Build,
    /// None: the store searches the vectors itself (a database).
    None,
}

/// A generation made in memory, calibrated, not yet written: its manifest
/// has generation 0 and no files until its store writes it.
#[derive(Debug)]
pub struct NewGeneration {
    /// The generation, vectors in memory.
    pub snapshot: Snapshot,
    /// Texts embedded.
    pub embedded: usize,
    /// Texts whose vectors were reused.
    pub reused: usize,
    /// Rows no pair holds any longer (kept in an extended graph).
    pub hidden: usize,
    /// Seconds in the model.
    pub embed_seconds: f64,
    /// How the graph was made.
    pub graph: &'static str,
    /// Why nothing was reused, when that is the case.
    pub full_reason: Option<String>,
    /// Set when the corpus is mostly in a script the model cannot read.
    pub language_warning: Option<String>,
}

impl NewGeneration {
    /// The build's summary, once written at `location`.
    pub fn summary(&self, corpus: &Corpus, started: Instant, location: String) -> IndexSummary {
        IndexSummary {
            embedded: self.embedded,
            reused: self.reused,
            hidden: self.hidden,
            embed_seconds: self.embed_seconds,
            embedded_per_second: self.embedded as f64 / self.embed_seconds.max(1e-9),
            graph: self.graph,
            full_reason: self.full_reason.clone(),
            ..IndexSummary::unchanged(
                &self.snapshot.manifest,
                corpus,
                started,
                location,
                self.language_warning.clone(),
            )
        }
    }
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
            hidden: c.rows - c.vectors,
            seconds,
            embed_seconds: 0.0,
            sentences_per_second: c.sentences as f64 / seconds.max(1e-9),
            embedded_per_second: 0.0,
            graph: "unchanged",
            language_warning,
            full_reason: None,
            generation: manifest.generation,
            index: location,
            skipped: corpus.skipped,
            warnings: corpus.warnings.len(),
        }
    }
}

/// The vectors of every text the plan must embed ([`BuildPlan::to_embed_ids`],
/// in order): those `known` has, and the model's for the rest. Returns them
/// and how many texts the model embedded.
fn embed_new(
    plan: &BuildPlan,
    known: Option<&KnownVectors>,
    embedder: &mut dyn Embedder,
    batch_size: usize,
    progress: &mut dyn Progress,
) -> Result<(Vec<f32>, usize)> {
    let dim = embedder.dimension();
    let ids = plan.to_embed_ids();
    let found: Vec<Option<&[f32]>> = ids
        .iter()
        .map(|&id| known.and_then(|k| k.get(plan.key(id))))
        .collect();
    let todo: Vec<usize> = ids
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(&id, _)| id)
        .collect();
    progress.start(Stage::Embedding, todo.len() as u64);
    let embedded = embed_fresh(plan, &todo, embedder, batch_size, progress)?;
    progress.finish();
    if todo.len() == ids.len() {
        return Ok((embedded, todo.len()));
    }
    let mut fresh = embedded.chunks_exact(dim.max(1));
    let mut all = Vec::with_capacity(ids.len() * dim);
    for f in &found {
        match f {
            Some(v) => all.extend_from_slice(v),
            None => all.extend_from_slice(
                fresh
                    .next()
                    .ok_or_else(|| Error::Embed("fewer vectors than texts to embed".into()))?,
            ),
        }
    }
    Ok((all, todo.len()))
}

/// The model's vectors of distinct texts `todo` of `plan`, in order. The
/// sentences read in context come from passes over their whole answers
/// (which give those answers' own vectors too); the rest — and the
/// sentences of answers too long to read in context — are embedded alone.
fn embed_fresh(
    plan: &BuildPlan,
    todo: &[usize],
    embedder: &mut dyn Embedder,
    batch_size: usize,
    progress: &mut dyn Progress,
) -> Result<Vec<f32>> {
    let dim = embedder.dimension();
    let mut out = vec![0f32; todo.len() * dim];
    let mut done = vec![false; todo.len()];
    // Each answer to read, with the sentences (place in todo, span) it gives.
    let mut answers: Vec<&str> = Vec::new();
    let mut sentences: Vec<Vec<(usize, (usize, usize))>> = Vec::new();
    let mut answer_at: HashMap<&str, usize> = HashMap::new();
    // Texts the model would read as passages alone: a pass over the same
    // text gives their vector.
    let mut plain_at: HashMap<&str, usize> = HashMap::new();
    for (k, &id) in todo.iter().enumerate() {
        let key = plan.key(id);
        match (key.how, key.span) {
            (Made::InContext, Some((start, end))) => {
                let a = *answer_at.entry(key.text).or_insert_with(|| {
                    answers.push(key.text);
                    sentences.push(Vec::new());
                    answers.len() - 1
                });
                sentences[a].push((k, (start as usize, end as usize)));
            }
            (Made::Embedded, _) => {
                plain_at.insert(key.text, k);
            }
            _ => {}
        }
    }
    if !answers.is_empty() {
        let batches = batches_by_length(
            &answers,
            embedder.identity().settings.max_length,
            batch_size,
        );
        for batch in batches {
            let texts: Vec<&str> = batch.iter().map(|&a| answers[a]).collect();
            let spans: Vec<Vec<(usize, usize)>> = batch
                .iter()
                .map(|&a| sentences[a].iter().map(|&(_, span)| span).collect())
                .collect();
            let read = embedder.embed_in_context(&texts, &spans)?;
            if read.len() != batch.len() {
                return Err(Error::Embed(format!(
                    "model read {} of {} answers",
                    read.len(),
                    batch.len()
                )));
            }
            // Each text's vector, set once.
            let mut set = |k: usize, v: &[f32]| -> Result<u64> {
                if done[k] {
                    return Ok(0);
                }
                if v.len() != dim {
                    return Err(Error::Embed(format!(
                        "model returned a {}-d vector, expected {dim}",
                        v.len()
                    )));
                }
                out[k * dim..(k + 1) * dim].copy_from_slice(v);
                done[k] = true;
                Ok(1)
            };
            let mut n = 0;
            for (&a, r) in batch.iter().zip(&read) {
                if let Some(&k) = plain_at.get(answers[a]) {
                    n += set(k, &r.whole)?;
                }
                for (&(k, _), v) in sentences[a].iter().zip(&r.spans) {
                    if let Some(v) = v {
                        n += set(k, v)?;
                    }
                }
            }
            progress.advance(n);
        }
    }
    let alone: Vec<usize> = (0..todo.len()).filter(|&k| !done[k]).collect();
    let texts: Vec<&str> = alone.iter().map(|&k| plan.text(todo[k])).collect();
    let roles: Vec<Role> = alone.iter().map(|&k| plan.role(todo[k])).collect();
    log::debug!(
        "embedding: {} answers read with their sentences in context, {} of {} texts alone",
        answers.len(),
        alone.len(),
        todo.len()
    );
    let embedded = embed_roles(embedder, &texts, &roles, batch_size, &mut |n| {
        progress.advance(n as u64)
    })?;
    for (i, &k) in alone.iter().enumerate() {
        out[k * dim..(k + 1) * dim].copy_from_slice(&embedded[i * dim..(i + 1) * dim]);
    }
    Ok(out)
}

/// Makes the next generation of `corpus` in memory: plans against
/// `previous` (a generation of the same model and splitter, see
/// [`reusable`]), embeds only what it lacks, lays out the rows (with a graph
/// in [`GraphMode::Build`]), builds the lexical arm and calibrates fusion
/// and abstention. None when nothing changed.
pub fn make_generation(
    corpus: &Corpus,
    data_dir: &Path,
    previous: Option<&Snapshot>,
    embedder: &mut dyn Embedder,
    config: &IndexConfig,
    graph_mode: GraphMode,
    progress: &mut dyn Progress,
) -> Result<Option<NewGeneration>> {
    let config = &IndexConfig {
        queries_apart: embedder.identity().settings.roles_differ(),
        answer_vectors: match config.answer_vectors {
            AnswerVectors::InContext if !embedder.reads_in_context() => {
                log::info!(
                    "{} cannot read sentences in the context of their answer: embedding them alone",
                    embedder.identity().settings.name
                );
                AnswerVectors::Embedded
            }
            how => how,
        },
        ..config.clone()
    };
    let language_warning = language_warning(corpus, embedder.identity());
    let identity = embedder.identity().clone();
    let dim = embedder.dimension();
    let plan = plan(
        corpus,
        previous.map(|p| Previous {
            manifest: &p.manifest,
            meta: &p.meta,
        }),
        config,
    );
    // Nothing changed at all: keep the current generation.
    if plan.graph == GraphAction::Keep && previous.is_some() {
        return Ok(None);
    }
    let sentence_count = plan.sentences();
    let reused = plan.reused();
    // The texts to embed, less those whose vectors are known (an export of
    // the same model).
    let known = config
        .known
        .as_deref()
        .filter(|k| k.model == identity && k.dimension == dim);
    if config.known.is_some() && known.is_none() {
        log::warn!("the vectors given were made by another model: embedding instead");
    }
    if let Some(k) = known {
        k.check_made_by(embedder)?;
    }
    let embed_started = Instant::now();
    let (new_vectors, embedded) = embed_new(&plan, known, embedder, config.batch_size, progress)?;
    let embed_seconds = embed_started.elapsed().as_secs_f64();
    let reused = reused + (plan.to_embed_ids().len() - embedded);
    let new_vectors = plan.fresh_vectors(new_vectors, previous, dim)?;

    // Extend the previous graph when the plan says so and it keeps recall;
    // otherwise build a new one.
    let extended = match (previous, &plan.graph, graph_mode) {
        (Some(prev), GraphAction::Extend { hidden }, GraphMode::Build) => {
            extend_graph(prev, &plan, &new_vectors, dim, *hidden, progress)
        }
        _ => None,
    };
    let Laid {
        row_of_text,
        vectors,
        graph,
        hidden,
        how,
    } = match extended {
        Some(laid) => laid,
        None => rebuild_graph(
            previous,
            &plan,
            new_vectors,
            dim,
            &config.hnsw,
            graph_mode,
            progress,
        )?,
    };
    let live_vectors = plan.first.len();
    let BuildPlan {
        documents,
        pairs,
        mut occurrences,
        text_id,
        ..
    } = plan;
    for (o, id) in occurrences.iter_mut().zip(&text_id) {
        o.row = row_of_text[*id] as u32;
    }
    let rows = vectors.len() / dim.max(1);
    let meta = Meta::new(documents, pairs, occurrences, rows);
    let t = Instant::now();
    let texts: Vec<String> = meta.pairs.iter().map(lexical_text).collect();
    let lexical =
        crate::index::lexical::LexicalIndex::build(texts.iter().map(String::as_str), true);
    drop(texts);
    log::debug!(
        "lexical index of {} pairs built in {:.1} ms",
        meta.pairs.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let counts = Counts {
        documents: meta.documents.len(),
        qa_pairs: meta.pairs.len(),
        sentences: sentence_count,
        vectors: live_vectors,
        rows,
        questions: meta
            .occurrences
            .iter()
            .filter(|o| o.kind == Kind::Question)
            .count(),
    };
    let (fusion, abstention) = crate::index::settings::model_defaults(&identity);
    let manifest = Manifest {
        format_version: store::FORMAT_VERSION,
        qasearch_version: env!("CARGO_PKG_VERSION").to_string(),
        generation: 0,
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: identity,
        splitter_version: split::SPLITTER_VERSION,
        hnsw: config.hnsw,
        answer_vectors: config.answer_vectors,
        question_vectors: config.question_vectors,
        fusion,
        abstention,
        counts,
        data_dir: data_dir.display().to_string(),
        sources: corpus.files.clone(),
        documents: corpus
            .documents
            .iter()
            .map(|d| DocFingerprint {
                key: d.key.clone(),
                fingerprint: d.fingerprint(),
            })
            .collect(),
        files: BTreeMap::new(),
    };
    // Fit fusion and the abstention threshold on the corpus's own questions.
    let t = Instant::now();
    let mut snapshot = Snapshot::in_memory(manifest, meta, graph, lexical, vectors);
    if let Some(fusion) = crate::indexer::calibrate::fusion(&snapshot)? {
        log::debug!("fusion calibrated: {}", fusion.source);
        snapshot.manifest.fusion = fusion;
    }
    let abstention = crate::indexer::calibrate::abstention(&snapshot)?;
    log::debug!(
        "abstention calibrated in {:.1} ms: {abstention:?}",
        t.elapsed().as_secs_f64() * 1e3
    );
    if let Some(a) = abstention {
        snapshot.manifest.abstention = a;
    }
    Ok(Some(NewGeneration {
        snapshot,
        embedded,
        reused,
        hidden,
        embed_seconds,
        graph: how,
        full_reason: None,
        language_warning,
    }))
}

/// The text the lexical arm indexes for a pair: its question and its answer.
fn lexical_text(p: &PairMeta) -> String {
    format!("{}\n{}", p.question, p.answer)
}

fn occurrence_text<'a>(pairs: &'a [PairMeta], o: &Occurrence) -> &'a str {
    let pair = &pairs[o.pair as usize];
    let whole = match o.kind {
        Kind::Question => &pair.question,
        _ => &pair.answer,
    };
    &whole[o.start as usize..o.end as usize]
}

/// The previous generation, as far as planning needs it.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    /// Its manifest.
    pub manifest: &'a Manifest,
    /// Its metadata.
    pub meta: &'a Meta,
}

/// What happens to the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphAction {
    /// Nothing changed: the current generation stays.
    Keep,
    /// The previous graph gets the new rows; `hidden` previous rows answer no more.
    Extend {
        /// Previous rows no pair holds any longer.
        hidden: usize,
    },
    /// A new graph over the live rows only.
    Rebuild,
}

/// What a build will do, decided from the corpus and the previous generation
/// alone: no model, no disk. [`build_corpus`] carries it out.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    /// Documents of the new generation.
    pub documents: Vec<DocMeta>,
    /// Pairs of the new generation.
    pub pairs: Vec<PairMeta>,
    /// Every text occurrence; rows are assigned when the plan is applied.
    pub occurrences: Vec<Occurrence>,
    /// The distinct text of each occurrence.
    pub text_id: Vec<usize>,
    /// Each distinct text, as the index of its first occurrence.
    pub first: Vec<usize>,
    /// Each distinct text's row in the previous generation, if it had it.
    pub reuse: Vec<Option<usize>>,
    /// What happens to the graph.
    pub graph: GraphAction,
    /// How whole answers get their vectors.
    pub answer_vectors: AnswerVectors,
    /// Whether stored questions are embedded as queries (see [`IndexConfig::queries_apart`]).
    pub queries_apart: bool,
    /// Per pair: its answer has several sentences (and a vector of its own).
    pub several: Vec<bool>,
}

impl BuildPlan {
    /// The text of distinct text `id`.
    pub fn text(&self, id: usize) -> &str {
        occurrence_text(&self.pairs, &self.occurrences[self.first[id]])
    }

    /// The row key of distinct text `id`.
    fn key(&self, id: usize) -> RowKey<'_> {
        let o = &self.occurrences[self.first[id]];
        row_key(
            self.answer_vectors,
            self.queries_apart,
            o,
            self.text(id),
            &self.pairs[o.pair as usize].answer,
            self.several[o.pair as usize],
        )
    }

    /// True when distinct text `id` is a whole answer pooled from its sentences.
    pub fn is_pooled(&self, id: usize) -> bool {
        self.key(id).how == Made::Pooled
    }

    /// True when distinct text `id` is a sentence whose vector comes from
    /// reading its whole answer (see [`AnswerVectors::InContext`]).
    pub fn is_in_context(&self, id: usize) -> bool {
        self.key(id).how == Made::InContext
    }

    /// How the model reads distinct text `id`.
    pub fn role(&self, id: usize) -> Role {
        if self.key(id).how == Made::AsQuery {
            Role::Query
        } else {
            Role::Passage
        }
    }

    /// The role of each text of [`BuildPlan::to_embed`], in the same order.
    pub fn to_embed_roles(&self) -> Vec<Role> {
        self.to_embed_ids()
            .into_iter()
            .map(|id| self.role(id))
            .collect()
    }

    /// The distinct texts to embed: those the previous generation lacks and
    /// that are not pooled, in order.
    pub fn to_embed_ids(&self) -> Vec<usize> {
        (0..self.first.len())
            .filter(|&id| self.reuse[id].is_none() && !self.is_pooled(id))
            .collect()
    }

    /// The texts to embed (those the previous generation lacks and that are
    /// not pooled), in order.
    pub fn to_embed(&self) -> Vec<&str> {
        self.to_embed_ids()
            .into_iter()
            .map(|id| self.text(id))
            .collect()
    }

    /// The vectors of every distinct text the previous generation lacks, in
    /// order: `embedded` (the model's vectors of [`BuildPlan::to_embed`]),
    /// with each new pooled whole answer made from its sentences' vectors.
    pub fn fresh_vectors(
        &self,
        embedded: Vec<f32>,
        previous: Option<&Snapshot>,
        dim: usize,
    ) -> Result<Vec<f32>> {
        let mut new_pooled = (0..self.first.len())
            .filter(|&id| self.reuse[id].is_none() && self.is_pooled(id))
            .peekable();
        if new_pooled.peek().is_none() {
            return Ok(embedded);
        }
        // Where each embedded text's vector is.
        let mut next = 0;
        let slot: Vec<usize> = (0..self.first.len())
            .map(|id| {
                if self.reuse[id].is_none() && !self.is_pooled(id) {
                    next += 1;
                    next - 1
                } else {
                    usize::MAX
                }
            })
            .collect();
        let vector_of = |id: usize| -> Option<&[f32]> {
            match (self.reuse[id], previous) {
                (Some(row), Some(p)) => Some(p.vector(row)),
                (None, _) if slot[id] != usize::MAX => {
                    embedded.get(slot[id] * dim..(slot[id] + 1) * dim)
                }
                _ => None,
            }
        };
        let mut pooled: HashMap<usize, Vec<f32>> = HashMap::new();
        for id in new_pooled {
            let pair = self.occurrences[self.first[id]].pair;
            let mut sum = vec![0f32; dim];
            let from = self.occurrences.partition_point(|o| o.pair < pair);
            for i in from..self.occurrences.len() {
                let o = &self.occurrences[i];
                if o.pair != pair {
                    break;
                }
                if o.kind == Kind::Sentence {
                    let v = vector_of(self.text_id[i]).ok_or_else(|| {
                        Error::Embed("a sentence of a pooled answer has no vector".into())
                    })?;
                    sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
                }
            }
            crate::model::vector::normalize(&mut sum);
            pooled.insert(id, sum);
        }
        let mut out = Vec::with_capacity((next + pooled.len()) * dim);
        for id in 0..self.first.len() {
            if self.reuse[id].is_some() {
                continue;
            }
            match pooled.get(&id) {
                Some(v) => out.extend_from_slice(v),
                None => out.extend_from_slice(&embedded[slot[id] * dim..(slot[id] + 1) * dim]),
            }
        }
        Ok(out)
    }

    /// Distinct texts whose vectors are reused.
    pub fn reused(&self) -> usize {
        self.reuse.iter().filter(|r| r.is_some()).count()
    }

    /// Answer sentences (occurrences that are not whole answers).
    pub fn sentences(&self) -> usize {
        self.occurrences.iter().filter(|o| o.is_sentence()).count()
    }
}

/// Embeds `texts`, each in its role (queries and passages in calls of their
/// own), into one row-major matrix in the order of `texts`.
fn embed_roles(
    embedder: &mut dyn Embedder,
    texts: &[&str],
    roles: &[Role],
    batch_size: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<f32>> {
    if roles.iter().all(|&r| r == Role::Passage) {
        return embed_all(embedder, texts, Role::Passage, batch_size, progress);
    }
    let dim = embedder.dimension();
    let mut out = vec![0f32; texts.len() * dim];
    for role in [Role::Passage, Role::Query] {
        let at: Vec<usize> = (0..texts.len()).filter(|&i| roles[i] == role).collect();
        let group: Vec<&str> = at.iter().map(|&i| texts[i]).collect();
        let vectors = embed_all(embedder, &group, role, batch_size, progress)?;
        for (k, &i) in at.iter().enumerate() {
            out[i * dim..(i + 1) * dim].copy_from_slice(&vectors[k * dim..(k + 1) * dim]);
        }
    }
    Ok(out)
}

/// Plans a build: which texts to reuse, which to embed, what to do with the
/// graph. `previous` must be a generation made by the same model and
/// splitter (the caller decides that, and passes `None` otherwise).
pub fn plan(corpus: &Corpus, previous: Option<Previous<'_>>, config: &IndexConfig) -> BuildPlan {
    let (documents, pairs, occurrences) =
        collect(corpus, config.answer_vectors, config.question_vectors);
    let apart = config.queries_apart;
    let mut several = vec![false; pairs.len()];
    for o in &occurrences {
        if o.kind == Kind::Answer {
            several[o.pair as usize] = true;
        }
    }
    let mut first = Vec::new();
    let mut text_id = Vec::with_capacity(occurrences.len());
    {
        let mut distinct: HashMap<RowKey<'_>, usize> = HashMap::new();
        for (i, o) in occurrences.iter().enumerate() {
            let key = row_key(
                config.answer_vectors,
                apart,
                o,
                occurrence_text(&pairs, o),
                &pairs[o.pair as usize].answer,
                several[o.pair as usize],
            );
            let id = *distinct.entry(key).or_insert_with(|| {
                first.push(i);
                first.len() - 1
            });
            text_id.push(id);
        }
    }
    let mut plan = BuildPlan {
        documents,
        pairs,
        occurrences,
        text_id,
        reuse: vec![None; first.len()],
        first,
        graph: GraphAction::Rebuild,
        answer_vectors: config.answer_vectors,
        queries_apart: apart,
        several,
    };
    let Some(prev) = previous else {
        return plan;
    };
    // Fresh, and even the files' sizes and times are as recorded (a touched
    // file gets a new generation that records its new time, reusing every
    // vector, so that later asks need not hash it again).
    let unchanged = corpus_freshness(corpus, prev.manifest).is_fresh()
        && prev.manifest.sources == corpus.files
        && prev.manifest.hnsw == config.hnsw
        && prev.manifest.answer_vectors == config.answer_vectors
        && prev.manifest.question_vectors == config.question_vectors;
    if unchanged {
        plan.graph = GraphAction::Keep;
        return plan;
    }
    // The same model made it (the caller checks), so its questions were
    // kept apart as ours are.
    let mut by_key: HashMap<RowKey<'_>, usize> = HashMap::new();
    for row in 0..prev.meta.row_count() {
        if let Some(key) = row_key_of(prev.meta, prev.manifest.answer_vectors, apart, row) {
            by_key.entry(key).or_insert(row);
        }
    }
    plan.reuse = (0..plan.first.len())
        .map(|id| by_key.get(&plan.key(id)).copied())
        .collect();
    let prev_rows = prev.meta.row_count();
    let hidden = prev_rows - plan.reused();
    let rows_if_extended = prev_rows + (plan.first.len() - plan.reused());
    if prev.manifest.hnsw == config.hnsw
        && (hidden as f64) <= config.compact_ratio * rows_if_extended as f64
    {
        plan.graph = GraphAction::Extend { hidden };
    }
    plan
}

/// The vectors and graph of a new generation, and where each distinct text went.
struct Laid {
    /// The row of each distinct text of the plan.
    row_of_text: Vec<usize>,
    /// Row-major vectors.
    vectors: Vec<f32>,
    graph: MmapGraph,
    /// Rows no pair holds any longer.
    hidden: usize,
    /// "extended" or "rebuilt".
    how: &'static str,
}

/// The previous graph with the new texts inserted (rows keep their numbers,
/// new ones are appended), or None when its files cannot be loaded or the
/// result would lose recall against exact search.
fn extend_graph(
    prev: &Snapshot,
    plan: &BuildPlan,
    new_vectors: &[f32],
    dim: usize,
    hidden: usize,
    progress: &mut dyn Progress,
) -> Option<Laid> {
    let prev_rows = prev.meta.row_count();
    if prev.graph.rows() != prev_rows {
        log::warn!("cannot extend the previous graph (it has {} rows, the index {prev_rows}): rebuilding it from the kept vectors", prev.graph.rows());
        return None;
    }
    let mut row_of_text = Vec::with_capacity(plan.first.len());
    let mut vectors = Vec::with_capacity(prev.vectors().len() + new_vectors.len());
    vectors.extend_from_slice(prev.vectors());
    let mut fresh = new_vectors.chunks_exact(dim.max(1));
    for prev_row in &plan.reuse {
        row_of_text.push(match prev_row {
            Some(r) => *r,
            None => {
                vectors.extend_from_slice(fresh.next()?);
                vectors.len() / dim - 1
            }
        });
    }
    let rows = vectors.len() / dim.max(1);
    progress.start(Stage::Graph, (rows - prev_rows) as u64);
    let graph =
        crate::index::hnsw::extend(&prev.graph, &vectors, dim, &prev.manifest.hnsw, &mut |n| {
            progress.advance(n as u64)
        });
    progress.finish();
    let mut live = vec![false; rows];
    for &r in &row_of_text {
        live[r] = true;
    }
    let recall = graph_recall(&graph, &vectors, dim, &|r| live[r], prev_rows);
    if recall < MIN_EXTENDED_RECALL {
        log::info!(
            "the extended graph finds {:.1}% of the exact top 10 (below {:.0}%): rebuilding it",
            recall * 100.0,
            MIN_EXTENDED_RECALL * 100.0
        );
        return None;
    }
    Some(Laid {
        row_of_text,
        vectors,
        graph,
        hidden,
        how: "extended",
    })
}

/// A new graph over the live texts only, numbered afresh in corpus order.
fn rebuild_graph(
    previous: Option<&Snapshot>,
    plan: &BuildPlan,
    new_vectors: Vec<f32>,
    dim: usize,
    hnsw: &HnswParams,
    graph_mode: GraphMode,
    progress: &mut dyn Progress,
) -> Result<Laid> {
    let vectors = if plan.reused() == 0 {
        // Every text is new: the fresh vectors are the matrix, in order.
        new_vectors
    } else {
        let mut vectors = Vec::with_capacity(plan.first.len() * dim);
        let mut fresh = new_vectors.chunks_exact(dim.max(1));
        for prev_row in &plan.reuse {
            match (prev_row, previous) {
                (Some(r), Some(p)) => vectors.extend_from_slice(p.vector(*r)),
                _ => vectors.extend_from_slice(
                    fresh
                        .next()
                        .ok_or_else(|| Error::Embed("fewer vectors than texts to embed".into()))?,
                ),
            }
        }
        vectors
    };
    if vectors.len() != plan.first.len() * dim {
        return Err(Error::Embed("fewer vectors than texts to embed".into()));
    }
    if graph_mode == GraphMode::None {
        return Ok(Laid {
            row_of_text: (0..plan.first.len()).collect(),
            vectors,
            graph: MmapGraph::empty(),
            hidden: 0,
            how: "none",
        });
    }
    progress.start(Stage::Graph, plan.first.len() as u64);
    let graph = crate::index::hnsw::build(&vectors, dim, hnsw, &mut |n| progress.advance(n as u64));
    progress.finish();
    Ok(Laid {
        row_of_text: (0..plan.first.len()).collect(),
        vectors,
        graph,
        hidden: 0,
        how: "rebuilt",
    })
}

/// Documents, pairs and every text occurrence (rows not yet assigned) of a corpus.
fn collect(
    corpus: &Corpus,
    answer_vectors: AnswerVectors,
    question_vectors: bool,
) -> (Vec<DocMeta>, Vec<PairMeta>, Vec<Occurrence>) {
    let mut documents = Vec::with_capacity(corpus.documents.len());
    let mut pairs: Vec<PairMeta> = Vec::new();
    let mut occurrences = Vec::new();
    for doc in &corpus.documents {
        let doc_id = documents.len() as u32;
        documents.push(DocMeta {
            key: doc.key.clone(),
            source: doc.source.clone(),
        });
        for pair in &doc.pairs {
            let pair_id = pairs.len() as u32;
            let spans = split::sentences(&pair.answer);
            for span in &spans {
                occurrences.push(Occurrence {
                    pair: pair_id,
                    row: 0,
                    start: span.start as u32,
                    end: span.end as u32,
                    kind: Kind::Sentence,
                });
            }
            if answer_vectors != AnswerVectors::Off && spans.len() > 1 {
                occurrences.push(Occurrence {
                    pair: pair_id,
                    row: 0,
                    start: 0,
                    end: pair.answer.len() as u32,
                    kind: Kind::Answer,
                });
            }
            if question_vectors && !pair.question.trim().is_empty() {
                occurrences.push(Occurrence {
                    pair: pair_id,
                    row: 0,
                    start: 0,
                    end: pair.question.len() as u32,
                    kind: Kind::Question,
                });
            }
            pairs.push(PairMeta {
                doc: doc_id,
                question: pair.question.clone(),
                answer: pair.answer.clone(),
                line: pair.line as u32,
            });
        }
    }
    (documents, pairs, occurrences)
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
        let index = dir.path().join("index");
        let mut e = HashEmbedder::new(32);
        build(
            &data,
            &index,
            &mut e,
            &IndexConfig::default(),
            &mut NoProgress,
        )
        .unwrap();
        let snap = store::open(&index).unwrap();
        (dir, snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    const A: &str = "P.\nWhat is one?\nOne is first. It comes before two.\nWhat is yes?\nYes.\n";
    const B: &str = "P.\nIs it yes too?\nYes.\nWhat is three?\nThree is odd.\n";

    /// An embedder that records what the model is asked to read.
    struct Recording {
        inner: crate::model::embed::HashEmbedder,
        alone: Vec<String>,
        in_context: Vec<String>,
    }

    impl Embedder for Recording {
        fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            self.alone.extend(texts.iter().map(|t| t.to_string()));
            self.inner.embed_batch(texts)
        }
        fn reads_in_context(&self) -> bool {
            true
        }
        fn embed_in_context(
            &mut self,
            texts: &[&str],
            spans: &[Vec<(usize, usize)>],
        ) -> Result<Vec<crate::model::embed::InContext>> {
            self.in_context.extend(texts.iter().map(|t| t.to_string()));
            self.inner.embed_in_context(texts, spans)
        }
        fn dimension(&self) -> usize {
            self.inner.dimension()
        }
        fn identity(&self) -> &crate::model::ModelIdentity {
            self.inner.identity()
        }
    }

    #[test]
    fn sentences_of_an_answer_are_read_in_its_context() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let day = "A day pass costs five euros. It is valid until midnight.";
        let week = "A week pass costs twenty euros. It is valid until midnight.";
        let words = "word ".repeat(130).trim_end().to_string();
        let long = format!("{words}. It is valid until midnight.");
        std::fs::write(
            data.join("a.txt"),
            format!(
                "P.\nHow much is a day pass?\n{day}\nHow much is a week pass?\n{week}\n\
                 How long is it valid?\nIt is valid until midnight.\nAnd this?\n{long}\n"
            ),
        )
        .unwrap();
        let index = dir.path().join("index");
        let mut model = Recording {
            inner: crate::model::embed::HashEmbedder::new(64),
            alone: Vec::new(),
            in_context: Vec::new(),
        };
        let (summary, _) = build(
            &data,
            &index,
            &mut model,
            &IndexConfig::default(),
            &mut NoProgress,
        )
        .unwrap();
        // Each answer of several sentences is read once, with its sentences;
        // none of their sentences is read alone but those of the answer too
        // long to read in context.
        let mut read = model.in_context.clone();
        read.sort();
        let mut expected = vec![day.to_string(), week.to_string(), long.clone()];
        expected.sort();
        assert_eq!(read, expected);
        for t in [
            day,
            week,
            "A day pass costs five euros.",
            "A week pass costs twenty euros.",
        ] {
            assert!(!model.alone.iter().any(|a| a == t), "{t} read alone");
        }
        assert_eq!(
            model
                .alone
                .iter()
                .filter(|t| *t == "It is valid until midnight.")
                .count(),
            2,
            "the one-sentence answer, and the sentence of the answer too long to read in context"
        );
        assert!(model.alone.contains(&format!("{words}.")));
        let snap = crate::store::open(&index).unwrap();
        assert_eq!(snap.manifest.answer_vectors, AnswerVectors::InContext);
        let hash = crate::model::embed::HashEmbedder::new(64);
        let vector_of = |pair: usize, kind: Kind, text: &str| {
            let o = snap
                .meta
                .occurrences
                .iter()
                .find(|o| {
                    o.pair as usize == pair && o.kind == kind && snap.meta.text(o) == Some(text)
                })
                .unwrap();
            (o.row, snap.vector(o.row as usize).to_vec())
        };
        // The same words in two answers: two rows, each read in its answer.
        let (day_row, day_v) = vector_of(0, Kind::Sentence, "It is valid until midnight.");
        let (week_row, week_v) = vector_of(1, Kind::Sentence, "It is valid until midnight.");
        assert_ne!(day_row, week_row);
        assert_eq!(
            day_v,
            hash.vector(&format!("It is valid until midnight. {day}"))
        );
        assert_eq!(
            week_v,
            hash.vector(&format!("It is valid until midnight. {week}"))
        );
        // An answer of one sentence, and a sentence of an answer too long to
        // read in context, are read alone (rows of their own: whether an
        // answer is too long is the model's to say, after planning).
        let (one_row, one_v) = vector_of(2, Kind::Sentence, "It is valid until midnight.");
        let (long_row, long_v) = vector_of(3, Kind::Sentence, "It is valid until midnight.");
        assert_ne!(one_row, long_row);
        assert_eq!(one_v, hash.vector("It is valid until midnight."));
        assert_eq!(long_v, one_v);
        // The whole answer's vector is the model's, from the same pass.
        assert_eq!(vector_of(0, Kind::Answer, day).1, hash.vector(day));
        // Nothing changed: nothing read; one answer changed: its pass again.
        model.alone.clear();
        model.in_context.clear();
        std::fs::write(
            data.join("a.txt"),
            std::fs::read_to_string(data.join("a.txt"))
                .unwrap()
                .replace("twenty euros", "twenty-five euros"),
        )
        .unwrap();
        let (again, _) = build(
            &data,
            &index,
            &mut model,
            &IndexConfig::default(),
            &mut NoProgress,
        )
        .unwrap();
        assert_eq!(model.in_context, [week.replace("twenty", "twenty-five")]);
        assert!(model.alone.is_empty(), "{:?}", model.alone);
        assert_eq!(again.embedded, 3, "the answer and its two sentences");
        assert!(summary.embedded > again.embedded);
    }

    fn answers_only() -> IndexConfig {
        IndexConfig {
            question_vectors: false,
            answer_vectors: AnswerVectors::Embedded,
            ..IndexConfig::default()
        }
    }

    fn corpus(files: &[(&str, &str)]) -> Corpus {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        crate::corpus::load(dir.path()).unwrap()
    }

    use super::testing::built;

    #[test]
    fn pooled_answers_are_made_from_their_sentences_not_embedded() {
        use crate::model::embed::{Embedder, HashEmbedder};
        let c = corpus(&[("a.txt", A), ("b.txt", B)]);
        let config = IndexConfig {
            question_vectors: false,
            answer_vectors: AnswerVectors::Pooled,
            ..IndexConfig::default()
        };
        let p = plan(&c, None, &config);
        assert_eq!(p.first.len(), 5);
        let texts = p.to_embed();
        assert!(
            !texts.contains(&"One is first. It comes before two."),
            "{texts:?}"
        );
        assert_eq!(texts.len(), 4);
        let mut e = HashEmbedder::new(16);
        let embedded: Vec<f32> = e.embed_batch(&texts).unwrap().concat();
        let fresh = p.fresh_vectors(embedded, None, 16).unwrap();
        assert_eq!(fresh.len(), 5 * 16);
        let pooled_id = (0..5).find(|&id| p.is_pooled(id)).unwrap();
        let mut want: Vec<f32> = e
            .vector("One is first.")
            .iter()
            .zip(e.vector("It comes before two."))
            .map(|(a, b)| a + b)
            .collect();
        crate::model::vector::normalize(&mut want);
        let got = &fresh[pooled_id * 16..(pooled_id + 1) * 16];
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6));
        // A pooled whole answer never shares a row with an embedded text of
        // the same words (here a stored question).
        let twin = r#"{"id": "t", "qa": [{"question": "One is first. It comes before two.", "answer": "Twin."}]}"#;
        let c = corpus(&[("a.txt", A), ("t.jsonl", twin)]);
        let config = IndexConfig {
            answer_vectors: AnswerVectors::Pooled,
            ..IndexConfig::default()
        };
        let p = plan(&c, None, &config);
        let ids: Vec<usize> = (0..p.first.len())
            .filter(|&id| p.text(id) == "One is first. It comes before two.")
            .collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids.iter().filter(|&&id| p.is_pooled(id)).count(), 1);
        assert!(p.to_embed().contains(&"One is first. It comes before two."));
    }

    #[test]
    fn changes_are_set_differences() {
        let old = [("a", 1), ("b", 2), ("c", 3)];
        let new = [("a", 1), ("b", 5), ("d", 4), ("e", 0)];
        let c = Changes::between(old, new, |o, n| o == n);
        assert_eq!((c.added, c.changed, c.removed), (2, 1, 1));
        // Repeated keys on either side never make a count wrap.
        let c = Changes::between([("a", 1), ("a", 1)], [("a", 1), ("a", 1)], |o, n| o == n);
        assert!(c.is_empty());
        let c = Changes::between([("a", 1), ("a", 2)], [("b", 1)], |o, n| o == n);
        assert_eq!((c.added, c.changed, c.removed), (1, 0, 1));
    }

    #[test]
    fn a_first_build_embeds_each_distinct_text_once() {
        let c = corpus(&[("a.txt", A), ("b.txt", B)]);
        let p = plan(&c, None, &answers_only());
        // Sentences: 2 + 1 + 1 + 1; whole answer of A's first pair; "Yes." twice.
        assert_eq!(p.sentences(), 5);
        assert_eq!(p.occurrences.len(), 6);
        assert_eq!(p.first.len(), 5, "\"Yes.\" is one text");
        assert_eq!(
            p.to_embed(),
            [
                "One is first.",
                "It comes before two.",
                "One is first. It comes before two.",
                "Yes.",
                "Three is odd."
            ]
        );
        assert_eq!(p.graph, GraphAction::Rebuild);
        assert_eq!(p.text_id[3], p.text_id[4], "both \"Yes.\" share a text");
        // With stored questions: each pair's question once more.
        let p = plan(
            &c,
            None,
            &IndexConfig {
                answer_vectors: AnswerVectors::Embedded,
                ..IndexConfig::default()
            },
        );
        assert_eq!(p.first.len(), 9);
        assert_eq!(
            p.occurrences
                .iter()
                .filter(|o| o.kind == Kind::Question)
                .count(),
            4
        );
        assert!(p.to_embed().contains(&"Is it yes too?"));
    }

    #[test]
    fn unchanged_corpus_keeps_the_generation() {
        let (_dir, snap) = built(&[("a.txt", A)]);
        let c = crate::corpus::load(&snap.dir.join("../../data")).unwrap();
        let prev = Previous {
            manifest: &snap.manifest,
            meta: &snap.meta,
        };
        let p = plan(&c, Some(prev), &IndexConfig::default());
        assert_eq!(p.graph, GraphAction::Keep);
        // Other HNSW settings rebuild, reusing every vector.
        let other = IndexConfig {
            hnsw: crate::index::ann::HnswParams {
                m: 8,
                ..Default::default()
            },
            ..IndexConfig::default()
        };
        let p = plan(&c, Some(prev), &other);
        assert_eq!(p.graph, GraphAction::Rebuild);
        assert!(p.to_embed().is_empty());
    }

    #[test]
    fn changes_reuse_by_text_and_extend_or_compact() {
        let (_dir, snap) = built(&[("a.txt", A)]);
        let prev = Previous {
            manifest: &snap.manifest,
            meta: &snap.meta,
        };
        // Adding a document: only its new text is embedded; the graph grows.
        let c = corpus(&[("a.txt", A), ("b.txt", B)]);
        let p = plan(&c, Some(prev), &IndexConfig::default());
        assert_eq!(
            p.to_embed(),
            ["Is it yes too?", "Three is odd.", "What is three?"]
        );
        assert_eq!(p.reused(), 6);
        assert_eq!(p.graph, GraphAction::Extend { hidden: 0 });
        // Replacing it all: most rows would be hidden, so the graph is rebuilt.
        let c = corpus(&[("b.txt", B)]);
        let p = plan(&c, Some(prev), &IndexConfig::default());
        assert_eq!(
            p.to_embed(),
            ["Is it yes too?", "Three is odd.", "What is three?"]
        );
        assert_eq!(p.reused(), 1);
        assert_eq!(p.graph, GraphAction::Rebuild);
        // Allowing many hidden rows extends instead, and says how many.
        let lax = IndexConfig {
            compact_ratio: 0.9,
            ..IndexConfig::default()
        };
        let p = plan(&c, Some(prev), &lax);
        assert_eq!(p.graph, GraphAction::Extend { hidden: 5 });
    }

    #[test]
    fn a_model_with_role_prefixes_reads_questions_as_queries() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        // "Is it open?" is a stored question and an answer sentence.
        std::fs::write(
            data.join("a.txt"),
            "P.\nIs it open?\nYes, daily.\nWhat did he ask?\nIs it open? That is what he asked.\n",
        )
        .unwrap();
        let index = dir.path().join("index");
        // Sentences read alone (in context, a sentence is not its words alone).
        let config = IndexConfig {
            answer_vectors: AnswerVectors::Embedded,
            ..IndexConfig::default()
        };
        let mut e5 =
            crate::model::embed::HashEmbedder::new(64).with_prefixes("query: ", "passage: ");
        build(&data, &index, &mut e5, &config, &mut NoProgress).unwrap();
        // The rows holding "Is it open?" as a question and as a sentence.
        let rows = |snap: &Snapshot| {
            let row = |kind| {
                snap.meta
                    .occurrences
                    .iter()
                    .find(|o| o.kind == kind && snap.meta.text(o) == Some("Is it open?"))
                    .map(|o| o.row as usize)
                    .unwrap()
            };
            (row(Kind::Question), row(Kind::Sentence))
        };
        let snap = crate::store::open(&index).unwrap();
        let (q, p) = rows(&snap);
        assert_ne!(q, p, "the same words, read two ways");
        assert_eq!(snap.vector(q), e5.vector("query: Is it open?").as_slice());
        assert_eq!(snap.vector(p), e5.vector("passage: Is it open?").as_slice());
        // A user's question is a query too.
        let asked = crate::search::embed_question(&mut e5, "Is it open?").unwrap();
        assert_eq!(asked, e5.vector("query: Is it open?"));
        // An update reuses both rows.
        std::fs::write(data.join("b.txt"), "P.\nNew?\nYes.\n").unwrap();
        let (summary, _) = build(&data, &index, &mut e5, &config, &mut NoProgress).unwrap();
        assert_eq!(summary.embedded, 2, "only b.txt's question and sentence");
        // Without prefixes the two share a row, as before.
        let plain_index = dir.path().join("plain");
        let mut plain = crate::model::embed::HashEmbedder::new(64);
        build(&data, &plain_index, &mut plain, &config, &mut NoProgress).unwrap();
        let (q, p) = rows(&crate::store::open(&plain_index).unwrap());
        assert_eq!(q, p, "one row for the same words");
    }
}
