//! Building into a store: the indexer's side of the [`Store`] seam.
//!
//! [`Store`] reads an index back; [`BuildTarget`] adds the one method that
//! writes one, which needs the whole indexer (the plan, the embedder, the
//! graph, the calibration that runs the search pipeline), so it lives here,
//! above search, rather than in [`crate::store`].

use std::path::Path;
use std::sync::Arc;

use super::{build_corpus, check_overlap, Begun, IndexConfig, IndexSummary};
use crate::corpus::{Corpus, Warning};
use crate::error::Result;
use crate::model::embed::Embedder;
use crate::progress::Progress;
use crate::store::pg::Postgres;
use crate::store::{Folder, Store};

/// A store an index can be built into.
pub trait BuildTarget: Store {
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
        begun: Begun,
    ) -> Result<(IndexSummary, Vec<Warning>)>;

    /// Begins a build, before the corpus is parsed: starts what can be read
    /// meanwhile (a folder opens its current generation on a thread of its
    /// own, see [`super::Ahead`]). Give the result to [`BuildTarget::build`].
    fn begin(&self, _config: &IndexConfig) -> Begun {
        Begun::now()
    }
}

/// The store at `store` (a database URL or connection string) or, without
/// one, the folder `index_dir`. An empty `store` is a usage error.
pub fn at(store: Option<&str>, index_dir: &Path) -> Result<Arc<dyn BuildTarget>> {
    match store {
        Some(url) => Ok(Arc::new(Postgres::connect(url, None)?.with_seed(index_dir))),
        None => Ok(Arc::new(Folder::new(index_dir))),
    }
}

impl BuildTarget for Folder {
    fn build(
        &self,
        corpus: Corpus,
        data_dir: &Path,
        embedder: &mut dyn Embedder,
        config: &IndexConfig,
        progress: &mut dyn Progress,
        begun: Begun,
    ) -> Result<(IndexSummary, Vec<Warning>)> {
        let dir = self.path();
        check_overlap(data_dir, &dir)?;
        build_corpus(corpus, data_dir, &dir, embedder, config, progress, begun)
    }

    fn begin(&self, config: &IndexConfig) -> Begun {
        Begun::opening(&self.path(), config)
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
            let named = crate::error::Setting::Store.to_string();
            assert!(e.to_string().starts_with(&named), "{e}");
            assert!(!e.to_string().contains("secret"), "{e}");
        }
    }
}
