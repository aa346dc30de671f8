//! What changed since the last build: files, documents, and whether an
//! index is fresh.

use super::*;

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
/// cheaply: only files whose size or times differ are hashed. A file that
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
        // The status change time, where recorded: a file rewritten with
        // its size kept and its modification time set back is hashed.
        let same_stat = o.size == f.size
            && o.mtime_ns == f.mtime_ns
            && (o.ctime_ns == 0 || o.ctime_ns == f.ctime_ns);
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
