//! Checkpoints of a build's embedding, so that a build that is killed, or
//! fails after hours in the model, resumes where it stopped.
//!
//! As a build embeds, the vectors it has made are appended to one file in
//! the index folder, [`FILE`], every [`Every::seconds`] or [`Every::texts`]
//! texts, whichever comes first, and once more when embedding ends. Each
//! append is a chunk with its own CRC-32, synced before the build goes on;
//! a chunk torn by a kill fails its check and is dropped, with everything
//! after it. The file starts with the model's identity and the vectors'
//! dimension: a build with another model (or another runtime, for int8
//! maths) discards it rather than read it.
//!
//! A vector is found again by a digest of how its text is embedded (the
//! text, or for a sentence read in context its whole answer and its place
//! there: [`RowKey`]), so a corpus edited between the two builds still takes
//! what it can. The build that resumes skips only model calls whose every
//! text was checkpointed, and calls the model with the same batches as a
//! build that was never stopped: the vectors are the same to the bit.
//!
//! The file is never a generation (nothing points at it, it is not a
//! folder a reader opens) and is removed once a generation is committed, or
//! when a build finds nothing to change. `clean` leaves it: it is what a
//! stopped build left to resume from.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::model::ModelIdentity;
use crate::safe_fs;
use crate::store::RowKey;

/// The checkpoint's file name in the index folder.
pub const FILE: &str = "embedding.checkpoint";

/// What the file starts with, before its header.
const MAGIC: &[u8; 8] = b"QACKPT\x00\x01";

/// The largest header read (a model identity is well under 4 KiB).
const MAX_HEADER: u32 = 64 * 1024;

/// How often a build checkpoints: after `seconds` or `texts` new vectors,
/// whichever comes first (checked after each model call). `texts` 0: never.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Every {
    /// Texts embedded since the last checkpoint.
    pub texts: usize,
    /// Seconds since the last checkpoint.
    pub seconds: f64,
}

impl Default for Every {
    fn default() -> Self {
        Every {
            texts: DEFAULT_TEXTS,
            seconds: 30.0,
        }
    }
}

/// Texts between two checkpoints at most (about 40 s of the default model
/// on two cores; 15 MB of vectors at 384 dimensions).
pub const DEFAULT_TEXTS: usize = 10_000;

/// Who made the vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    model: ModelIdentity,
    dimension: usize,
}

/// A text's key in the checkpoint: the first 16 bytes of the SHA-256 of
/// how it is embedded, its place in its answer, and its bytes.
type Key = [u8; 16];

fn key_of(key: &RowKey<'_>) -> Key {
    let mut h = Sha256::new();
    h.update([key.how.code()]);
    match key.span {
        Some((s, e)) => {
            h.update([1]);
            h.update(s.to_le_bytes());
            h.update(e.to_le_bytes());
        }
        None => h.update([0]),
    }
    h.update(key.text.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    out
}

/// Where a checkpoint's chunks are kept: a file in the index folder
/// ([`FileStorage`]), or a table of the PostgreSQL store.
pub trait Storage {
    /// Where, for messages.
    fn location(&self) -> String;
    /// Gives each whole chunk kept for `header` to `each`, in order; Err
    /// (why) when what is kept is another model's or cannot be read.
    fn load(
        &mut self,
        header: &[u8],
        each: &mut dyn FnMut(&[u8]),
    ) -> std::result::Result<(), String>;
    /// Keeps one more chunk, durably, after the ones loaded or kept.
    fn append(&mut self, header: &[u8], chunk: &[u8]) -> std::io::Result<()>;
    /// What a kill halfway through [`Storage::append`] leaves (for the
    /// tests' fault injection): by default, nothing.
    fn append_torn(&mut self, _header: &[u8], _chunk: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    /// Removes everything kept.
    fn clear(&mut self) -> std::io::Result<()>;
}

/// The checkpoint of one build: the vectors a stopped build left (read at
/// [`Checkpoint::open`]) and those this build adds.
pub struct Checkpoint {
    storage: Box<dyn Storage>,
    header: Header,
    every: Every,
    /// Vectors read back.
    found: HashMap<Key, Vec<f32>>,
    /// Chunk being gathered: keys and vectors, how many, how many texts.
    pending: Vec<u8>,
    pending_entries: usize,
    pending_texts: usize,
    last: Instant,
    /// Checkpoints written by this build.
    written: usize,
    /// Set after a write failed: the build goes on without checkpoints.
    broken: bool,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("at", &self.storage.location())
            .field("found", &self.found.len())
            .field("written", &self.written)
            .finish()
    }
}

impl Checkpoint {
    /// The checkpoint in `index_dir` for vectors of `model`: what a stopped
    /// build of the same model left there, or nothing (a checkpoint of
    /// another model, or one that cannot be read, is removed and said so).
    pub fn open(
        index_dir: &Path,
        model: &ModelIdentity,
        dimension: usize,
        every: Every,
    ) -> Checkpoint {
        let storage = FileStorage {
            path: index_dir.join(FILE),
            file: None,
            valid_len: 0,
        };
        Checkpoint::in_storage(Box::new(storage), model, dimension, every)
    }

    /// The checkpoint kept in `storage`.
    pub fn in_storage(
        mut storage: Box<dyn Storage>,
        model: &ModelIdentity,
        dimension: usize,
        every: Every,
    ) -> Checkpoint {
        let header = Header {
            model: model.clone(),
            dimension,
        };
        let header_bytes = header_bytes(&header);
        let entry = 16 + 4 * dimension;
        let mut found = HashMap::new();
        let loaded = storage.load(&header_bytes, &mut |chunk| {
            for e in chunk.chunks_exact(entry) {
                let mut key = [0u8; 16];
                key.copy_from_slice(&e[..16]);
                let v = e[16..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                found.insert(key, v);
            }
        });
        // Nothing about a checkpoint fails a build: at worst it starts over.
        let mut broken = false;
        if let Err(why) = loaded {
            log::warn!(
                "{} was left by a stopped build but {why}: removed, nothing resumed from it",
                storage.location()
            );
            found.clear();
            if let Err(e) = storage.clear() {
                log::warn!("{e}; this build keeps no checkpoint");
                broken = true;
            }
        }
        Checkpoint {
            storage,
            header,
            every,
            found,
            pending: Vec::new(),
            pending_entries: 0,
            pending_texts: 0,
            last: Instant::now(),
            written: 0,
            broken,
        }
    }

    /// How many vectors a stopped build left.
    pub fn found(&self) -> usize {
        self.found.len()
    }

    /// The vector a stopped build made for `key`.
    pub fn get(&self, key: &RowKey<'_>) -> Option<&[f32]> {
        if self.found.is_empty() {
            return None;
        }
        self.found.get(&key_of(key)).map(Vec::as_slice)
    }

    /// A vector the model just made, to be in the next checkpoint.
    pub fn record(&mut self, key: &RowKey<'_>, vector: &[f32]) {
        if self.entry(key, vector) {
            self.pending_texts += 1;
        }
    }

    /// A mark to be in the next checkpoint with the texts of the same model
    /// call (not counted as a text: a pass over a whole answer, whose
    /// vector is `vector`).
    pub fn mark(&mut self, key: &RowKey<'_>, vector: &[f32]) {
        self.entry(key, vector);
    }

    fn entry(&mut self, key: &RowKey<'_>, vector: &[f32]) -> bool {
        if self.every.texts == 0 || self.broken || vector.len() != self.header.dimension {
            return false;
        }
        self.pending.extend_from_slice(&key_of(key));
        for x in vector {
            self.pending.extend_from_slice(&x.to_le_bytes());
        }
        self.pending_entries += 1;
        true
    }

    /// After a model call: writes a checkpoint when one is due.
    pub fn call_done(&mut self) {
        if self.pending_texts >= self.every.texts
            || (self.pending_texts > 0 && self.last.elapsed().as_secs_f64() >= self.every.seconds)
        {
            self.flush();
        }
    }

    /// Writes what is pending as one chunk, durably. A failure (a full
    /// disk) is said once; the build goes on without checkpoints.
    pub fn flush(&mut self) {
        if self.pending_entries == 0 || self.broken {
            return;
        }
        self.written += 1;
        let header = header_bytes(&self.header);
        killed_at_checkpoint(self.written, self.storage.as_mut(), &header, &self.pending);
        let written = self.storage.append(&header, &self.pending);
        if let Err(e) = written {
            log::warn!(
                "could not write the build's checkpoint {}: {e}; going on without (a stopped build will start over)",
                self.storage.location()
            );
            self.broken = true;
            let _ = self.storage.clear();
        }
        self.pending.clear();
        self.pending_entries = 0;
        self.pending_texts = 0;
        self.last = Instant::now();
    }

    /// Removes the checkpoint: its build is committed, or had nothing to do.
    pub fn remove(mut self) {
        if let Err(e) = self.storage.clear() {
            log::warn!("could not remove {}: {e}", self.storage.location());
        }
    }
}

fn header_bytes(header: &Header) -> Vec<u8> {
    serde_json::to_vec(header).expect("invariant: a header serialises")
}

/// A checkpoint kept in a file: [`MAGIC`], the header's length, CRC-32 and
/// bytes, then chunks, each its entry count, CRC-32 and entries.
#[derive(Debug)]
pub struct FileStorage {
    path: PathBuf,
    file: Option<File>,
    /// Where the file's last whole chunk ends (0: nothing of this model).
    valid_len: u64,
}

impl Storage for FileStorage {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn load(
        &mut self,
        header: &[u8],
        each: &mut dyn FnMut(&[u8]),
    ) -> std::result::Result<(), String> {
        match safe_fs::open_regular(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("it cannot be read ({e})")),
            Ok((file, len)) => self.read(file, len, header, each),
        }
    }

    fn append(&mut self, header: &[u8], chunk: &[u8]) -> std::io::Result<()> {
        let bytes = self.record(header, chunk);
        self.write(header, &bytes)
    }

    fn append_torn(&mut self, header: &[u8], chunk: &[u8]) -> std::io::Result<()> {
        let bytes = self.record(header, chunk);
        self.write(header, &bytes[..bytes.len() / 2])
    }

    fn clear(&mut self) -> std::io::Result<()> {
        self.file = None;
        self.valid_len = 0;
        safe_fs::clear(&self.path)
    }
}

/// Bytes of one entry, a key and a vector, for the dimension in `header`.
fn entry_len(header: &[u8]) -> usize {
    let dimension = serde_json::from_slice::<Header>(header).map_or(0, |h| h.dimension);
    16 + 4 * dimension
}

impl FileStorage {
    /// A chunk as the file holds it: its entry count, CRC-32 and entries.
    fn record(&self, header: &[u8], chunk: &[u8]) -> Vec<u8> {
        let entry = entry_len(header);
        let mut bytes = Vec::with_capacity(8 + chunk.len());
        bytes.extend_from_slice(&((chunk.len() / entry.max(1)) as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(chunk).to_le_bytes());
        bytes.extend_from_slice(chunk);
        bytes
    }

    /// Appends `bytes` (opening the file, or making it with its header) and
    /// syncs them.
    fn write(&mut self, header: &[u8], bytes: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            self.file = Some(self.open_for_append(header)?);
        }
        let file = self.file.as_mut().expect("invariant: opened above");
        file.write_all(bytes)?;
        file.sync_data()
    }

    /// Reads the header and every whole chunk.
    fn read(
        &mut self,
        file: File,
        len: u64,
        want: &[u8],
        each: &mut dyn FnMut(&[u8]),
    ) -> std::result::Result<(), String> {
        let mut r = BufReader::with_capacity(1 << 20, file);
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)
            .map_err(|_| "it is too short to be a checkpoint".to_string())?;
        if &magic != MAGIC {
            return Err("it is not a checkpoint qasearch wrote".into());
        }
        let header_len = read_u32(&mut r).ok_or("its header is cut short")?;
        if header_len > MAX_HEADER {
            return Err("its header is too long".into());
        }
        let crc = read_u32(&mut r);
        let mut header = vec![0u8; header_len as usize];
        r.read_exact(&mut header)
            .map_err(|_| "its header is cut short".to_string())?;
        if crc != Some(crc32fast::hash(&header)) {
            return Err("its header fails its checksum".into());
        }
        if header != want {
            let model = serde_json::from_slice::<Header>(&header)
                .map_or_else(|_| "unknown".to_string(), |h| h.model.id());
            return Err(format!("it holds vectors of another model ({model})"));
        }
        let mut at = 8 + 8 + u64::from(header_len);
        let entry = entry_len(want) as u64;
        while let Some((count, crc)) = read_u32(&mut r).zip(read_u32(&mut r)) {
            let body_len = u64::from(count) * entry;
            if count == 0 || at + 8 + body_len > len {
                break;
            }
            let mut body = vec![0u8; body_len as usize];
            if r.read_exact(&mut body).is_err() || crc32fast::hash(&body) != crc {
                break;
            }
            each(&body);
            at += 8 + body_len;
        }
        self.valid_len = at;
        Ok(())
    }

    /// The file, positioned after its last whole chunk (a torn one cut
    /// off), or new with its header.
    fn open_for_append(&self, header: &[u8]) -> std::io::Result<File> {
        if self.valid_len > 0 {
            let mut f = safe_fs::open_own_for_write(&self.path)?;
            f.set_len(self.valid_len)?;
            f.seek(std::io::SeekFrom::End(0))?;
            return Ok(f);
        }
        safe_fs::clear(&self.path)?;
        let mut f = safe_fs::create_new(&self.path)?;
        f.write_all(MAGIC)?;
        f.write_all(&(header.len() as u32).to_le_bytes())?;
        f.write_all(&crc32fast::hash(header).to_le_bytes())?;
        f.write_all(header)?;
        f.sync_data()?;
        Ok(f)
    }
}

fn read_u32(r: &mut impl Read) -> Option<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).ok().map(|()| u32::from_le_bytes(b))
}

/// The checkpoint at which a test build is killed (`QASEARCH_KILL_AT_CHECKPOINT`:
/// `N` once the Nth is synced, `N-torn` halfway through writing it), with
/// the `failpoints` feature only.
#[cfg(feature = "failpoints")]
fn abort_at_checkpoint(n: usize) -> Option<bool> {
    let v = std::env::var("QASEARCH_KILL_AT_CHECKPOINT").ok()?;
    let (at, torn) = match v.strip_suffix("-torn") {
        Some(at) => (at, true),
        None => (v.as_str(), false),
    };
    (at.parse() == Ok(n)).then_some(torn)
}

/// With the `failpoints` feature, where [`abort_at_checkpoint`] says so:
/// writes the `n`th checkpoint (whole, or half of it) and kills the process.
#[cfg(feature = "failpoints")]
fn killed_at_checkpoint(n: usize, storage: &mut dyn Storage, header: &[u8], chunk: &[u8]) {
    let Some(torn) = abort_at_checkpoint(n) else {
        return;
    };
    let _ = if torn {
        storage.append_torn(header, chunk)
    } else {
        storage.append(header, chunk)
    };
    kill_self()
}

/// Without the `failpoints` feature: nothing.
#[cfg(not(feature = "failpoints"))]
fn killed_at_checkpoint(_n: usize, _storage: &mut dyn Storage, _header: &[u8], _chunk: &[u8]) {}

/// Stops the process as a kill does: no destructor runs, nothing is
/// cleaned up.
#[cfg(feature = "failpoints")]
fn kill_self() -> ! {
    #[cfg(unix)]
    // SAFETY: sending a signal to our own process has no memory effects.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Made;

    fn identity(name: &str) -> ModelIdentity {
        use crate::model::embed::Embedder;
        let mut m = crate::model::embed::HashEmbedder::new(2).identity().clone();
        m.settings.name = name.into();
        m
    }

    fn key(text: &str) -> RowKey<'_> {
        RowKey {
            how: Made::Embedded,
            text,
            span: None,
        }
    }

    fn every(texts: usize) -> Every {
        Every {
            texts,
            seconds: 1e9,
        }
    }

    #[test]
    fn vectors_come_back_after_the_process_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Checkpoint::open(dir.path(), &identity("m"), 2, every(2));
        c.record(&key("a"), &[1.0, 2.0]);
        c.call_done();
        assert!(!dir.path().join(FILE).exists(), "not due after one text");
        c.record(&key("b"), &[3.0, 4.0]);
        c.call_done();
        c.record(&key("c"), &[5.0, 6.0]);
        drop(c); // killed: "c" was never written
        let c = Checkpoint::open(dir.path(), &identity("m"), 2, every(2));
        assert_eq!(c.found(), 2);
        assert_eq!(c.get(&key("b")), Some(&[3.0, 4.0][..]));
        assert_eq!(c.get(&key("c")), None);
        let in_context = RowKey {
            how: Made::InContext,
            text: "b",
            span: Some((0, 1)),
        };
        assert_eq!(c.get(&in_context), None, "another way of embedding");
    }

    #[test]
    fn a_torn_chunk_is_dropped_and_later_ones_written_after_what_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut c = Checkpoint::open(dir.path(), &identity("m"), 2, every(1));
        c.record(&key("a"), &[1.0, 2.0]);
        c.call_done();
        let whole = std::fs::metadata(&path).unwrap().len();
        c.record(&key("b"), &[3.0, 4.0]);
        c.call_done();
        drop(c);
        // A kill halfway through the second chunk.
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(whole + (len - whole) / 2).unwrap();
        let mut c = Checkpoint::open(dir.path(), &identity("m"), 2, every(1));
        assert_eq!(c.found(), 1);
        c.record(&key("c"), &[5.0, 6.0]);
        c.flush();
        drop(c);
        let c = Checkpoint::open(dir.path(), &identity("m"), 2, every(1));
        assert_eq!(c.found(), 2);
        assert_eq!(c.get(&key("c")), Some(&[5.0, 6.0][..]));
        // A flipped byte in a vector: that chunk and what follows are dropped.
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let c = Checkpoint::open(dir.path(), &identity("m"), 2, every(1));
        assert_eq!(c.found(), 1);
    }

    #[test]
    fn another_model_or_garbage_is_discarded_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut c = Checkpoint::open(dir.path(), &identity("m"), 2, every(1));
        c.record(&key("a"), &[1.0, 2.0]);
        c.flush();
        drop(c);
        let c = Checkpoint::open(dir.path(), &identity("other"), 2, every(1));
        assert_eq!(c.found(), 0);
        assert!(!path.exists(), "removed");
        for garbage in [&b""[..], b"QACKPT", b"not a checkpoint at all, just text"] {
            std::fs::write(&path, garbage).unwrap();
            let c = Checkpoint::open(dir.path(), &identity("m"), 2, every(1));
            assert_eq!(c.found(), 0);
            assert!(!path.exists());
        }
        #[cfg(unix)]
        {
            let target = dir.path().join("target");
            std::fs::write(&target, "keep").unwrap();
            std::os::unix::fs::symlink(&target, &path).unwrap();
            let mut c = Checkpoint::open(dir.path(), &identity("m"), 2, every(1));
            c.record(&key("a"), &[1.0, 2.0]);
            c.flush();
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
            assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
        }
    }

    #[test]
    fn a_folder_at_its_name_is_left_alone_and_the_build_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("mine.txt"), "a user's file").unwrap();
        let mut c = Checkpoint::open(dir.path(), &identity("m"), 2, every(1));
        c.record(&key("a"), &[1.0, 2.0]);
        c.flush();
        c.remove();
        assert_eq!(
            std::fs::read_to_string(path.join("mine.txt")).unwrap(),
            "a user's file"
        );
    }

    #[test]
    fn checkpoints_off_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Checkpoint::open(dir.path(), &identity("m"), 2, every(0));
        c.record(&key("a"), &[1.0, 2.0]);
        c.call_done();
        c.flush();
        assert!(!dir.path().join(FILE).exists());
    }
}
