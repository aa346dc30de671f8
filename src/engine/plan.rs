//! What the index needs before an engine can answer ([`plan`]: nothing,
//! a build, or an update), decided without the model; and a one-shot
//! engine's opening begun beside that decision ([`opening_ahead`]).

use std::sync::Arc;

use super::{file_freshness, EngineOptions};
use crate::error::{Error, Result};
use crate::indexer::{BuildTarget, Changes, IndexConfig};
use crate::model::ModelIdentity;
use crate::store::{self, Snapshot, Store};

/// What the index needs before it can answer.
pub(super) enum Plan {
    /// Usable as it is; the model that made it, and the generation found.
    Ready(ModelIdentity, u64),
    /// No index yet (or one of an older format): build it.
    Build,
    /// The data changed: update with the index's own settings.
    Update(Changes, IndexConfig, ModelIdentity),
}

/// Decides, without the model, what the index needs.
pub(super) fn plan(options: &EngineOptions, store: &dyn Store) -> Result<Plan> {
    if !store.exists()? {
        return Ok(Plan::Build);
    }
    let manifest = match store.read_manifest() {
        Ok(m) => m,
        // An index of an older qasearch is rebuilt; a newer one is refused
        // (rebuilding would take it from the qasearch that made it).
        Err(Error::Incompatible {
            what: "format version",
            found,
            ..
        }) if options.update
            && found
                .parse::<u32>()
                .is_ok_and(|v| v < store::FORMAT_VERSION) =>
        {
            log::info!(
                "the index at {} was made by an earlier qasearch (format {found}): rebuilding it",
                store.location()
            );
            return Ok(Plan::Build);
        }
        Err(e) => return Err(e),
    };
    if !options.update {
        return Ok(Plan::Ready(manifest.model, manifest.generation));
    }
    match file_freshness(&options.data_dir, &manifest) {
        Ok(f) if f.is_fresh() => Ok(Plan::Ready(manifest.model, manifest.generation)),
        Ok(f) => Ok(Plan::Update(
            f.files,
            IndexConfig::kept_from(&manifest),
            manifest.model,
        )),
        Err(Error::DataMissing { path }) => {
            log::warn!(
                "data folder {} not found: answering from the index as it was built",
                path.display()
            );
            Ok(Plan::Ready(manifest.model, manifest.generation))
        }
        Err(e) => Err(e),
    }
}

/// A one-shot engine's opening of the current generation, begun on a
/// thread of its own before the plan asks whether the data folder changed:
/// most questions find the index fresh, and the opening (at a million
/// pairs, its vectors' check above all) took as long again as the walk of
/// the folder it waited for. None for an engine that answers for long, or
/// a store whose opening copies the index (an update would then hold it
/// twice), where there is no index yet, or where no thread can be had.
pub(super) fn opening_ahead(
    options: &EngineOptions,
    store: &Arc<dyn BuildTarget>,
) -> Option<Ahead> {
    if !options.one_shot || !store.opens_mapped() || !store.exists().unwrap_or(false) {
        return None;
    }
    let (store, abandon) = (store.clone(), store::Abandon::default());
    let mine = abandon.clone();
    let thread = std::thread::Builder::new()
        .name("qasearch-open".into())
        .spawn(move || store.open_mapped_unless(&mine))
        .ok()?;
    Some(Ahead { thread, abandon })
}

/// An opening begun by [`opening_ahead`].
#[derive(Debug)]
pub(super) struct Ahead {
    pub(super) thread: std::thread::JoinHandle<Result<Snapshot>>,
    pub(super) abandon: store::Abandon,
}

impl Ahead {
    /// Not wanted (the plan updates or builds first): the opening gives up
    /// at its next step, its vectors' check stops reading, and the thread
    /// is left to end on its own, so that neither takes the cores from the
    /// update (at a million pairs it did: 1.5 s of work beside it).
    pub(super) fn abandon(self) {
        self.abandon.set();
    }
}

/// The generation [`opening_ahead`] opened, if it is the one the plan found
/// ready (`generation`: an update may have committed another meanwhile)
/// and opened without error; None otherwise, and the engine opens it
/// again, as it would have without the thread (an error is then told as
/// that opening meets it). An opening not wanted is abandoned instead
/// ([`Ahead::abandon`]).
pub(super) fn opened_ahead(ahead: Option<Ahead>, generation: u64) -> Option<Result<Snapshot>> {
    match ahead?.thread.join() {
        Ok(Ok(snapshot)) if snapshot.manifest.generation == generation => Some(Ok(snapshot)),
        _ => None,
    }
}
