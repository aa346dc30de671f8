//! Writing into the index folder: the marker that makes it ours, the writer
//! lock, and a generation written file by file, synced, then switched to.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::*;
use crate::error::{Error, IoContext, Result};
use crate::index::lexical_delta::Lexical;
use crate::index::mmap_graph::MmapGraph;
use crate::safe_fs::{self, read_limited};

/// The file that marks a folder as a qasearch index. qasearch writes into
/// (and removes from) a folder only when it holds this file, or when it is
/// empty or new (then the file is written first).
pub const MARKER: &str = ".qasearch-index";

pub(super) const MARKER_TEXT: &str =
    "This folder is a qasearch index. qasearch writes and removes only the files it made here.\n";

/// Files a generation folder holds; nothing else in it is ever removed.
pub(super) const GENERATION_FILES: &[&str] = &[
    MANIFEST,
    META,
    META_DELTA,
    VECTORS,
    GRAPH,
    QUESTION_GRAPH,
    PASSAGE_GRAPH,
    PROBES,
    PASSAGE_PROBES,
    LEXICAL,
    LEXICAL_DELTA,
    SPARSE,
];

/// True for a name qasearch gives a generation: `gen-` and six or more digits.
pub(super) fn is_generation_name(name: &str) -> bool {
    name.strip_prefix("gen-")
        .is_some_and(|d| d.len() >= 6 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// True for a name qasearch gives a build in progress: `tmp-<digits>-<pid>`.
pub(super) fn is_build_name(name: &str) -> bool {
    name.strip_prefix("tmp-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(g, pid)| {
            g.len() >= 6
                && g.bytes().all(|b| b.is_ascii_digit())
                && !pid.is_empty()
                && pid.bytes().all(|b| b.is_ascii_digit())
        })
}

/// True for a file name qasearch writes inside a generation.
pub(super) fn is_generation_file(name: &str) -> bool {
    GENERATION_FILES.contains(&name)
        || GRAPH_PATCHES.contains(&name)
        || segments::is_vector_file(name)
        || (name.starts_with(OLD_GRAPH_BASE)
            && (name.ends_with(".hnsw.graph") || name.ends_with(".hnsw.data")))
}

/// True when the `CURRENT` at `path` is a pointer qasearch wrote (a user's
/// own file of that name is not ours to replace).
pub(super) fn is_our_pointer(path: &Path) -> bool {
    read_limited(path, 64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| parse_pointer(&t))
        .is_some()
}

/// True for an entry qasearch itself puts in an index folder.
pub(super) fn is_index_entry(name: &str) -> bool {
    name == CURRENT
        || name == "CURRENT.tmp"
        || name == LOCK
        || name == MARKER
        || name == super::checkpoint::FILE
        || is_generation_name(name)
        || is_build_name(name)
}

/// Removes a generation or build folder qasearch wrote: only the files it
/// writes there, then the folder if that left it empty. Anything else in it
/// (a user's file) stays, and so does the folder.
pub(super) fn remove_own_folder(dir: &Path) -> std::io::Result<()> {
    let md = std::fs::symlink_metadata(dir)?;
    if !md.is_dir() {
        return Err(std::io::Error::other("not a folder"));
    }
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && is_generation_file(name) {
            std::fs::remove_file(entry.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// Makes sure `index_dir` is a folder qasearch may write into: new, empty,
/// or already a qasearch index. Refuses anything else, naming what is in it.
pub(super) fn claim(index_dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(index_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(index_dir).at("creating index folder", index_dir)?;
        }
        Err(e) => return Err(Error::io("reading", index_dir, e)),
        Ok(_) if !index_dir.is_dir() => {
            return Err(Error::NotAnIndex {
                path: index_dir.to_path_buf(),
                reason: "it is a file, not a folder".into(),
            })
        }
        Ok(_) => {}
    }
    let marker = index_dir.join(MARKER);
    match std::fs::symlink_metadata(&marker) {
        Ok(md) if md.is_file() => return Ok(()),
        Ok(md) => {
            return Err(Error::NotAnIndex {
                path: index_dir.to_path_buf(),
                reason: format!("{MARKER} in it is {}", safe_fs::kind_of(&md.file_type())),
            })
        }
        Err(_) => {}
    }
    // No marker: an empty folder, or an index of an earlier qasearch (which
    // holds nothing but names qasearch writes), becomes ours.
    let foreign: Vec<String> = std::fs::read_dir(index_dir)
        .at("reading", index_dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !is_index_entry(n) || (n == CURRENT && !is_our_pointer(&index_dir.join(n))))
        .collect();
    if let Some(first) = foreign.first() {
        return Err(Error::NotAnIndex {
            path: index_dir.to_path_buf(),
            reason: format!(
                "it holds {} entr{} qasearch did not make (such as {first:?})",
                foreign.len(),
                if foreign.len() == 1 { "y" } else { "ies" }
            ),
        });
    }
    write_synced(&marker, MARKER_TEXT.as_bytes())?;
    sync_dir(index_dir)
}

/// Opens (creating) the lock file without following a link.
pub(super) fn open_lock(index_dir: &Path) -> Result<(File, PathBuf)> {
    let path = index_dir.join(LOCK);
    let file = safe_fs::open_lock(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => Error::NotAnIndex {
            path: index_dir.to_path_buf(),
            reason: format!("its {LOCK} {e}"),
        },
        _ => Error::io("creating", &path, e),
    })?;
    Ok((file, path))
}

/// The exclusive right to build into an index folder; released on drop.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
    index_dir: PathBuf,
}

impl WriterLock {
    /// Claims the index folder (see [`MARKER`]) and takes its lock without waiting.
    pub fn acquire(index_dir: &Path) -> Result<Self> {
        claim(index_dir)?;
        let (file, path) = open_lock(index_dir)?;
        match file.try_lock() {
            Ok(()) => Ok(WriterLock {
                _file: file,
                index_dir: index_dir.to_path_buf(),
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy {
                index: index_dir.to_path_buf(),
                lock: path,
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("locking", &path, e)),
        }
    }

    /// Waits for the lock (used by `ask` when another process is building the first index).
    pub fn wait(index_dir: &Path) -> Result<Self> {
        claim(index_dir)?;
        let (file, path) = open_lock(index_dir)?;
        file.lock().at("locking", &path)?;
        Ok(WriterLock {
            _file: file,
            index_dir: index_dir.to_path_buf(),
        })
    }

    /// The index folder.
    pub fn index_dir(&self) -> &Path {
        &self.index_dir
    }

    /// Checks, before any work, that a new generation can be switched to:
    /// `CURRENT` must not be a folder (the switch renames a file over it,
    /// which replaces a damaged file, a link or a FIFO, but not a folder).
    pub fn preflight(&self) -> Result<()> {
        let current = self.index_dir.join(CURRENT);
        match std::fs::symlink_metadata(&current) {
            Ok(md) if md.is_dir() => Err(Error::NotAnIndex {
                path: self.index_dir.clone(),
                reason: format!(
                    "its CURRENT is {}: move it away (qasearch never removes what it did not write)",
                    safe_fs::kind_of(&md.file_type())
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Removes leftovers of killed builds and generations nothing points at:
    /// only entries named as qasearch names them, and inside them only the
    /// files qasearch writes. Generations are removed only while `CURRENT`
    /// is a valid pointer (so damage never costs the generation it meant).
    pub fn clean(&self) -> Result<Vec<PathBuf>> {
        let keep = read_limited(&self.index_dir.join(CURRENT), 64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| parse_pointer(&t))
            .map(|p| gen_name(p.generation));
        let mut removed = Vec::new();
        let entries = std::fs::read_dir(&self.index_dir).at("reading", &self.index_dir)?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            let res = if name == "CURRENT.tmp" {
                // Ours, whatever is planted there; a folder stays.
                match entry.file_type() {
                    Ok(t) if !t.is_dir() => std::fs::remove_file(&path),
                    _ => continue,
                }
            } else if is_build_name(name)
                || (is_generation_name(name) && keep.as_deref().is_some_and(|k| k != name))
            {
                remove_own_folder(&path)
            } else {
                continue;
            };
            // A generation still being read elsewhere is removed next time.
            match res {
                Ok(()) => removed.push(path),
                Err(e) => log::debug!("left {} in place: {e}", path.display()),
            }
        }
        Ok(removed)
    }

    /// The next generation number: one above any seen in the folder.
    fn next_generation(&self) -> Result<u64> {
        let mut max = 0;
        for entry in std::fs::read_dir(&self.index_dir)
            .at("reading", &self.index_dir)?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            let digits = if is_generation_name(&name) {
                name.strip_prefix("gen-")
            } else if is_build_name(&name) {
                name.strip_prefix("tmp-").and_then(|s| s.split('-').next())
            } else {
                None
            };
            if let Some(n) = digits.and_then(|d| d.parse::<u64>().ok()) {
                max = max.max(n);
            }
        }
        max.checked_add(1)
            .ok_or_else(|| Error::corrupt(&self.index_dir, "generation numbers exhausted"))
    }

    /// Starts writing a new generation.
    pub fn begin(&self) -> Result<GenerationWriter<'_>> {
        let generation = self.next_generation()?;
        let tmp = self
            .index_dir
            .join(format!("tmp-{generation:06}-{}", std::process::id()));
        let mut w = GenerationWriter {
            lock: self,
            generation,
            tmp,
            files: BTreeMap::new(),
            step: 0,
            committed: false,
            abort_at: super::failpoint::abort_at_step(),
        };
        w.step()?;
        std::fs::create_dir(&w.tmp).at("creating", &w.tmp)?;
        Ok(w)
    }
}

/// Writes one generation; nothing is visible to readers until [`GenerationWriter::commit`].
#[derive(Debug)]
pub struct GenerationWriter<'a> {
    lock: &'a WriterLock,
    generation: u64,
    tmp: PathBuf,
    files: BTreeMap<String, FileSum>,
    step: usize,
    abort_at: Option<usize>,
    committed: bool,
}

/// A build that fails (not one that is killed) removes its own folder at once,
/// which matters most when the disk is full.
impl Drop for GenerationWriter<'_> {
    fn drop(&mut self) {
        if !self.committed {
            if self.tmp.exists() {
                let _ = remove_own_folder(&self.tmp);
            }
            let _ = std::fs::remove_file(self.lock.index_dir.join("CURRENT.tmp"));
        }
    }
}

pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("syncing", dir)
}

/// Writes a file of the index anew (never through what is at the name:
/// [`safe_fs::write_new`]), clearing a leftover at a name qasearch owns.
pub(super) fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    safe_fs::clear(path).map_err(|e| write_error(path, e))?;
    safe_fs::write_new(path, bytes).map_err(|e| write_error(path, e))
}

/// A failed write of the index file at `path`: a folder where the file goes
/// is not ours to replace; anything else is an I/O error.
fn write_error(path: &Path, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::NotAnIndex {
            path: path.parent().unwrap_or(path).to_path_buf(),
            reason: e.to_string(),
        },
        _ => Error::io("writing", path, e),
    }
}

/// Bytes on their way to a file in chunks, summed (length and CRC-32) as
/// they go.
struct Summing {
    file: File,
    chunk: Vec<u8>,
    sum: crc32fast::Hasher,
    len: u64,
}

/// Bytes gathered before each write to the file.
const CHUNK: usize = 1 << 20;

impl Summing {
    fn flush_chunk(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        self.sum.update(&self.chunk);
        self.len += self.chunk.len() as u64;
        self.file.write_all(&self.chunk)?;
        self.chunk.clear();
        Ok(())
    }
}

impl std::io::Write for Summing {
    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.chunk.len() + buf.len() <= CHUNK {
            self.chunk.extend_from_slice(buf);
            return Ok(());
        }
        self.write(buf).map(drop)
    }

    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.chunk.len() + buf.len() > CHUNK {
            self.flush_chunk()?;
        }
        if buf.len() > CHUNK {
            self.sum.update(buf);
            self.len += buf.len() as u64;
            self.file.write_all(buf)?;
        } else {
            self.chunk.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_chunk()
    }
}

/// Writes a file of the index anew from `write` (as [`write_synced`] does
/// from bytes), a chunk at a time: the file's bytes are never in memory
/// all at once. Returns its length and CRC-32.
fn write_synced_with(
    path: &Path,
    write: impl FnOnce(&mut Summing) -> std::io::Result<()>,
) -> Result<FileSum> {
    use std::io::Write;
    safe_fs::clear(path).map_err(|e| write_error(path, e))?;
    let file = safe_fs::create_new(path).map_err(|e| write_error(path, e))?;
    let mut out = Summing {
        file,
        chunk: Vec::with_capacity(CHUNK),
        sum: crc32fast::Hasher::new(),
        len: 0,
    };
    let written = write(&mut out)
        .and_then(|()| out.flush())
        .and_then(|()| out.file.sync_all());
    written.map_err(|e| write_error(path, e))?;
    Ok(FileSum {
        len: out.len,
        crc32: out.sum.finalize(),
    })
}

impl GenerationWriter<'_> {
    /// The generation number being written.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Counts a write step; fails when the test switch asks to abort here.
    fn step(&mut self) -> Result<()> {
        self.step += 1;
        if self.abort_at == Some(self.step) {
            return Err(Error::InjectedAbort(self.step));
        }
        Ok(())
    }

    /// Writes and syncs one file of the generation, recording its checksum.
    pub fn write_file(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.step()?;
        write_synced(&self.tmp.join(name), bytes)?;
        self.files.insert(
            name.to_string(),
            FileSum {
                len: bytes.len() as u64,
                crc32: crc32fast::hash(bytes),
            },
        );
        Ok(())
    }

    /// Writes and syncs one file of the generation, encoded from `value`
    /// (bincode, as [`encode`]) straight to the file a chunk at a time,
    /// recording its checksum: a large file (`meta.bin`, `lexical.bin`)
    /// is never all in memory.
    pub fn write_encoded<T: serde::Serialize>(&mut self, name: &str, value: &T) -> Result<()> {
        self.step()?;
        let sum = write_synced_with(&self.tmp.join(name), |out| {
            bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
                .map(drop)
                .map_err(|e| match e {
                    bincode::error::EncodeError::Io { inner, .. } => inner,
                    other => std::io::Error::other(other.to_string()),
                })
        })?;
        self.files.insert(name.to_string(), sum);
        Ok(())
    }

    /// Writes `meta` in columns ([`super::meta_columns`]; one write step),
    /// straight to the file a chunk at a time, recording its checksum: as
    /// `meta.bin`, or, when `base` says where its documents lie in the
    /// previous generation's `meta.bin` (`previous`) and little changed
    /// since, as that file linked and `meta.delta.bin` beside it
    /// ([`super::meta_delta`]). The manifest must say so
    /// ([`Manifest::meta_columns`]).
    pub fn write_meta(
        &mut self,
        meta: &Meta,
        base: Option<&super::meta_delta::MetaBase>,
        previous: Option<(PathBuf, FileSum)>,
    ) -> Result<()> {
        self.step()?;
        let to = self.tmp.join(META);
        // Over the previous generation's meta.bin, linked, when `base` is
        // that file and the change since it is small.
        let over = base.zip(previous).filter(|(base, (from, sum))| {
            base.file == (sum.len, sum.crc32)
                && base.worth_a_delta(meta)
                && segments::link_file(from, &to, sum.len)
        });
        let Some((base, (_, sum))) = over else {
            let sum = write_synced_with(&to, |out| super::meta_columns::write(meta, out))?;
            self.files.insert(META.to_string(), sum);
            return Ok(());
        };
        self.files.insert(META.to_string(), sum);
        let sum = write_synced_with(&self.tmp.join(META_DELTA), |out| {
            super::meta_delta::write(meta, base, out)
        })?;
        self.files.insert(META_DELTA.to_string(), sum);
        Ok(())
    }

    /// Writes the vector files `parts` (one write step): each linked from
    /// the previous generation where it can be (a hard link, checked to be
    /// a file of the expected length), written from its bytes otherwise.
    pub(super) fn write_parts(&mut self, parts: &[segments::Part<'_>]) -> Result<()> {
        self.step()?;
        for part in parts {
            self.link_or_write(&part.name, part.bytes, part.link.as_ref())?;
        }
        Ok(())
    }

    /// Links `link` (a file of the previous generation holding `bytes`) as
    /// `name`, or writes `bytes` there when it cannot be linked.
    fn link_or_write(
        &mut self,
        name: &str,
        bytes: &[u8],
        link: Option<&(PathBuf, FileSum)>,
    ) -> Result<()> {
        let to = self.tmp.join(name);
        let sum = match link {
            Some((from, sum)) if segments::link_file(from, &to, sum.len) => *sum,
            _ => {
                write_synced(&to, bytes)?;
                FileSum {
                    len: bytes.len() as u64,
                    crc32: crc32fast::hash(bytes),
                }
            }
        };
        self.files.insert(name.to_string(), sum);
        Ok(())
    }

    /// Writes the graph `graph` as `name` (one write step): whole, or as
    /// its base file and patch ([`patch_of`]), the base linked from
    /// `previous` (the previous generation's file of that name, with its
    /// sum) when that file is the base: its length and CRC are the base's.
    pub fn write_graph(
        &mut self,
        name: &str,
        graph: &MmapGraph,
        previous: Option<(PathBuf, FileSum)>,
    ) -> Result<()> {
        self.step()?;
        let base = graph.base_bytes();
        let Some(patch) = graph.patch_bytes() else {
            return self.link_or_write(name, base, None);
        };
        let link = previous
            .filter(|(_, sum)| sum.len == base.len() as u64 && sum.crc32 == graph.base_crc());
        self.link_or_write(name, base, link.as_ref())?;
        self.link_or_write(&patch_of(name), patch, None)
    }

    /// Writes the lexical arm (one write step or two): `lexical.bin`, linked
    /// from `previous` (the previous generation's, with its sum) when that
    /// file is the arm's base, encoded otherwise; then its delta, if any.
    pub fn write_lexical(
        &mut self,
        lexical: &Lexical,
        previous: Option<(PathBuf, FileSum)>,
    ) -> Result<()> {
        let to = self.tmp.join(LEXICAL);
        let linked = previous.filter(|(from, sum)| {
            lexical.base_file() == Some((sum.len, sum.crc32))
                && segments::link_file(from, &to, sum.len)
        });
        match linked {
            Some((_, sum)) => {
                self.step()?;
                self.files.insert(LEXICAL.to_string(), sum);
            }
            None => self.write_encoded(LEXICAL, lexical.base())?,
        }
        let Some(delta) = lexical.delta() else {
            return Ok(());
        };
        // bincode encodes alike: a base written anew is the file the delta
        // is over (unless the files under it changed).
        let written = &self.files[LEXICAL];
        if (written.len, written.crc32) != delta.base_file() {
            return Err(Error::corrupt(
                &to,
                "written, differs from the base its delta is over",
            ));
        }
        self.write_encoded(LEXICAL_DELTA, delta)
    }

    /// Checksums recorded so far (the manifest's `files`).
    pub fn file_sums(&self) -> BTreeMap<String, FileSum> {
        self.files.clone()
    }

    /// Writes the manifest and switches `CURRENT` to this generation.
    ///
    /// The caller's `manifest.files` must be [`GenerationWriter::file_sums`].
    pub fn commit(mut self, manifest: &Manifest) -> Result<PathBuf> {
        // Compact: at a million pairs its records of every file and document
        // are 29 MB so, 38 MB indented, read by every question and written
        // by every update (about half the time to write, a third less to read).
        let bytes = serde_json::to_vec(manifest).expect("invariant: manifest encodes");
        self.step()?;
        write_synced(&self.tmp.join(MANIFEST), &bytes)?;
        sync_dir(&self.tmp)?;
        let index_dir = self.lock.index_dir.clone();
        let dest = index_dir.join(gen_name(self.generation));
        self.step()?;
        std::fs::rename(&self.tmp, &dest).at("renaming into place", &dest)?;
        // Until CURRENT points at it, the generation is ours to remove on failure.
        self.tmp = dest.clone();
        sync_dir(&index_dir)?;
        let pointer = format!(
            "{} {:08x}\n",
            gen_name(self.generation),
            crc32fast::hash(&bytes)
        );
        let tmp_current = index_dir.join("CURRENT.tmp");
        self.step()?;
        write_synced(&tmp_current, pointer.as_bytes())?;
        self.step()?;
        std::fs::rename(&tmp_current, index_dir.join(CURRENT))
            .at("switching", &index_dir.join(CURRENT))?;
        self.committed = true;
        sync_dir(&index_dir)?;
        let _ = self.lock.clean();
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_file_written_in_chunks_is_its_bytes_and_their_sum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Small writes across chunk bounds, then one past a whole chunk.
        let big: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 7 % 251) as u8).collect();
        let small = (CHUNK / 3) as u32;
        let sum = write_synced_with(&path, |out| {
            for i in 0..small {
                out.write_all(&i.to_le_bytes())?;
            }
            out.write_all(&big)?;
            out.write_all(b"end")
        })
        .unwrap();
        let mut want: Vec<u8> = (0..small).flat_map(u32::to_le_bytes).collect();
        want.extend(&big);
        want.extend(b"end");
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert_eq!(
            sum,
            FileSum {
                len: want.len() as u64,
                crc32: crc32fast::hash(&want)
            }
        );
    }

    #[test]
    fn an_encoded_file_is_what_encode_gives_and_is_summed() {
        let dir = tempfile::tempdir().unwrap();
        let lock = WriterLock::acquire(&dir.path().join("index")).unwrap();
        let mut writer = lock.begin().unwrap();
        let value: Vec<(u64, String)> = (0..300_000u64)
            .map(|i| (i * 1_000_003, format!("row {i}")))
            .collect();
        writer.write_encoded(META, &value).unwrap();
        let bytes = std::fs::read(writer.tmp.join(META)).unwrap();
        assert!(bytes.len() > 2 * CHUNK, "{} bytes", bytes.len());
        assert_eq!(bytes, encode(&value));
        assert_eq!(
            writer.file_sums()[META],
            FileSum {
                len: bytes.len() as u64,
                crc32: crc32fast::hash(&bytes)
            }
        );
        // A folder where the file goes is not replaced.
        std::fs::create_dir(writer.tmp.join(LEXICAL)).unwrap();
        let e = writer.write_encoded(LEXICAL, &value).unwrap_err();
        assert!(matches!(e, Error::NotAnIndex { .. }), "{e}");
    }
}

#[cfg(test)]
#[path = "lock_link_tests.rs"]
mod graph_tests;
