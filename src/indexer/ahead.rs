//! The previous generation opened while the data folder is walked: a
//! folder's current generation is read and checked on a thread of its own
//! while the files are listed, and then tells which files need no reading
//! (their documents are taken from it: [`corpus::Recorded`]).
//! For the plan it is used only if it is still current once the writer lock
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

    /// Reads the corpus under `data_dir`: the folder is walked while the
    /// previous generation opens, then only the files that may have
    /// changed since it was built are read; the others' documents are
    /// taken from it ([`corpus::Recorded`]: the corpus a full reading
    /// gives). Without a previous generation, every file is read.
    pub fn read_corpus(&mut self, data_dir: &Path) -> Result<Corpus> {
        let mut laps = Laps::start();
        let scan = corpus::scan(data_dir)?;
        laps.lap("scan the corpus");
        let previous = self.ahead.wait();
        laps.lap("wait for the opening");
        // The walk is done: the vectors' check now has the core the walk
        // had, while the rest of the update runs on the other.
        if let Some(s) = previous {
            s.start_vector_check();
        }
        let recorded = previous
            .filter(|s| s.manifest.read_at_ns > 0 && s.manifest.sources.iter().any(|f| f.clean))
            .map(|s| {
                let documents = reuse::documents_of(&s.meta);
                corpus::Recorded::new(s.manifest.read_at_ns, &s.manifest.sources, documents)
            });
        let corpus = corpus::read(scan, recorded);
        laps.lap("read the corpus");
        log::debug!(
            "{} of {} corpus files read, the others' documents taken from the previous generation",
            corpus.files.len() - corpus.files_taken,
            corpus.files.len()
        );
        Ok(corpus)
    }
}

/// A generation being opened ahead of the build (or none).
#[derive(Debug, Default)]
pub struct Ahead(Option<Opening>);

#[derive(Debug)]
struct Opening {
    index_dir: PathBuf,
    /// `CURRENT` as it was before the generation was opened, and the
    /// generation: being opened, or opened.
    opened: Opened,
}

/// `CURRENT` as it was before the generation was opened, and the
/// generation.
type Read = (Vec<u8>, Result<Snapshot>);

#[derive(Debug)]
enum Opened {
    Running(JoinHandle<Option<Read>>),
    Done(Option<Box<Read>>),
}

impl Opened {
    /// What the thread opened, waiting for it.
    fn join(self) -> Option<Read> {
        match self {
            Opened::Running(thread) => thread.join().ok()?,
            Opened::Done(read) => read.map(|r| *r),
        }
    }
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
                Some((pointer, store::open_for_update(&dir)))
            });
        Ahead(opened.ok().map(|opened| Opening {
            index_dir: index_dir.to_path_buf(),
            opened: Opened::Running(opened),
        }))
    }

    /// The generation opened, waiting for it: for what it recorded of the
    /// corpus (current or not). None when none was opened or opening failed.
    pub fn wait(&mut self) -> Option<&Snapshot> {
        let opening = self.0.as_mut()?;
        if let Opened::Running(_) = opening.opened {
            let running = std::mem::replace(&mut opening.opened, Opened::Done(None));
            opening.opened = Opened::Done(running.join().map(Box::new));
        }
        match &opening.opened {
            Opened::Done(Some(read)) => read.1.as_ref().ok(),
            _ => None,
        }
    }

    /// The generation opened, when it was opened without error and is
    /// still the current one of `index_dir` (to be asked with the writer
    /// lock held, when no other writer can move `CURRENT`).
    pub(super) fn take(self, index_dir: &Path) -> Option<Snapshot> {
        let Opening {
            index_dir: dir,
            opened,
        } = self.0?;
        let (pointer, snapshot) = opened.join()?;
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
