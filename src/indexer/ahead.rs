//! The previous generation opened while the corpus is parsed: an update
//! needs both, and neither needs the other until planning, so a folder's
//! current generation is read and checked on a thread of its own (on two
//! cores, reading and checking every vector beside parsing every file).
//! What it opened is used only if it is still current once the writer lock
//! is held; otherwise, or when opening failed, the build opens the index
//! itself, as it would have, so errors are reported the same way.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Instant;

use super::*;

/// When a build began, and what it started reading before the corpus was
/// parsed.
#[derive(Debug)]
pub struct Begun {
    /// The build's clock (its summary's seconds).
    pub at: Instant,
    /// The previous generation being opened, if any.
    pub ahead: Ahead,
}

impl Begun {
    /// A build beginning now, with nothing read ahead.
    pub fn now() -> Begun {
        Begun {
            at: Instant::now(),
            ahead: Ahead::default(),
        }
    }

    /// A build of the folder `index_dir` beginning now, its current
    /// generation opened ahead ([`Ahead::open`]).
    pub fn opening(index_dir: &Path, config: &IndexConfig) -> Begun {
        Begun {
            at: Instant::now(),
            ahead: Ahead::open(index_dir, config),
        }
    }
}

/// A generation being opened ahead of the build (or none).
#[derive(Debug, Default)]
pub struct Ahead(Option<Opening>);

#[derive(Debug)]
struct Opening {
    index_dir: PathBuf,
    /// `CURRENT` as it was before the generation was opened, and the
    /// generation.
    opened: JoinHandle<Option<(Vec<u8>, Result<Snapshot>)>>,
}

impl Ahead {
    /// Starts opening the current generation of the folder `index_dir`,
    /// unless `config` asks for a full build or there is no index.
    pub fn open(index_dir: &Path, config: &IndexConfig) -> Ahead {
        if config.full || !store::exists(index_dir) {
            return Ahead(None);
        }
        let dir = index_dir.to_path_buf();
        let opened = std::thread::Builder::new()
            .name("qasearch-open".into())
            .spawn(move || {
                let pointer = store::current_pointer(&dir)?;
                Some((pointer, store::open(&dir)))
            });
        Ahead(opened.ok().map(|opened| Opening {
            index_dir: index_dir.to_path_buf(),
            opened,
        }))
    }

    /// The generation opened, when it was opened without error and is
    /// still the current one of `index_dir` (to be asked with the writer
    /// lock held, when no other writer can move `CURRENT`).
    pub(super) fn take(self, index_dir: &Path) -> Option<Snapshot> {
        let Opening {
            index_dir: dir,
            opened,
        } = self.0?;
        let (pointer, snapshot) = opened.join().ok()??;
        let snapshot = snapshot.ok()?;
        let current = dir == index_dir && store::current_pointer(index_dir)? == pointer;
        if !current {
            log::debug!("the index changed while it was opened ahead: opening it again");
        }
        current.then_some(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::embed::HashEmbedder;
    use crate::progress::NoProgress;

    fn config() -> IndexConfig {
        IndexConfig::default()
    }

    #[test]
    fn a_generation_opened_ahead_is_used_only_while_it_is_current() {
        let dir = tempfile::tempdir().unwrap();
        let (data, index) = (dir.path().join("data"), dir.path().join("index"));
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("a.txt"), "Para.\nQ: Who?\nA: Ann did it.\n").unwrap();
        let mut embedder = HashEmbedder::new(32);
        assert!(
            Ahead::open(&index, &config()).take(&index).is_none(),
            "no index yet"
        );
        build(&data, &index, &mut embedder, &config(), &mut NoProgress).unwrap();
        let first = store::open(&index).unwrap().dir;

        let ahead = Ahead::open(&index, &config());
        let full = IndexConfig {
            full: true,
            ..config()
        };
        assert!(
            Ahead::open(&index, &full).take(&index).is_none(),
            "a full build opens nothing"
        );
        assert_eq!(ahead.take(&index).map(|s| s.dir), Some(first.clone()));

        // Another generation committed after the opening started: not used.
        let stale = Ahead::open(&index, &config());
        std::fs::write(data.join("b.txt"), "Para.\nQ: Where?\nA: In Rome.\n").unwrap();
        build(&data, &index, &mut embedder, &config(), &mut NoProgress).unwrap();
        assert!(stale.take(&index).is_none());
        let other = dir.path().join("other");
        assert!(
            Ahead::open(&index, &config()).take(&other).is_none(),
            "another folder"
        );
    }
}
