//! Building into a PostgreSQL store: the plan against the rows it holds,
//! embedding what is new, then one transaction of rows
//! ([`Postgres::write`](crate::store::pg::Postgres)).

use std::path::Path;

use super::target::BuildTarget;
use super::{GraphMode, IndexConfig, IndexSummary};
use crate::corpus::{Corpus, Warning};
use crate::error::{Error, Result};
use crate::model::embed::Embedder;
use crate::progress::Progress;
use crate::store::pg::Postgres;
use crate::store::{self, Snapshot, Store};

impl BuildTarget for Postgres {
    fn build(
        &self,
        corpus: Corpus,
        data_dir: &Path,
        embedder: &mut dyn Embedder,
        config: &IndexConfig,
        progress: &mut dyn Progress,
        begun: super::Begun,
    ) -> Result<(IndexSummary, Vec<Warning>)> {
        config.hnsw.validate()?;
        let started = begun.at;
        super::check_not_empty(&corpus, data_dir)?;
        let identity = embedder.identity().clone();
        let mut client = self.writer()?;
        self.ensure_schema(&mut client, embedder.dimension())?;

        // What the store holds now, and whether its vectors can be reused.
        let (held, full_reason) = held_manifest(self, &identity, config)?;
        // Unchanged: nothing to do (planned without the vectors).
        if let Some(manifest) = &held {
            if is_unchanged(self, &corpus, manifest, config)? {
                // A vector index a killed build left unfinished is finished now.
                self.ensure_indexes(&mut client, &manifest.hnsw, progress)?;
                let warning = super::language_warning(&corpus, &*embedder);
                return Ok((
                    IndexSummary::unchanged(manifest, &corpus, started, self.location(), warning),
                    corpus.warnings,
                ));
            }
        }
        // The vectors to reuse: the store's, or else an index folder's.
        let mut previous = match held {
            Some(_) => Some(self.read_with_vectors()?),
            None if config.full => None,
            None => seed_snapshot(self, &identity),
        };
        let from_folder = held.is_none() && previous.is_some();
        let mut checkpoint = checkpoint_of(self, &identity, embedder.dimension(), config);
        let made = super::make_generation(
            &corpus,
            data_dir,
            previous.as_mut(),
            embedder,
            config,
            super::Making {
                graph: GraphMode::None,
                checkpoint: checkpoint.as_mut(),
            },
            progress,
        )?;
        let summary = match made {
            Some(mut m) => {
                let number = self.write(&mut client, &mut m.snapshot, progress)?;
                m.snapshot.manifest.generation = number;
                m.full_reason = m.full_reason.or(full_reason);
                m.summary(&corpus, started, self.location())
            }
            // The folder's generation is current: it moves as it is.
            None => {
                let mut generation =
                    previous.expect("invariant: unchanged means a previous generation");
                let number = self.write(&mut client, &mut generation, progress)?;
                generation.manifest.generation = number;
                let mut s = IndexSummary::unchanged(
                    &generation.manifest,
                    &corpus,
                    started,
                    self.location(),
                    super::language_warning(&corpus, &*embedder),
                );
                s.graph = "loaded";
                s
            }
        };
        if let Some(c) = checkpoint {
            c.remove();
        }
        if from_folder {
            log::info!(
                "vectors taken from the index folder {} where it had them",
                self.seed().unwrap_or(Path::new("")).display()
            );
        }
        // Said once the indexes are built, when their size is known; a
        // failure to read the settings does not fail the build.
        match self.cache_advice() {
            Ok(advice) => advice.iter().for_each(|a| log::warn!("{a}")),
            Err(e) => log::debug!("no advice on the server's settings: {e}"),
        }
        Ok((summary, corpus.warnings))
    }
}

/// The build's checkpoint in the store. It needs a connection of its own;
/// without one the build goes on, and a kill costs what it embedded.
fn checkpoint_of(
    pg: &Postgres,
    identity: &crate::model::ModelIdentity,
    dimension: usize,
    config: &IndexConfig,
) -> Option<super::checkpoint::Checkpoint> {
    match pg.checkpoint_storage() {
        Ok(storage) => Some(super::checkpoint::Checkpoint::in_storage(
            storage,
            identity,
            dimension,
            config.checkpoint,
        )),
        Err(e) => {
            log::warn!("{e}; this build keeps no checkpoint");
            None
        }
    }
}

/// The manifest the store holds when its vectors can be reused, else None
/// with the reason for a full build; a store of another model is an error
/// unless the build is full.
fn held_manifest(
    pg: &Postgres,
    identity: &crate::model::ModelIdentity,
    config: &IndexConfig,
) -> Result<(Option<store::Manifest>, Option<String>)> {
    let Some((schema, json)) = pg.state()? else {
        return Ok((None, None));
    };
    match pg.manifest_of(schema, json) {
        Ok(m) if m.model != *identity && !config.full => Err(Error::Incompatible {
            path: pg.location().into(),
            what: "model",
            expected: identity.id(),
            found: m.model.id(),
        }),
        Ok(_) if config.full => Ok((None, Some("a full rebuild was asked".to_string()))),
        Ok(m) => Ok((Some(m), None)),
        Err(e @ Error::Incompatible { .. }) if config.full => {
            Ok((None, Some(format!("the store is not usable: {e}"))))
        }
        Err(e) => Err(e),
    }
}

/// Whether `corpus` is what the store holds (planned without the vectors).
fn is_unchanged(
    pg: &Postgres,
    corpus: &Corpus,
    manifest: &store::Manifest,
    config: &IndexConfig,
) -> Result<bool> {
    let (_, meta, _, _) = pg.read_generation()?;
    let plan = super::plan(
        corpus,
        Some(super::Previous {
            manifest,
            meta: &meta,
        }),
        &IndexConfig {
            queries_apart: manifest.model.settings.roles_differ(),
            ..config.clone()
        },
    );
    Ok(plan.graph == super::GraphAction::Keep)
}

/// The seed folder's generation, when it was made by `model`.
fn seed_snapshot(store: &Postgres, model: &crate::model::ModelIdentity) -> Option<Snapshot> {
    let dir = store.seed()?;
    if !store::exists(dir) {
        return None;
    }
    match store::open(dir) {
        Ok(s) => match super::reusable(&s, model) {
            Ok(()) => Some(s),
            Err(why) => {
                log::info!("not taking vectors from {}: {why}", dir.display());
                None
            }
        },
        Err(e) => {
            log::info!("not taking vectors from {}: {e}", dir.display());
            None
        }
    }
}
