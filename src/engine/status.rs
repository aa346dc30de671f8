//! `qasearch status`: whether the index exists and matches the data folder,
//! without the model.

use std::path::Path;

use serde::Serialize;

use super::full_freshness;
use crate::error::Result;
use crate::indexer::Changes;
use crate::store::{self, Store};

/// What `status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The index folder.
    pub index: String,
    /// Whether an index exists.
    pub exists: bool,
    /// Whether it matches the data folder.
    pub fresh: bool,
    /// The current generation.
    pub generation: Option<u64>,
    /// When it was built (seconds since the Unix epoch).
    pub built_unix_s: Option<u64>,
    /// The model that built it.
    pub model: Option<String>,
    /// What it holds.
    pub indexed: Option<store::Counts>,
    /// Documents added, changed and removed since.
    pub documents: Option<Changes>,
    /// Corpus files added, changed and removed since.
    pub files: Option<Changes>,
    /// Settings of the store that slow it down, with what to change
    /// ([`Store::advice`]).
    pub advice: Vec<String>,
}

/// Says whether the index exists and matches the data, without the model.
/// Every file a question needs is verified: an index that cannot answer is
/// an error, not "fresh".
pub fn status(data_dir: &Path, index_dir: &Path) -> Result<Status> {
    status_of(data_dir, &crate::store::Folder::new(index_dir))
}

/// [`status`] of any store.
pub fn status_of(data_dir: &Path, store: &dyn Store) -> Result<Status> {
    let index = store.location();
    if !store.exists()? {
        return Ok(Status {
            index,
            exists: false,
            fresh: false,
            generation: None,
            built_unix_s: None,
            model: None,
            indexed: None,
            documents: None,
            files: None,
            advice: Vec::new(),
        });
    }
    let manifest = store.open()?.manifest;
    store.verify()?;
    let f = full_freshness(data_dir, &manifest)?;
    Ok(Status {
        index,
        exists: true,
        fresh: f.is_fresh(),
        generation: Some(manifest.generation),
        built_unix_s: Some(manifest.created_unix_s),
        model: Some(manifest.model.id()),
        indexed: Some(manifest.counts),
        documents: f.documents,
        files: Some(f.files),
        advice: store.advice().unwrap_or_else(|e| {
            log::debug!("no advice on the store's settings: {e}");
            Vec::new()
        }),
    })
}
