//! Walking a data folder: which files are documents, in a stable order, with
//! a fingerprint of each (size, time, identity) for change detection.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::*;
use crate::error::{Error, IoContext, Result};

/// Kind of corpus file, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Txt,
    Jsonl,
    Csv,
    Tsv,
    Json,
    Markdown,
}

impl Format {
    /// The name of the format in counts and messages.
    pub(super) fn name(self) -> &'static str {
        match self {
            Format::Txt => "txt",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Markdown => "markdown",
        }
    }
}

/// The file types a data folder may hold, for messages.
pub const SUPPORTED: &str = ".txt, .md, .csv, .tsv, .json, .jsonl";

pub(super) fn format_of(path: &Path) -> Option<Format> {
    const KNOWN: [(&str, Format); 7] = [
        ("txt", Format::Txt),
        ("jsonl", Format::Jsonl),
        ("csv", Format::Csv),
        ("tsv", Format::Tsv),
        ("json", Format::Json),
        ("md", Format::Markdown),
        ("markdown", Format::Markdown),
    ];
    let extension = path.extension()?.to_str()?;
    (KNOWN.iter())
        .find(|(known, _)| known.eq_ignore_ascii_case(extension))
        .map(|&(_, format)| format)
}

/// The corpus files found under a data folder (no content read yet).
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The files, ordered by path; paths are unique.
    pub files: Vec<SourceFile>,
    /// Where each file is (same order).
    pub paths: Vec<PathBuf>,
    /// Entries skipped while walking.
    pub warnings: Vec<Warning>,
    /// Files of types qasearch does not read, relative to the data folder.
    pub unsupported: Vec<String>,
    /// The data folder, canonical: no file outside it is ever read.
    pub root: PathBuf,
    /// When the walk began, nanoseconds since the Unix epoch: a file whose
    /// times are not older than this may change unseen after it was read
    /// ([`Recorded::read_at_ns`]).
    pub started_ns: u64,
}

/// Lists the corpus files under `root` with their size and modification time
/// (no content is read). Used for the quick freshness check.
pub fn scan(root: &Path) -> Result<Scan> {
    let started_ns = unix_ns(std::time::SystemTime::now());
    let canon_root = readable_root(root)?;
    let mut files = Vec::new();
    let mut abs = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = foldhash::HashSet::default();
    let mut unsupported = Vec::new();
    // Linked folders that lead outside are pruned before the walk enters them.
    let pruned = std::cell::RefCell::new(Vec::new());
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        // By name: siblings' paths are their folder's path joined with
        // their names, so comparing whole paths orders them as their names
        // do, without parsing each path for its name at every comparison
        // (as `sort_by_file_name` does).
        .sort_by(|a, b| a.path().as_os_str().cmp(b.path().as_os_str()))
        .into_iter()
        .filter_entry(|e| enters(e, root, &canon_root, &mut pruned.borrow_mut()));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let file = e
                    .path()
                    .map(|p| rel(root, p))
                    .unwrap_or_else(|| root.display().to_string());
                warnings.push(Warning {
                    file,
                    line: None,
                    message: format!("skipped: {e}"),
                });
                continue;
            }
        };
        if entry.depth() == 0 || !entry.file_type().is_file() {
            continue;
        }
        if format_of(entry.path()).is_none() {
            unsupported.push(rel(root, entry.path()));
            continue;
        }
        if let Some(file) = source_file(&entry, root, &canon_root, &mut seen, &mut warnings) {
            files.push(file);
            abs.push(entry.path().to_path_buf());
        }
    }
    warnings.extend(pruned.into_inner());
    let mut paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    make_unique(&mut paths);
    for (f, p) in files.iter_mut().zip(paths) {
        f.path = p;
    }
    Ok(Scan {
        files,
        paths: abs,
        warnings,
        unsupported,
        root: canon_root,
        started_ns,
    })
}

/// Nanoseconds since the Unix epoch (0 before it).
fn unix_ns(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// `root`, canonical, once it is known to be a folder that can be listed.
fn readable_root(root: &Path) -> Result<PathBuf> {
    let meta = std::fs::metadata(root).map_err(|_| Error::DataMissing {
        path: root.to_path_buf(),
    })?;
    if !meta.is_dir() {
        return Err(Error::DataMissing {
            path: root.to_path_buf(),
        });
    }
    let canon_root = root.canonicalize().at("reading", root)?;
    // An unreadable folder is an error of its own, not an empty corpus.
    if let Err(source) = std::fs::read_dir(root) {
        return Err(Error::DataUnreadable {
            path: root.to_path_buf(),
            source,
        });
    }
    Ok(canon_root)
}

/// Whether the walk enters `e`: not hidden, and not a linked folder leading
/// outside the data folder (those are noted in `pruned`).
fn enters(
    e: &walkdir::DirEntry,
    root: &Path,
    canon_root: &Path,
    pruned: &mut Vec<Warning>,
) -> bool {
    if e.depth() == 0 {
        return true;
    }
    if e.file_name().as_encoded_bytes().first() == Some(&b'.') {
        return false;
    }
    if e.path_is_symlink() && e.file_type().is_dir() {
        let inside = e
            .path()
            .canonicalize()
            .is_ok_and(|c| c.starts_with(canon_root));
        if !inside {
            pruned.push(Warning {
                file: rel(root, e.path()),
                line: None,
                message: "skipped: symbolic link leads outside the data folder".into(),
            });
        }
        return inside;
    }
    true
}

/// The corpus file at `entry`, or None for an entry that is not one (another
/// type, a link leading outside, a file already seen under another name).
fn source_file(
    entry: &walkdir::DirEntry,
    root: &Path,
    canon_root: &Path,
    seen: &mut foldhash::HashSet<(u64, u64, PathBuf)>,
    warnings: &mut Vec<Warning>,
) -> Option<SourceFile> {
    let path = entry.path();
    let relpath = rel(root, path);
    // A linked file is read only when it leads inside the folder (linked
    // folders leading outside were pruned above); each real file once.
    if entry.path_is_symlink() {
        match path.canonicalize() {
            Ok(c) if c.starts_with(canon_root) => {}
            Ok(_) => {
                warnings.push(Warning::skipped_file(
                    relpath,
                    "symbolic link leads outside the data folder",
                ));
                return None;
            }
            Err(e) => {
                warnings.push(Warning::skipped_file(relpath, e));
                return None;
            }
        }
    }
    let md = match entry.metadata() {
        Ok(m) => m,
        Err(e) => {
            warnings.push(Warning::skipped_file(relpath, e));
            return None;
        }
    };
    if !seen.insert(file_identity(path, &md)) {
        return None;
    }
    Some(SourceFile {
        path: relpath,
        size: md.len(),
        mtime_ns: md.modified().map_or(0, unix_ns),
        ctime_ns: ctime_ns(&md),
        sha256: String::new(),
        clean: false,
    })
}

/// A file's status change time, nanoseconds since the Unix epoch (0 where
/// the system has none).
#[cfg(unix)]
fn ctime_ns(md: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let (s, ns) = (md.ctime(), md.ctime_nsec());
    u64::try_from(s)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000)?.checked_add(ns as u64))
        .unwrap_or(0)
}

#[cfg(not(unix))]
fn ctime_ns(_md: &std::fs::Metadata) -> u64 {
    0
}

/// Makes every string of `keys` unique, keeping the first of equal ones as it
/// is and giving the others a suffix `~2`, `~3`, … that no other key has.
/// Deterministic: the same input gives the same keys.
pub fn make_unique(keys: &mut [String]) {
    // Most often they are unique already (a folder's paths are).
    let mut distinct: foldhash::HashSet<&str> = foldhash::HashSet::default();
    distinct.reserve(keys.len());
    if keys.iter().all(|k| distinct.insert(k)) {
        return;
    }
    let mut taken: HashSet<String> = keys.iter().cloned().collect();
    let mut first_seen = HashSet::new();
    for key in keys.iter_mut() {
        if first_seen.insert(key.clone()) {
            continue;
        }
        let mut n = 2u64;
        let fresh = loop {
            let candidate = format!("{key}~{n}");
            if !taken.contains(&candidate) {
                break candidate;
            }
            n += 1;
        };
        taken.insert(fresh.clone());
        first_seen.insert(fresh.clone());
        *key = fresh;
    }
}

/// What makes two paths the same file: device and inode on Unix, the
/// canonical path elsewhere.
#[cfg(unix)]
pub(super) fn file_identity(_path: &Path, md: &std::fs::Metadata) -> (u64, u64, PathBuf) {
    use std::os::unix::fs::MetadataExt;
    (md.dev(), md.ino(), PathBuf::new())
}

#[cfg(not(unix))]
pub(super) fn file_identity(path: &Path, _md: &std::fs::Metadata) -> (u64, u64, PathBuf) {
    (
        0,
        0,
        path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
    )
}

/// The path relative to the data folder, `/`-separated. Bytes of a name that
/// are not UTF-8 are written as `\xNN`, so names differing only there stay
/// different (equal results are made unique by [`make_unique`]).
pub(super) fn rel(root: &Path, path: &Path) -> String {
    let r = path.strip_prefix(root).unwrap_or(path);
    // A walk's path below its root is names joined by `/`: UTF-8, it is
    // already what joining its escaped components gives.
    if let Some(s) = r.to_str().filter(|s| cfg!(unix) && plain(s)) {
        return s.to_string();
    }
    r.components()
        .map(|c| escape_os(c.as_os_str()))
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `s` is names joined by single `/`s, none of them `.` (so that
/// its components, joined by `/`, give it back).
fn plain(s: &str) -> bool {
    s.split('/').all(|name| !name.is_empty() && name != ".")
}

pub(super) fn escape_os(name: &std::ffi::OsStr) -> String {
    if let Some(s) = name.to_str() {
        return s.to_string();
    }
    #[cfg(unix)]
    {
        use std::fmt::Write;
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::new();
        for chunk in name.as_bytes().utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
        out
    }
    #[cfg(not(unix))]
    name.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension_in_any_case() {
        let format = |p: &str| format_of(Path::new(p)).map(Format::name);
        for (path, expected) in [
            ("a.txt", Some("txt")),
            ("a.TXT", Some("txt")),
            ("dir.csv/a.Md", Some("markdown")),
            ("a.MarkDown", Some("markdown")),
            ("a.JSONL", Some("jsonl")),
            ("a.json", Some("json")),
            ("a.Tsv", Some("tsv")),
            ("a.csv", Some("csv")),
            ("a.json5", None),
            ("a.txt~", None),
            ("txt", None),
            (".txt", None),
            ("a.", None),
        ] {
            assert_eq!(format(path), expected, "{path}");
        }
    }

    /// A path below the root, as joining its escaped components gives it
    /// (the plain case taken whole, the others component by component).
    #[test]
    fn relative_paths_are_their_components_joined() {
        let joined = |root: &Path, path: &Path| {
            let r = path.strip_prefix(root).unwrap_or(path);
            let parts: Vec<String> = r.components().map(|c| escape_os(c.as_os_str())).collect();
            parts.join("/")
        };
        let root = Path::new("data");
        for path in [
            "data/a.txt",
            "data/x y/ä.md",
            "data/a/./b.txt",
            "other/a.txt",
            "data//a.txt",
        ] {
            let path = Path::new(path);
            assert_eq!(rel(root, path), joined(root, path), "{}", path.display());
        }
        assert_eq!(
            rel(Path::new("data/"), Path::new("data/q/a.csv")),
            "q/a.csv"
        );
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let odd = Path::new("data").join(std::ffi::OsStr::from_bytes(b"c\xe9.txt"));
            assert_eq!(rel(root, &odd), "c\\xe9.txt");
            let odd = Path::new("data").join(std::ffi::OsStr::from_bytes(b"c\xe9/\xff.txt"));
            assert_eq!(rel(root, &odd), "c\\xe9/\\xff.txt");
        }
    }

    /// Files come depth first, each folder's entries ordered by name
    /// (bytewise), as `walkdir`'s `sort_by_file_name` orders them: a folder
    /// named as a prefix of its siblings comes before them, its files with it.
    #[test]
    fn files_come_depth_first_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("a")).unwrap();
        let made = [
            "b.txt", "ä.txt", "a/z.txt", "a.txt", "A.txt", "a b.txt", "a/c.md",
        ];
        for name in made {
            std::fs::write(root.join(name), "What?\nThat.\n").unwrap();
        }
        let listed: Vec<String> = scan(root)
            .unwrap()
            .files
            .into_iter()
            .map(|f| f.path)
            .collect();
        let expected = [
            "A.txt", "a/c.md", "a/z.txt", "a b.txt", "a.txt", "b.txt", "ä.txt",
        ];
        assert_eq!(listed, expected);
    }
}
