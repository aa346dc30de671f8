//! The index folder on disk: generations, manifest, checksums, atomic switch,
//! and the writer lock.
//!
//! ```text
//! <index>/
//!   CURRENT                "gen-000007 <crc32 of its manifest.json>": the commit point
//!   gen-000007/
//!     manifest.json        format version, model identity, HNSW settings, counts,
//!                          corpus fingerprints, length + CRC-32 of every other file
//!     meta.bin             documents, Q&A pairs, where each text occurs (one vector
//!                          row per distinct text): fixed-width records and one run of
//!                          texts ([`super::meta_columns`]; bincode before format 11)
//!     meta.delta.bin       after small updates, the documents changed since meta.bin was
//!                          written and which of its documents are kept (meta.bin then
//!                          linked from an earlier generation; [`super::meta_delta`])
//!     vectors.f32          row-major little-endian f32, rows × dimension (copied in, checked)
//!     vectors.000005.f32   after updates, the rows later generations added, linked
//!                          from generation to generation ([`segments`])
//!     graph.bin            the HNSW graph as flat arrays of rows, walked by queries
//!                          (copied in, checked) and read back to extend it
//!     questions.graph.bin  the same, over the stored questions (when there are some)
//!     passages.graph.bin   the same, over the passages' sentences (when there are some)
//!     graph.patch.bin      after small updates, the rows of graph.bin changed or added
//!                          since it was written (graph.bin then linked from an earlier
//!                          generation); questions.graph.patch.bin, passages.graph.patch.bin
//!                          the same for the side graphs
//!     probes.bin           bincode: rows of the main graph and the questions' with
//!                          their exact nearest rows, for the recall check of the next update
//!     passages.probes.bin  the same for the passages' graph
//!     lexical.bin          bincode: the lexical arm's inverted index
//!     lexical.delta.bin    after small updates, the lexical arm's pairs added or changed
//!                          since lexical.bin was written (lexical.bin then linked from an
//!                          earlier generation), and the pair each of its documents is now
//!     sparse.bin           bincode: the sparse arm's weights (built with `--sparse`)
//!   tmp-000008-<pid>/      a build in progress (removed by the next build if killed)
//!   .lock                  held by the one process that builds
//!   .qasearch-index        marks the folder as ours
//! ```
//!
//! qasearch writes only into a folder that is new, empty, or marked as an
//! index, and removes only entries it names itself (`gen-NNNNNN`,
//! `tmp-NNNNNN-PID`, `CURRENT.tmp`) and, inside them, only the files it
//! writes: a user's file in the folder is never touched. Every file of an
//! index is opened without following links or blocking, checked to be a
//! regular file, and read up to a limit.
//!
//! A build writes a whole new generation into a `tmp-` folder, syncs every
//! file, renames the folder to `gen-N`, then replaces `CURRENT` by an atomic
//! rename. Until that last rename readers see the previous generation; after
//! it, the new one. Old generations are removed by the next writer. Readers
//! take no lock: if a generation vanishes between reading `CURRENT` and opening
//! its files, they read `CURRENT` again.

use std::path::{Path, PathBuf};

use super::*;
use crate::error::{Error, Result};

/// What `CURRENT` points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pointer {
    pub(super) generation: u64,
    pub(super) manifest_crc: u32,
}

pub(super) fn gen_name(generation: u64) -> String {
    format!("gen-{generation:06}")
}

pub(super) fn parse_pointer(text: &str) -> Option<Pointer> {
    let line = text.strip_suffix('\n')?;
    let (name, crc) = line.split_once(' ')?;
    let digits = name.strip_prefix("gen-")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Lowercase only, as written: any other byte is damage.
    if crc.len() != 8 || !crc.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Some(Pointer {
        generation: digits.parse().ok()?,
        manifest_crc: u32::from_str_radix(crc, 16).ok()?,
    })
}

use super::checked::Checked;
use super::rest::{read_rest, GraphsIn};
use crate::safe_fs::read_limited;

/// True when an index exists at `index_dir` (it has a `CURRENT` entry, of
/// whatever kind: one that is not a valid pointer is reported as damage).
pub fn exists(index_dir: &Path) -> bool {
    std::fs::symlink_metadata(index_dir.join(CURRENT)).is_ok()
}

/// The bytes of `CURRENT` (which generation is current, and its manifest's
/// CRC), or None when it cannot be read: equal bytes, the same generation.
pub fn current_pointer(index_dir: &Path) -> Option<Vec<u8>> {
    read_limited(&index_dir.join(CURRENT), 64).ok()
}

/// Reads and verifies the manifest of the current generation only.
pub fn read_manifest(index_dir: &Path) -> Result<Manifest> {
    retry_vanished(|| read_manifest_once(index_dir).map(|(_, m)| m))
        .map_err(|e| vanished_is_damage(index_dir, e))
}

/// After retries, a file of the generation that is still missing is damage,
/// not a missing index.
pub(super) fn vanished_is_damage(index_dir: &Path, e: Error) -> Error {
    match e {
        Error::IndexMissing { path } if path.parent() != Some(index_dir) && path != index_dir => {
            Error::corrupt(
                path,
                "file is missing (the generation CURRENT points at is incomplete)",
            )
        }
        other => other,
    }
}

pub(super) fn read_manifest_once(index_dir: &Path) -> Result<(PathBuf, Manifest)> {
    let current = index_dir.join(CURRENT);
    let text = match read_limited(&current, 64) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::IndexMissing {
                path: index_dir.to_path_buf(),
            })
        }
        Err(e) => return Err(read_failed(&current, e)),
    };
    let pointer = std::str::from_utf8(&text)
        .ok()
        .and_then(parse_pointer)
        .ok_or_else(|| Error::corrupt(&current, "not a generation pointer"))?;
    let dir = index_dir.join(gen_name(pointer.generation));
    let path = dir.join(MANIFEST);
    let bytes = read_limited(&path, SMALL_FILE_LIMIT).map_err(|e| read_failed(&path, e))?;
    if crc32fast::hash(&bytes) != pointer.manifest_crc {
        return Err(Error::corrupt(&path, "checksum mismatch"));
    }
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        check_format_first(&path, &bytes).unwrap_or_else(|| Error::corrupt(&path, e.to_string()))
    })?;
    if manifest.format_version != manifest.format_needed() {
        return Err(match manifest.format_version {
            found if FORMATS_READ.contains(&found) => {
                Error::corrupt(&path, "format version disagrees with its files")
            }
            found => incompatible_format(&path, found),
        });
    }
    if manifest.generation != pointer.generation {
        return Err(Error::corrupt(
            &path,
            "generation number disagrees with CURRENT",
        ));
    }
    Ok((dir, manifest))
}

/// A manifest of another format version may not parse as ours: report the version.
pub(super) fn check_format_first(path: &Path, bytes: &[u8]) -> Option<Error> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let found = v.get("format_version")?.as_u64()?;
    (!FORMATS_READ.iter().any(|&v| v as u64 == found))
        .then(|| incompatible_format(path, found as u32))
}

pub(super) fn incompatible_format(path: &Path, found: u32) -> Error {
    Error::Incompatible {
        path: path.to_path_buf(),
        what: "format version",
        expected: FORMAT_VERSION.to_string(),
        found: found.to_string(),
    }
}

/// A file of the index could not be read: gone (the generation vanished
/// under us: retry from `CURRENT`), out of descriptors or memory, or refused
/// (I/O errors, exit 7: nothing is wrong with the index), or damaged.
pub(super) fn read_failed(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::IndexMissing {
            path: path.to_path_buf(),
        }
    } else if crate::error::is_exhaustion(&e) || e.kind() == std::io::ErrorKind::PermissionDenied {
        Error::io("reading", path, e)
    } else {
        Error::corrupt(path, e.to_string())
    }
}

pub(super) fn retry_vanished<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 0;
    loop {
        match f() {
            // A file of the generation is gone: a writer switched and cleaned up.
            Err(Error::IndexMissing { path })
                if path.file_name().is_some_and(|n| n != CURRENT) && attempt < 5 =>
            {
                let is_generation_file = path
                    .parent()
                    .and_then(|p| p.file_name())
                    .is_some_and(|n| n.to_string_lossy().starts_with("gen-"));
                if !is_generation_file {
                    return Err(Error::IndexMissing { path });
                }
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(20 * attempt));
            }
            other => return other,
        }
    }
}

/// Opens and verifies the current generation of the index at `index_dir`.
pub fn open(index_dir: &Path) -> Result<Snapshot> {
    retry_vanished(|| open_once(index_dir)).map_err(|e| vanished_is_damage(index_dir, e))
}

/// Opens the current generation of the index at `index_dir` for a process
/// that reads few of its vectors and holds them briefly: an `ask` that
/// exits after answering (an update: [`open_for_update`]). As [`open`] does, but the first vector
/// file, the bulk of them, is mapped rather than read, and checked on a
/// thread of its own meanwhile ([`segments::map_vectors`]), and the graphs
/// are searched where their files lie ([`rest::GraphsIn::Place`]);
/// [`Snapshot::answers_verified`] waits for the check and asks whether the
/// files changed since. A long-lived process (`serve`, `mcp`) opens with
/// [`open`]: its vectors and graphs are its own, whatever happens to the
/// files.
pub fn open_mapped(index_dir: &Path) -> Result<Snapshot> {
    open_mapped_unless(index_dir, &Abandon::default())
}

/// [`open_mapped`] begun before it is known to be wanted (a one-shot
/// engine's, beside the walk of its data folder): once `abandon` is set,
/// it gives up at its next step with an error, and its vectors' check
/// stops reading. Nobody may use what it opened after setting it.
pub fn open_mapped_unless(index_dir: &Path, abandon: &Abandon) -> Result<Snapshot> {
    retry_vanished(|| open_once_with(index_dir, segments::map_vectors, GraphsIn::Place, abandon))
        .map_err(|e| vanished_is_damage(index_dir, e))
}

/// Tells an opening begun before it was known to be wanted that it is not
/// ([`open_mapped_unless`]); shared with the check of its vectors, which
/// stops reading once it is set (or once the check is dropped).
#[derive(Debug, Clone, Default)]
pub struct Abandon(pub(super) std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Abandon {
    /// The opening is not wanted: it stops at its next step.
    pub fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// An error if the opening of `dir` is not wanted any more.
    pub(super) fn check(&self, dir: &Path) -> Result<()> {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            true => Err(abandoned(dir)),
            false => Ok(()),
        }
    }
}

/// What an abandoned opening, or check, of `path` gives up with (never
/// told: nobody wants its result).
pub(super) fn abandoned(path: &Path) -> Error {
    let e = std::io::Error::new(std::io::ErrorKind::Interrupted, "not wanted any more");
    Error::io("opening", path, e)
}

/// [`open_mapped`] for an update, which walks the data folder while the
/// generation opens: the vectors' check waits until
/// [`Snapshot::start_vector_check`] (or [`Snapshot::vectors_verified`]) is
/// called, rather than share the cores with the walk. Its graphs are
/// extended where their files lie, as `ask` searches them: an update reads
/// the lists of the few rows its new ones link to, and links the files
/// into the next generation, so a copy of them (476 MB at a million pairs)
/// was memory of its own for nothing. The update asks
/// [`Snapshot::files_intact`] before it commits.
pub fn open_for_update(index_dir: &Path) -> Result<Snapshot> {
    retry_vanished(|| {
        open_once_with(
            index_dir,
            segments::map_vectors_check_later,
            GraphsIn::Place,
            &Abandon::default(),
        )
    })
    .map_err(|e| vanished_is_damage(index_dir, e))
}

pub(super) fn open_once(index_dir: &Path) -> Result<Snapshot> {
    open_once_with(
        index_dir,
        segments::read_vectors,
        GraphsIn::Memory,
        &Abandon::default(),
    )
}

/// How the vector files of a generation come into memory.
type ReadVectors = fn(&Path, &Manifest, &[VectorFile], usize, &Abandon) -> Result<Option<Matrix>>;

fn open_once_with(
    index_dir: &Path,
    read_vectors: ReadVectors,
    graphs: GraphsIn,
    abandon: &Abandon,
) -> Result<Snapshot> {
    let t = std::time::Instant::now();
    let (dir, manifest) = read_manifest_once(index_dir)?;
    check_file_list(&manifest, &dir.join(MANIFEST))?;
    // The files a question needs; the hnsw_rs dump is checked when a rebuild loads it.
    let meta_bytes = Checked::read(&dir.join(META), &manifest.files[META])?;
    let dim = manifest.model.settings.dimension;
    abandon.check(&dir)?;
    let read_vectors = || read_vectors(&dir, &manifest, &manifest.vector_files(), dim, abandon);
    // The vectors, most of the bytes, are read and checked on a thread of
    // their own while the rest is read and decoded; errors are told in the
    // order an open one file after the other meets them (vectors first).
    let (vectors, rest) = std::thread::scope(|s| {
        let thread = std::thread::Builder::new().name("qasearch-vectors".into());
        match thread.spawn_scoped(s, read_vectors) {
            Ok(reading) => {
                let rest = read_rest(&dir, &manifest, meta_bytes, graphs, abandon);
                let vectors = reading.join();
                (
                    vectors.unwrap_or_else(|p| std::panic::resume_unwind(p)),
                    rest,
                )
            }
            Err(_) => (
                read_vectors(),
                read_rest(&dir, &manifest, meta_bytes, graphs, abandon),
            ),
        }
    });
    let vectors = vectors?;
    let rest = rest?;
    let vectors = match vectors {
        // The file's bytes are little-endian floats.
        Some(m) if cfg!(target_endian = "big") => {
            Matrix::from(bytes_to_f32(bytemuck::cast_slice(&m[..])))
        }
        Some(m) => m,
        None => Matrix::default(),
    };
    log::debug!("index opened in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    Ok(rest.with_vectors(dir, manifest, vectors))
}

/// The manifest lists every file a generation needs, each a plain name.
fn check_file_list(manifest: &Manifest, manifest_path: &Path) -> Result<()> {
    for required in [META, VECTORS, GRAPH, LEXICAL] {
        if !manifest.files.contains_key(required) {
            return Err(Error::corrupt(
                manifest_path,
                format!("lists no {required}"),
            ));
        }
    }
    for (i, f) in manifest.vector_files.iter().enumerate() {
        let named = match i {
            0 => f.name == VECTORS,
            _ => f.name != VECTORS && segments::is_vector_file(&f.name),
        };
        let again = manifest.vector_files[..i].iter().any(|g| g.name == f.name);
        if !named || again || !manifest.files.contains_key(&f.name) {
            return Err(Error::corrupt(
                manifest_path,
                format!("bad vector file {:?}", f.name),
            ));
        }
    }
    for (patch, graph) in GRAPH_PATCHES
        .iter()
        .zip([GRAPH, QUESTION_GRAPH, PASSAGE_GRAPH])
    {
        if manifest.files.contains_key(*patch) && !manifest.files.contains_key(graph) {
            return Err(Error::corrupt(
                manifest_path,
                format!("lists {patch} without {graph}"),
            ));
        }
    }
    for name in manifest.files.keys() {
        if name.contains('/') || name.contains('\\') || name.contains("..") {
            return Err(Error::corrupt(
                manifest_path,
                format!("bad file name {name:?}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_bin_keeps_the_layout_of_main_and_questions_only() {
        use crate::index::probes::{Probe, Probes};
        let probe = |row| Probe {
            row,
            floor: 0.5,
            near: vec![(row, 1.0), (9, 0.5)],
        };
        let now = Probes {
            main: vec![probe(1)],
            questions: vec![probe(2)],
            passages: vec![probe(3)],
        };
        // As an earlier qasearch writes and reads it: main and questions.
        #[derive(serde::Serialize)]
        struct Before {
            main: Vec<Probe>,
            questions: Vec<Probe>,
        }
        let before = Before {
            main: now.main.clone(),
            questions: now.questions.clone(),
        };
        assert_eq!(encode(&now), encode(&before));
        let read: Probes = decode(&encode(&before)).unwrap();
        assert_eq!((read.main, read.questions), (now.main, now.questions));
        assert!(read.passages.is_empty());
    }

    #[test]
    fn pointer_parsing_is_strict() {
        assert_eq!(
            parse_pointer("gen-000012 0000abcd\n"),
            Some(Pointer {
                generation: 12,
                manifest_crc: 0xabcd
            })
        );
        for bad in [
            "gen-000012 0000abcd",
            "gen-00001 0000abcd\n",
            "gen-000012 0000abc\n",
            "gen-00001x 0000abcd\n",
            "gen-000012  0000abcd\n",
            "gen-000012 0000ABCD\n",
            "",
        ] {
            assert_eq!(parse_pointer(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn decode_rejects_garbage_without_huge_allocations() {
        let meta = Meta::new(
            vec![DocMeta {
                key: "a".into(),
                source: "a".into(),
            }],
            vec![],
            vec![],
            0,
        );
        let bytes = encode(&meta);
        let mut back = decode::<Meta>(&bytes).unwrap();
        back.index_rows();
        assert_eq!(back, meta);
        assert!(decode::<Meta>(&bytes[..bytes.len() - 1]).is_err());
        // A length prefix claiming a huge vector.
        assert!(decode::<Meta>(&[0xfc, 0xff, 0xff, 0xff, 0x7f]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<Meta>(&longer).is_err());
    }

    #[test]
    fn lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let a = WriterLock::acquire(dir.path()).unwrap();
        let err = WriterLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Busy { .. }));
        drop(a);
        WriterLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn running_out_of_descriptors_or_memory_is_never_damage() {
        let path = Path::new("index/gen-000001/vectors.f32");
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOMEM] {
            let e = read_failed(path, std::io::Error::from_raw_os_error(code));
            assert_eq!(e.kind(), crate::error::ErrorKind::Io, "{e}");
        }
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(
            read_failed(path, denied).kind(),
            crate::error::ErrorKind::Io
        );
        let bad = std::io::Error::new(std::io::ErrorKind::InvalidData, "is a FIFO");
        assert!(matches!(read_failed(path, bad), Error::IndexCorrupt { .. }));
        let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(matches!(
            read_failed(path, gone),
            Error::IndexMissing { .. }
        ));
    }

    #[test]
    fn missing_index_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(open(dir.path()), Err(Error::IndexMissing { .. })));
        assert!(!exists(dir.path()));
    }
}
