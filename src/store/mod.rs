//! Where an index is kept, and how it is read back.
//!
//! Takes a finished generation (a [`Snapshot`] the indexer made); gives it
//! back, checked, to search. Two stores fill the [`Store`] seam: [`Folder`],
//! the index folder on disk (the default: generations, manifest and writer
//! lock below), and [`pg::Postgres`], a PostgreSQL database with pgvector,
//! whose snapshot searches its vectors there (through [`RemoteRows`]).
//! Building into a store is the indexer's side of the seam
//! ([`crate::indexer::BuildTarget`]), which sits above search because a build
//! calibrates with it.
//!
//! Imports [`crate::corpus`] (file fingerprints), [`crate::model`] (the
//! identity an index records) and [`crate::index`] (what it holds).

use std::path::PathBuf;

use crate::error::Result;
mod checked;
pub mod checkpoint;
mod failpoint;
mod folder;
mod lock;
mod manifest;
mod matrix;
pub mod meta_columns;
pub mod meta_delta;
pub mod pg;
mod rest;
mod row_key;
pub mod segments;
mod sigbus;
mod snapshot;

pub use folder::*;
pub use lock::*;
pub use manifest::*;
pub use matrix::{matrix_with_capacity, Matrix};
pub(crate) use row_key::row_key;
pub use row_key::{row_key_of, Made, RowKey};
pub use snapshot::*;

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

    /// Opens the current generation for a process that asks a few questions
    /// and exits: the folder maps its vectors and graphs
    /// ([`folder::open_mapped`]), so an answer is given only once
    /// [`Snapshot::answers_verified`] says they were intact. Elsewhere as
    /// [`Store::open`].
    fn open_mapped(&self) -> Result<Snapshot> {
        self.open()
    }

    /// Whether [`Store::open_mapped`] maps rather than copies (the folder):
    /// cheap enough to begin before it is known to be wanted.
    fn opens_mapped(&self) -> bool {
        false
    }

    /// [`Store::open_mapped`] begun before it is known to be wanted: gives
    /// up at its next step once `abandon` is set
    /// ([`folder::open_mapped_unless`]). Elsewhere as `open_mapped`.
    fn open_mapped_unless(&self, abandon: &Abandon) -> Result<Snapshot> {
        let _ = abandon;
        self.open_mapped()
    }

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

    fn open_mapped(&self) -> Result<Snapshot> {
        folder::open_mapped(&self.dir)
    }

    fn opens_mapped(&self) -> bool {
        true
    }

    fn open_mapped_unless(&self, abandon: &Abandon) -> Result<Snapshot> {
        folder::open_mapped_unless(&self.dir, abandon)
    }

    fn wait_for_writer(&self) -> Result<()> {
        drop(WriterLock::wait(&self.dir)?);
        Ok(())
    }
}
