//! The engine every front end calls: it opens (or builds, or refreshes) the
//! index, checks that the model is the one the index was made with, applies
//! the fallbacks (another build running, a disk that is full: answer from the
//! intact index), and answers questions.
//!
//! The command line, `eval`, and any later server call this and nothing
//! below it. Answering takes `&self`: the opened generation is shared (an
//! `Arc`, swapped whole by [`Engine::refresh`]), and only the model, which
//! needs `&mut` for a call, sits behind its own lock.
//!
//! ```
//! use qasearch::model::embed::HashEmbedder;
//! use qasearch::engine::{Engine, EngineOptions};
//! use qasearch::search::SearchConfig;
//!
//! let dir = tempfile::tempdir()?;
//! let data = dir.path().join("data");
//! std::fs::create_dir(&data)?;
//! std::fs::write(data.join("bikes.txt"), "City bikes.\nHow much is a day pass?\nA day pass costs five euros.\n")?;
//! let options = EngineOptions::new(&data, dir.path().join("index"));
//! // A deterministic stand-in for the real model keeps this example offline.
//! let engine = Engine::open(&options, || Ok(Box::new(HashEmbedder::new(64))))?;
//! let answers = engine.ask("price of a day pass", &SearchConfig::default())?;
//! assert_eq!(answers.results[0].question, "How much is a day pass?");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use crate::error::{Error, ModelFix, Result};
use crate::indexer::BuildTarget;
use crate::indexer::{self, IndexConfig, IndexSummary};
use crate::model::embed::Embedder;
use crate::model::ModelIdentity;
use crate::progress::Progress;
use crate::search::{self, Answers, SearchConfig};
use crate::store::Store;
use crate::store::{self, Manifest, Snapshot};

mod plan;
mod status;
use plan::{opened_ahead, opening_ahead, plan, Plan};
pub use status::{status, status_of, Status};

/// A model that can be shared between threads (one call at a time).
pub type SharedEmbedder = Box<dyn Embedder + Send>;

/// Where the corpus and the index are, and whether to update before answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// The data folder.
    pub data_dir: PathBuf,
    /// The index folder.
    pub index_dir: PathBuf,
    /// A database holding the index instead of the folder: a `postgresql://`
    /// URL (see [`crate::store`]). None: the folder.
    pub store: Option<String>,
    /// Build the index when there is none, and update it when the data
    /// changed, before answering. Default true.
    pub update: bool,
    /// The process asks and exits (`ask`), rather than answering for as
    /// long as it runs (`serve`, `mcp`): the folder's vectors are then
    /// mapped rather than read into memory of the process's own (a second
    /// at a million pairs, where reading them took five and doubled the
    /// memory they take), and every answer waits for their check and asks
    /// whether the file changed under the mapping. Default false.
    pub one_shot: bool,
}

impl EngineOptions {
    /// Options for a data folder and an index folder, updating as needed.
    pub fn new(data_dir: impl Into<PathBuf>, index_dir: impl Into<PathBuf>) -> Self {
        EngineOptions {
            data_dir: data_dir.into(),
            index_dir: index_dir.into(),
            store: None,
            update: true,
            one_shot: false,
        }
    }

    /// The store these options name: the database, or the folder.
    pub fn open_store(&self) -> Result<Arc<dyn BuildTarget>> {
        crate::indexer::at(self.store.as_deref(), &self.index_dir)
    }
}

pub use crate::indexer::Freshness;

/// Compares the data folder with what an index was built from: files by
/// size and mtime, hashing only those that differ (cheap, for every `ask`).
pub fn file_freshness(data_dir: &Path, manifest: &Manifest) -> Result<Freshness> {
    Ok(Freshness {
        files: indexer::file_changes(data_dir, manifest)?,
        documents: None,
    })
}

/// Compares files and documents after parsing the corpus (for `status`; the
/// build's "nothing changed" uses the same comparison).
pub fn full_freshness(data_dir: &Path, manifest: &Manifest) -> Result<Freshness> {
    let corpus = crate::corpus::load(data_dir)?;
    Ok(indexer::corpus_freshness(&corpus, manifest))
}

/// The catalogued model (`model list`) that built the index in `store`, if
/// there is one and it can be read: an index remembers its model, so a
/// front end that names none uses it (`index --model e5-small` once, then
/// plain `ask`). A user-supplied model file is not catalogued: `None`.
pub fn recorded_model(store: &dyn Store) -> Option<&'static crate::model::ModelInfo> {
    let manifest = match store.exists() {
        Ok(true) => store.read_manifest().ok()?,
        _ => return None,
    };
    crate::model::catalogued(&manifest.model)
}

/// Whether the index in `store` has the learned sparse arm (its model must
/// then be loaded beside the dense one); false when there is no readable index.
pub fn recorded_sparse(store: &dyn Store) -> bool {
    match store.exists() {
        Ok(true) => store
            .read_manifest()
            .is_ok_and(|m| m.files.contains_key(store::SPARSE)),
        _ => false,
    }
}

/// What a server's health check reports: the generation answering and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Always "ok" (a server that cannot answer does not get this far).
    pub status: &'static str,
    /// The generation answering now.
    pub generation: u64,
    /// Documents in it.
    pub documents: usize,
    /// Q&A pairs in it.
    pub pairs: usize,
    /// The model that answers: its identity (name, files' hashes).
    pub model: String,
    /// Its name for people: the catalogue's (`minilm`), else the model
    /// file's settings name (a file supplied by hand).
    pub model_name: String,
}

/// Where the time of one question went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timings {
    /// Embedding the question, waiting for the model included.
    pub embed_ms: f64,
    /// The views, fusion and abstention.
    pub retrieve_ms: f64,
}

fn same_model(store: &dyn Store, ours: &ModelIdentity, theirs: &ModelIdentity) -> Result<()> {
    if ours != theirs {
        return Err(Error::Incompatible {
            path: store.path(),
            what: "model",
            expected: ours.id(),
            found: theirs.id(),
        });
    }
    Ok(())
}

/// Builds or refreshes the index of `options`' data folder (the `index` command).
pub fn build_index(
    options: &EngineOptions,
    embedder: &mut dyn Embedder,
    config: &IndexConfig,
    progress: &mut dyn Progress,
) -> Result<(IndexSummary, Vec<crate::corpus::Warning>)> {
    build_into(&*options.open_store()?, options, embedder, config, progress)
}

/// [`build_index`] into a store already opened.
fn build_into(
    store: &dyn BuildTarget,
    options: &EngineOptions,
    embedder: &mut dyn Embedder,
    config: &IndexConfig,
    progress: &mut dyn Progress,
) -> Result<(IndexSummary, Vec<crate::corpus::Warning>)> {
    config.hnsw.validate()?;
    let mut begun = store.begin(config);
    let corpus = begun.read_corpus(&options.data_dir)?;
    log::debug!(
        "corpus read in {:.1} ms",
        begun.at.elapsed().as_secs_f64() * 1e3
    );
    let data = &options.data_dir;
    let (summary, warnings) = store.build(corpus, data, embedder, config, progress, begun)?;
    if let Some(reason) = &summary.full_reason {
        log::info!("re-embedded everything: {reason}");
    }
    if let Some(w) = &summary.language_warning {
        log::warn!("{w}");
    }
    Ok((summary, warnings))
}

/// Carries out a plan: builds or updates, with the fallbacks.
fn apply(
    options: &EngineOptions,
    store: &dyn BuildTarget,
    embedder: &mut dyn Embedder,
    plan: Plan,
    progress: &mut dyn Progress,
    warn: &mut dyn FnMut(&crate::corpus::Warning),
) -> Result<()> {
    let report = |r: Result<(IndexSummary, Vec<crate::corpus::Warning>)>,
                  warn: &mut dyn FnMut(&crate::corpus::Warning)| {
        r.map(|(_, warnings)| warnings.iter().for_each(&mut *warn))
    };
    match plan {
        Plan::Ready(model, _) => same_model(store, embedder.identity(), &model),
        Plan::Build => {
            // The cause first: no data to build from is the error, not news
            // that a build starts.
            if !options.data_dir.is_dir() {
                return Err(Error::DataMissing {
                    path: options.data_dir.clone(),
                });
            }
            log::info!(
                "no index at {} yet: building it from {}",
                store.location(),
                options.data_dir.display()
            );
            let built = build_into(store, options, embedder, &IndexConfig::default(), progress);
            match report(built, warn) {
                Err(Error::Busy { .. }) => {
                    log::info!("another qasearch is building the index: waiting for it");
                    store.wait_for_writer()
                }
                other => other,
            }
        }
        Plan::Update(changes, config, model) => {
            same_model(store, embedder.identity(), &model)?;
            log::info!(
                "{} changed since the index was built (files: {changes}): updating the index",
                options.data_dir.display()
            );
            match report(
                build_into(store, options, embedder, &config, progress),
                warn,
            ) {
                Err(Error::Busy { .. }) => {
                    log::warn!(
                        "another qasearch is updating the index: answering from the current one"
                    );
                    Ok(())
                }
                // The previous index is intact (a failed build changes
                // nothing, in a folder or a database): answer from it
                // rather than not at all.
                Err(e @ (Error::Io { .. } | Error::Store { .. } | Error::InjectedAbort(_))) => {
                    log::warn!("cannot update the index ({e}): answering from the current one");
                    Ok(())
                }
                other => other,
            }
        }
    }
}

/// An opened index and its model, ready to answer.
pub struct Engine {
    options: EngineOptions,
    /// The model; more than one session when a server asks for them
    /// ([`Engine::add_model`]): a question takes the first free one.
    embedders: Vec<Mutex<SharedEmbedder>>,
    identity: ModelIdentity,
    store: Arc<dyn BuildTarget>,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("options", &self.options)
            .field("model", &self.identity.id())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the engine: loads the model (with `load_model`) while checking
    /// the index, then builds or updates the index as needed (see
    /// [`EngineOptions::update`]) and opens it. Corpus warnings of a build are
    /// logged.
    pub fn open(
        options: &EngineOptions,
        load_model: impl FnOnce() -> Result<SharedEmbedder> + Send,
    ) -> Result<Engine> {
        Self::open_with(
            options,
            load_model,
            &mut crate::progress::NoProgress,
            &mut |w| log::warn!("{}/{w}", options.data_dir.display()),
        )
    }

    /// [`Engine::open`] with progress for a build and a receiver of its warnings.
    pub fn open_with(
        options: &EngineOptions,
        load_model: impl FnOnce() -> Result<SharedEmbedder> + Send,
        progress: &mut dyn Progress,
        warn: &mut dyn FnMut(&crate::corpus::Warning),
    ) -> Result<Engine> {
        let t = std::time::Instant::now();
        // The two slowest steps of a cold start overlap on two cores.
        let store = options.open_store()?;
        let open = |store: &dyn BuildTarget| match options.one_shot {
            true => store.open_mapped(),
            false => store.open(),
        };
        let ahead = opening_ahead(options, &store);
        let (embedder, plan, opened) = std::thread::scope(|scope| {
            let model = scope.spawn(load_model);
            let plan = plan(options, &*store);
            // Open now only if nothing has to change first.
            let opened = match &plan {
                Ok(Plan::Ready(_, generation)) => {
                    Some(opened_ahead(ahead, *generation).unwrap_or_else(|| open(&*store)))
                }
                _ => {
                    if let Some(ahead) = ahead {
                        ahead.abandon();
                    }
                    None
                }
            };
            let embedder = model.join().unwrap_or_else(|_| {
                Err(Error::Model {
                    fix: ModelFix::None,
                    message: "loading the model failed unexpectedly".into(),
                })
            });
            (embedder, plan, opened)
        });
        // The cause first: an index that cannot be read, or no data to
        // build one from, before what the model lacks.
        let plan = plan?;
        if matches!(plan, Plan::Build) && !options.data_dir.is_dir() {
            return Err(Error::DataMissing {
                path: options.data_dir.clone(),
            });
        }
        let mut embedder = embedder?;
        log::debug!(
            "model and index state ready in {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let snapshot = match (plan, opened) {
            (Plan::Ready(model, _), Some(snapshot)) => {
                same_model(&*store, embedder.identity(), &model)?;
                snapshot?
            }
            (plan, _) => {
                apply(options, &*store, embedder.as_mut(), plan, progress, warn)?;
                open(&*store)?
            }
        };
        snapshot.check_model(embedder.identity())?;
        Ok(Engine {
            options: options.clone(),
            identity: embedder.identity().clone(),
            embedders: vec![Mutex::new(embedder)],
            store,
            snapshot: RwLock::new(Arc::new(snapshot)),
        })
    }

    /// An engine over an index that is already built (for example a cached
    /// evaluation index), without looking at any data folder.
    pub fn from_snapshot(snapshot: Snapshot, embedder: SharedEmbedder) -> Result<Engine> {
        let index_dir = snapshot
            .dir
            .parent()
            .map_or_else(PathBuf::new, Path::to_path_buf);
        let store = Arc::new(crate::store::Folder::new(&index_dir));
        Self::from_store(store, snapshot, embedder)
    }

    /// An engine over a generation already opened from `store` (which it
    /// follows on [`Engine::refresh`]), without looking at any data folder.
    pub fn from_store(
        store: Arc<dyn BuildTarget>,
        snapshot: Snapshot,
        embedder: SharedEmbedder,
    ) -> Result<Engine> {
        snapshot.check_model(embedder.identity())?;
        let index_dir = store.path();
        Ok(Engine {
            store,
            options: EngineOptions {
                data_dir: PathBuf::new(),
                index_dir,
                store: None,
                update: false,
                one_shot: false,
            },
            identity: embedder.identity().clone(),
            embedders: vec![Mutex::new(embedder)],
            snapshot: RwLock::new(Arc::new(snapshot)),
        })
    }

    /// Adds another session of the same model, so that questions asked at
    /// the same time are embedded side by side (a server does this). Each
    /// session embeds one question at a time, as the first does, so a
    /// question's vector never depends on what else is asked.
    pub fn add_model(&mut self, embedder: SharedEmbedder) -> Result<()> {
        if embedder.identity() != &self.identity {
            return Err(Error::Incompatible {
                path: self.options.index_dir.join("CURRENT"),
                what: "model",
                expected: self.identity.id(),
                found: embedder.identity().id(),
            });
        }
        self.embedders.push(Mutex::new(embedder));
        Ok(())
    }

    /// The generation answering now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The model's identity.
    pub fn model(&self) -> &ModelIdentity {
        &self.identity
    }

    /// The options the engine was opened with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Embeds one question.
    pub fn embed_question(&self, question: &str) -> Result<Vec<f32>> {
        let free = self.embedders.iter().find_map(|m| m.try_lock().ok());
        let mut embedder = match free {
            Some(e) => e,
            // All busy: wait for the first (the one with the most threads).
            None => self.embedders[0].lock().unwrap_or_else(|p| p.into_inner()),
        };
        search::embed_question(embedder.as_mut(), question)
    }

    /// Embeds one question, and gives its sparse weights too when `sparse`
    /// (the index has a sparse arm) and the model was loaded with the
    /// sparse encoder.
    fn embed_query(
        &self,
        question: &str,
        sparse: bool,
    ) -> Result<(Vec<f32>, Option<crate::model::sparse::SparseVec>)> {
        let free = self.embedders.iter().find_map(|m| m.try_lock().ok());
        let mut embedder = match free {
            Some(e) => e,
            None => self.embedders[0].lock().unwrap_or_else(|p| p.into_inner()),
        };
        let vector = search::embed_question(embedder.as_mut(), question)?;
        let weights = match sparse {
            true => search::sparse_question(embedder.as_mut(), question)?,
            false => None,
        };
        if sparse && weights.is_none() {
            log::debug!("the index has a sparse arm but no sparse model was loaded");
        }
        Ok((vector, weights))
    }

    /// Answers a question: the best Q&A pairs, best first, and whether the
    /// best is confident (views → fusion → one result per pair → abstention).
    pub fn ask(&self, question: &str, config: &SearchConfig) -> Result<Answers> {
        self.ask_timed(question, config).map(|(answers, _)| answers)
    }

    /// [`Engine::ask`], with the time each step took.
    pub fn ask_timed(&self, question: &str, config: &SearchConfig) -> Result<(Answers, Timings)> {
        config.validate()?;
        let t = std::time::Instant::now();
        let snapshot = self.snapshot();
        let (vector, sparse) = self.embed_query(question, snapshot.sparse.is_some())?;
        let embed_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = std::time::Instant::now();
        if vector.len() != snapshot.dimension() {
            return Err(Error::Incompatible {
                path: snapshot.dir.join(store::MANIFEST),
                what: "dimension",
                expected: vector.len().to_string(),
                found: snapshot.dimension().to_string(),
            });
        }
        let manifest = &snapshot.manifest;
        // A threshold given by hand is on the results' scale (0–1).
        let min_score = config.min_score.map_or(manifest.abstention.min_score, |m| {
            manifest.fusion.raw_threshold(m, snapshot.sparse.is_some())
        });
        let answers = search::retrieve(
            &snapshot,
            &vector,
            question,
            sparse.as_ref(),
            config,
            &manifest.fusion,
            min_score,
        )?;
        // Mapped files (a one-shot engine's vectors and graphs): what was
        // read from them counts only if they were intact, and still are.
        snapshot.answers_verified()?;
        let retrieve_ms = t.elapsed().as_secs_f64() * 1e3;
        Ok((
            answers,
            Timings {
                embed_ms,
                retrieve_ms,
            },
        ))
    }

    /// Closes the engine at the end of a process that exits next: the store
    /// closes as usual, but the model's memory, and a folder generation's,
    /// are left to the operating system instead of being freed piece by
    /// piece. That freeing is pure cost to a one-shot command (a runtime
    /// session and a vocabulary of 250,000 pieces are many allocations; a
    /// generation of a million pairs, 30 ms of the 120 its process took to
    /// end after answering). A generation that lives in a
    /// database is dropped, so that its connection closes cleanly. Not for
    /// a process that goes on: the memory stays taken until it exits.
    pub fn close_at_exit(self) {
        let Engine {
            embedders,
            snapshot,
            ..
        } = self;
        std::mem::forget(embedders);
        let snapshot = snapshot.into_inner().unwrap_or_else(|p| p.into_inner());
        if snapshot.remote_rows().is_none() {
            std::mem::forget(snapshot);
        }
    }

    /// What the generation answering now holds (for a server's health check).
    pub fn health(&self) -> Health {
        let snapshot = self.snapshot();
        let m = &snapshot.manifest;
        Health {
            status: "ok",
            generation: m.generation,
            documents: m.counts.documents,
            pairs: m.counts.qa_pairs,
            model: self.identity.id(),
            model_name: crate::model::catalogued(&self.identity).map_or_else(
                || self.identity.settings.name.clone(),
                |m| m.name.to_string(),
            ),
        }
    }

    /// [`Engine::refresh`] for a long-lived front end (`serve`, `mcp`): logs
    /// a switch, and a failure once until it changes or clears (`last_error`
    /// keeps it between calls), answering from the current generation.
    pub fn follow(&self, last_error: &mut String) {
        match self.refresh() {
            Ok(true) => {
                last_error.clear();
                let h = self.health();
                log::info!(
                    "answering from generation {} ({}, {})",
                    h.generation,
                    crate::error::count(h.documents, "document", "documents"),
                    crate::error::count(h.pairs, "Q&A pair", "Q&A pairs")
                );
            }
            Ok(false) => last_error.clear(),
            Err(e) => {
                let text = e.to_string();
                if text != *last_error {
                    log::warn!(
                        "the index changed but cannot be opened ({text}): still answering from generation {}",
                        self.health().generation
                    );
                    *last_error = text;
                }
            }
        }
    }

    /// Switches to the generation `CURRENT` names now, if it is another one
    /// and it opens cleanly; otherwise keeps answering from the current one.
    /// Returns whether it switched.
    pub fn refresh(&self) -> Result<bool> {
        let current = self.snapshot().manifest.generation;
        if self.store.generation()? == current {
            return Ok(false);
        }
        let snapshot = self.store.open()?;
        snapshot.check_model(&self.identity)?;
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        Ok(true)
    }

    /// Runs `f` with the model (for evaluation runners that embed themselves).
    pub fn with_embedder<R>(&self, f: impl FnOnce(&mut dyn Embedder) -> R) -> R {
        let mut embedder = self.embedders[0].lock().unwrap_or_else(|p| p.into_inner());
        f(embedder.as_mut())
    }
}

/// Helpers for the library's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::model::embed::HashEmbedder;

    /// A data folder with two bike-hire pairs under `dir`, and options for it.
    pub(crate) fn corpus(dir: &Path) -> EngineOptions {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(
            data.join("a.txt"),
            "P.\nHow much is a day pass?\nA day pass costs five euros.\nWhere are the bikes?\nThe bikes stand at the station.\n",
        )
        .unwrap();
        EngineOptions::new(data, dir.join("index"))
    }

    /// The hash embedder, as a model loader.
    pub(crate) fn hash() -> Result<SharedEmbedder> {
        Ok(Box::new(HashEmbedder::new(64)))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{corpus, hash};
    use super::*;
    use crate::model::embed::HashEmbedder;

    #[test]
    fn opens_builds_answers_and_refreshes() {
        let dir = tempfile::tempdir().unwrap();
        let options = corpus(dir.path());
        let engine = Engine::open(&options, hash).unwrap();
        let a = engine
            .ask("day pass price", &SearchConfig::default())
            .unwrap();
        assert_eq!(a.results[0].question, "How much is a day pass?");
        assert!(!engine.refresh().unwrap(), "nothing new");
        // Another process (here: a build) switches the index.
        std::fs::write(
            options.data_dir.join("b.txt"),
            "P.\nIs there a night bus?\nThe night bus runs hourly.\n",
        )
        .unwrap();
        let mut e = HashEmbedder::new(64);
        build_index(
            &options,
            &mut e,
            &IndexConfig::default(),
            &mut crate::progress::NoProgress,
        )
        .unwrap();
        assert!(engine.refresh().unwrap());
        let a = engine.ask("night bus", &SearchConfig::default()).unwrap();
        assert_eq!(a.results[0].question, "Is there a night bus?");
    }

    #[test]
    fn answers_from_many_threads_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&corpus(dir.path()), hash).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20 {
                        let a = engine.ask("where bikes", &SearchConfig::default()).unwrap();
                        assert_eq!(a.results[0].question, "Where are the bikes?");
                    }
                });
            }
        });
    }

    #[test]
    fn status_is_decided_in_one_place() {
        let dir = tempfile::tempdir().unwrap();
        let options = corpus(dir.path());
        assert!(
            !status(&options.data_dir, &options.index_dir)
                .unwrap()
                .exists
        );
        drop(Engine::open(&options, hash).unwrap());
        assert!(status(&options.data_dir, &options.index_dir).unwrap().fresh);
        std::fs::write(options.data_dir.join("a.txt"), "P.\nNew?\nYes.\n").unwrap();
        let s = status(&options.data_dir, &options.index_dir).unwrap();
        assert!(!s.fresh);
        assert_eq!(s.documents.unwrap().changed, 1);
        // Without updates the engine answers from the index as it is.
        let stale = EngineOptions {
            update: false,
            ..options.clone()
        };
        let engine = Engine::open(&stale, hash).unwrap();
        let a = engine.ask("day pass", &SearchConfig::default()).unwrap();
        assert_eq!(a.results[0].question, "How much is a day pass?");
    }
}

#[cfg(test)]
#[path = "engine_one_shot_tests.rs"]
mod one_shot_tests;
