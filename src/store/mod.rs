//! Where an index lives: the seam between the engine and its storage.
//!
//! Two stores fill it in: [`Folder`], the index folder on disk (the default,
//! [`crate::store`]), and [`crate::store::pg::Postgres`], a PostgreSQL database with
//! pgvector. The engine, the retrieval views, fusion, abstention and `eval`
//! see only [`Store`] and the [`Snapshot`] it opens; a database's snapshot
//! searches its vectors there (through [`crate::store::RemoteRows`]).
//!
//! [`open`] picks one from a location: a `postgres://` or `postgresql://` URL
//! is a database, anything else a folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::corpus::{Corpus, Warning};
use crate::error::Result;
use crate::indexer::{IndexConfig, IndexSummary, Progress};
use crate::model::embed::Embedder;
mod folder;
pub mod pg;

pub use folder::*;

/// An index's storage.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Where it is, for messages: a folder, or a URL without its password.
    fn location(&self) -> String;

    /// The path errors name (the folder, or the URL as a path).
    fn path(&self) -> PathBuf {
        PathBuf::from(self.location())
    }

    /// Whether it holds an index (of whatever version: a foreign one is an
    /// error when read).
    fn exists(&self) -> Result<bool>;

    /// The current generation's manifest, without its rows.
    fn read_manifest(&self) -> Result<Manifest>;

    /// The current generation's number (what a server polls).
    fn generation(&self) -> Result<u64> {
        Ok(self.read_manifest()?.generation)
    }

    /// Opens and checks the current generation.
    fn open(&self) -> Result<Snapshot>;

    /// Builds or updates the index of `corpus`, read from `data_dir`
    /// (embedding only what changed). One writer at a time: another gets
    /// [`crate::Error::Busy`]; on any error the previous generation stays
    /// current.
    fn build(
        &self,
        corpus: Corpus,
        data_dir: &Path,
        embedder: &mut dyn Embedder,
        config: &IndexConfig,
        progress: &mut dyn Progress,
    ) -> Result<(IndexSummary, Vec<Warning>)>;

    /// Opens the current generation with its vectors in memory (what
    /// `export` reads); the folder's are mapped anyway.
    fn open_with_vectors(&self) -> Result<Snapshot> {
        self.open()
    }

    /// Returns once no other process is writing.
    fn wait_for_writer(&self) -> Result<()>;

    /// Checks what [`Store::open`] takes on trust because checking costs a
    /// pass over the store (`status` calls it). The folder's files are all
    /// checked at open; the database's row table is counted here.
    fn verify(&self) -> Result<()> {
        Ok(())
    }

    /// Settings of the store that make it answer slower than it could, each
    /// with the change to make (none for the folder).
    fn advice(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// The store at `store` (a database URL or connection string) or, without
/// one, the folder `index_dir`. An empty `store` is a usage error.
pub fn at(store: Option<&str>, index_dir: &Path) -> Result<Arc<dyn Store>> {
    match store {
        Some(url) => Ok(Arc::new(
            crate::store::pg::Postgres::connect(url, None)?.with_seed(index_dir),
        )),
        None => Ok(Arc::new(Folder::new(index_dir))),
    }
}

/// The index folder (see [`crate::store`]).
#[derive(Debug, Clone)]
pub struct Folder {
    dir: PathBuf,
}

impl Folder {
    /// The index folder at `dir` (nothing is touched until it is used).
    pub fn new(dir: impl Into<PathBuf>) -> Folder {
        Folder { dir: dir.into() }
    }
}

impl Store for Folder {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn path(&self) -> PathBuf {
        self.dir.clone()
    }

    fn exists(&self) -> Result<bool> {
        Ok(folder::exists(&self.dir))
    }

    fn read_manifest(&self) -> Result<Manifest> {
        folder::read_manifest(&self.dir)
    }

    fn open(&self) -> Result<Snapshot> {
        folder::open(&self.dir)
    }

    fn build(
        &self,
        corpus: Corpus,
        data_dir: &Path,
        embedder: &mut dyn Embedder,
        config: &IndexConfig,
        progress: &mut dyn Progress,
    ) -> Result<(IndexSummary, Vec<Warning>)> {
        let started = std::time::Instant::now();
        crate::indexer::check_overlap(data_dir, &self.dir)?;
        crate::indexer::build_corpus(
            corpus, data_dir, &self.dir, embedder, config, progress, started,
        )
    }

    fn wait_for_writer(&self) -> Result<()> {
        drop(WriterLock::wait(&self.dir)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_that_is_not_postgresql_is_a_usage_error_without_its_secret() {
        for bad in ["mysql://u:secret@h/db", "", "./secret-folder"] {
            let e = at(Some(bad), Path::new("index")).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::Usage, "{e}");
            assert!(e.to_string().contains("--store"), "{e}");
            assert!(!e.to_string().contains("secret"), "{e}");
        }
    }
}
