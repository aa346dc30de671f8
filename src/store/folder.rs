//! The index folder on disk: generations, manifest, checksums, atomic switch,
//! and the writer lock.
//!
//! ```text
//! <index>/
//!   CURRENT                "gen-000007 <crc32 of its manifest.json>": the commit point
//!   gen-000007/
//!     manifest.json        format version, model identity, HNSW settings, counts,
//!                          corpus fingerprints, length + CRC-32 of every other file
//!     meta.bin             bincode: documents, Q&A pairs, where each text occurs
//!                          (one vector row per distinct text)
//!     vectors.f32          row-major little-endian f32, rows × dimension (memory-mapped)
//!     graph.bin            the HNSW graph as flat arrays of rows, walked by queries
//!                          (memory-mapped) and read back to extend it
//!     lexical.bin          bincode: the lexical arm's inverted index
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

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::corpus::SourceFile;
use crate::error::{Error, IoContext, Result};
use crate::index::ann::HnswParams;
use crate::index::mmap_graph::{MmapGraph, Words};
use crate::model::ModelIdentity;

/// Version of the on-disk format; bump it (and note it in CHANGELOG.md) when
/// any persisted struct changes.
pub const FORMAT_VERSION: u32 = 6;

const CURRENT: &str = "CURRENT";
const LOCK: &str = ".lock";
/// The manifest file name.
pub const MANIFEST: &str = "manifest.json";
/// The metadata file name.
pub const META: &str = "meta.bin";
/// The vector matrix file name.
pub const VECTORS: &str = "vectors.f32";
/// The graph as arrays that queries walk in place (see [`crate::index::mmap_graph`]).
pub const GRAPH: &str = "graph.bin";
/// The lexical index (see [`crate::index::lexical::LexicalIndex`]).
pub const LEXICAL: &str = "lexical.bin";
/// Prefix of the hnsw_rs dump files format 3 wrote (removed with their generation).
const OLD_GRAPH_BASE: &str = "graph";
/// Upper bound for decoding `meta.bin`, so damaged bytes cannot ask for a huge allocation.
const META_LIMIT: usize = 1 << 31;
/// Upper bound for reading `manifest.json` and `CURRENT`.
const SMALL_FILE_LIMIT: u64 = 1 << 28;

/// Write steps of a build, numbered for the test switch `QASEARCH_ABORT_AT_STEP`.
pub const WRITE_STEPS: usize = 9;

/// Length and CRC-32 of a file of a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    /// Bytes.
    pub len: u64,
    /// CRC-32 (IEEE).
    pub crc32: u32,
}

/// Whether each answer of several sentences also gets a vector of its own,
/// so that a pair scores by the best of its sentences and its whole answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerVectors {
    /// Sentences only.
    Off,
    /// The normalised mean of the answer's sentence vectors: no model call.
    Pooled,
    /// The whole answer embedded by the model (up to its token window), and
    /// its sentences embedded each alone: twice the model's work.
    Embedded,
    /// The whole answer embedded by the model, and each of its sentences'
    /// vectors taken from that same pass (the mean of the sentence's tokens
    /// read in the context of the whole answer), for answers of up to
    /// [`crate::model::embed::IN_CONTEXT_MAX_TOKENS`] tokens; the sentences of longer
    /// answers are embedded alone. The default: the model's work of
    /// `embedded` halved, and it passed the quality gate (README,
    /// "Whole-answer vectors"). A model that cannot give token states
    /// (e5-small for now) makes `embedded` instead.
    #[default]
    #[serde(rename = "in-context")]
    InContext,
}

impl AnswerVectors {
    /// The name used by `--answer-vectors` and in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            AnswerVectors::Off => "off",
            AnswerVectors::Pooled => "pooled",
            AnswerVectors::Embedded => "embedded",
            AnswerVectors::InContext => "in-context",
        }
    }

    /// Parses [`AnswerVectors::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Off, Self::Pooled, Self::Embedded, Self::InContext]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// Counts recorded in the manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Documents.
    pub documents: usize,
    /// Q&A pairs.
    pub qa_pairs: usize,
    /// Answer sentences that can be found.
    pub sentences: usize,
    /// Live vectors: one per distinct text among the sentences and the
    /// whole answers of several sentences (when [`Manifest::answer_vectors`] is on).
    pub vectors: usize,
    /// Rows in the vector matrix and graph, including hidden ones.
    pub rows: usize,
    /// Stored questions with a vector.
    pub questions: usize,
}

/// A document's key and content fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocFingerprint {
    /// Document key.
    pub key: String,
    /// SHA-256 of its content.
    pub fingerprint: String,
}

/// Everything needed to check a generation before using it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The qasearch version that wrote it.
    pub qasearch_version: String,
    /// Generation number.
    pub generation: u64,
    /// Seconds since the Unix epoch.
    pub created_unix_s: u64,
    /// The model that made the vectors.
    pub model: ModelIdentity,
    /// Version of the sentence splitter.
    pub splitter_version: u32,
    /// HNSW build settings.
    pub hnsw: HnswParams,
    /// Whether and how each answer of several sentences has a whole-answer vector.
    pub answer_vectors: AnswerVectors,
    /// Whether each stored question has a vector.
    pub question_vectors: bool,
    /// How the views are fused.
    pub fusion: crate::index::settings::FusionParams,
    /// Below this fused score `ask` says it has no confident answer.
    pub abstention: crate::index::settings::Abstention,
    /// Counts.
    pub counts: Counts,
    /// The data folder, as given.
    pub data_dir: String,
    /// The corpus files, with size, mtime and SHA-256.
    pub sources: Vec<SourceFile>,
    /// Each document's fingerprint.
    pub documents: Vec<DocFingerprint>,
    /// Length and CRC-32 of every other file of the generation.
    pub files: BTreeMap<String, FileSum>,
}

/// A document in `meta.bin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocMeta {
    /// Key (see [`crate::corpus::Document::key`]).
    pub key: String,
    /// Source file, relative to the data folder.
    pub source: String,
}

/// A Q&A pair in `meta.bin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairMeta {
    /// Index into [`Meta::documents`].
    pub doc: u32,
    /// The question.
    pub question: String,
    /// The full answer.
    pub answer: String,
    /// 1-based line of the question.
    pub line: u32,
}

/// What text of a pair an occurrence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// One sentence of the answer.
    Sentence,
    /// The whole answer (of several sentences).
    Answer,
    /// The stored question.
    Question,
}

impl Kind {
    /// Bit of this kind in a row's kind mask.
    pub const fn bit(self) -> u8 {
        match self {
            Kind::Sentence => 1,
            Kind::Answer => 2,
            Kind::Question => 4,
        }
    }
}

/// One place a text of the index occurs: an answer sentence, a whole answer
/// of several sentences, or a stored question. Texts are stored once: every
/// occurrence of the same text points at the same vector row (so "Yes."
/// answering 500 questions is one vector and one graph node, not 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Index into [`Meta::pairs`].
    pub pair: u32,
    /// The vector row holding this text.
    pub row: u32,
    /// Byte offset of the text in the answer (or the question).
    pub start: u32,
    /// Byte offset just past the text.
    pub end: u32,
    /// Which text of the pair.
    pub kind: Kind,
}

impl Occurrence {
    /// True for an answer sentence.
    pub fn is_sentence(&self) -> bool {
        self.kind == Kind::Sentence
    }
}

/// The metadata beside the vectors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Documents.
    pub documents: Vec<DocMeta>,
    /// Q&A pairs.
    pub pairs: Vec<PairMeta>,
    /// Every occurrence, ordered by pair (a pair's occurrences are contiguous).
    pub occurrences: Vec<Occurrence>,
    /// Rows of the vector matrix (live and hidden).
    pub rows: u32,
    /// Occurrence ids grouped by row (see [`Meta::index_rows`]); not stored.
    #[serde(skip)]
    by_row: Vec<u32>,
    /// `by_row[row_start[r]..row_start[r + 1]]` are the occurrences of row `r`.
    #[serde(skip)]
    row_start: Vec<u32>,
    /// Per row, the [`Kind::bit`]s of its occurrences.
    #[serde(skip)]
    row_kinds: Vec<u8>,
    /// The rows holding a stored question.
    #[serde(skip)]
    question_rows: Vec<u32>,
}

impl Meta {
    /// Metadata with its row index built.
    pub fn new(
        documents: Vec<DocMeta>,
        pairs: Vec<PairMeta>,
        occurrences: Vec<Occurrence>,
        rows: usize,
    ) -> Meta {
        let mut meta = Meta {
            documents,
            pairs,
            occurrences,
            rows: rows as u32,
            by_row: Vec::new(),
            row_start: Vec::new(),
            row_kinds: Vec::new(),
            question_rows: Vec::new(),
        };
        meta.index_rows();
        meta
    }

    /// Builds the row → occurrences index (a counting sort; rows are checked
    /// to be in range by the caller).
    pub fn index_rows(&mut self) {
        let rows = self.rows as usize;
        let mut start = vec![0u32; rows + 1];
        for o in &self.occurrences {
            start[o.row as usize + 1] += 1;
        }
        for r in 0..rows {
            start[r + 1] += start[r];
        }
        let mut fill = start.clone();
        let mut by_row = vec![0u32; self.occurrences.len()];
        let mut kinds = vec![0u8; rows];
        for (i, o) in self.occurrences.iter().enumerate() {
            let slot = &mut fill[o.row as usize];
            by_row[*slot as usize] = i as u32;
            *slot += 1;
            kinds[o.row as usize] |= o.kind.bit();
        }
        self.question_rows = (0..rows as u32)
            .filter(|&r| kinds[r as usize] & Kind::Question.bit() != 0)
            .collect();
        self.by_row = by_row;
        self.row_start = start;
        self.row_kinds = kinds;
    }

    /// Number of vector rows (live and hidden).
    pub fn row_count(&self) -> usize {
        self.rows as usize
    }

    /// The occurrences of a row, in pair order (empty for a hidden row).
    pub fn occurrences_of(&self, row: usize) -> impl Iterator<Item = &Occurrence> + '_ {
        let (a, b) = match (self.row_start.get(row), self.row_start.get(row + 1)) {
            (Some(&a), Some(&b)) => (a as usize, b as usize),
            _ => (0, 0),
        };
        self.by_row[a..b]
            .iter()
            .map(|&i| &self.occurrences[i as usize])
    }

    /// True when some pair still holds the row's text.
    pub fn is_live(&self, row: usize) -> bool {
        self.occurrences_of(row).next().is_some()
    }

    /// True when the row holds a text of one of the kinds in `mask`.
    pub fn row_has(&self, row: usize, mask: u8) -> bool {
        self.row_kinds.get(row).is_some_and(|k| k & mask != 0)
    }

    /// The row of a pair's stored question, if it has a vector.
    pub fn question_row(&self, pair: u32) -> Option<u32> {
        self.pair_occurrences(pair)
            .iter()
            .find(|o| o.kind == Kind::Question)
            .map(|o| o.row)
    }

    /// The rows holding a stored question, in order.
    pub fn question_rows(&self) -> &[u32] {
        &self.question_rows
    }

    /// Number of live rows.
    pub fn live_rows(&self) -> usize {
        self.row_start.windows(2).filter(|w| w[1] > w[0]).count()
    }

    /// The text of an occurrence.
    pub fn text(&self, o: &Occurrence) -> Option<&str> {
        let pair = self.pairs.get(o.pair as usize)?;
        let whole = match o.kind {
            Kind::Question => &pair.question,
            _ => &pair.answer,
        };
        whole.get(o.start as usize..o.end as usize)
    }

    /// The text of a live row.
    pub fn row_text(&self, row: usize) -> Option<&str> {
        self.occurrences_of(row).next().and_then(|o| self.text(o))
    }

    /// The occurrences of one pair.
    pub fn pair_occurrences(&self, pair: u32) -> &[Occurrence] {
        let from = self.occurrences.partition_point(|o| o.pair < pair);
        let to = self.occurrences.partition_point(|o| o.pair <= pair);
        &self.occurrences[from..to]
    }
}

/// The vector matrix of a generation, in memory of its own (see
/// [`read_verified`]).
#[derive(Debug)]
enum Matrix {
    /// The file's bytes, page aligned.
    Copied(memmap2::Mmap),
    Owned(Vec<f32>),
}

impl Matrix {
    fn as_slice(&self) -> &[f32] {
        match self {
            Matrix::Copied(m) => bytemuck::cast_slice(&m[..]),
            Matrix::Owned(v) => v,
        }
    }
}

/// Reads a file of the generation into memory of its own, checking its
/// length and CRC-32 in the same pass. The index is never memory-mapped
/// from its files: a mapped file truncated under a long-lived process
/// (`serve`, `mcp`) would kill it with SIGBUS at the next question; a copy
/// cannot be damaged from outside, and the check reads every byte anyway.
/// The copy is an anonymous mapping asked for huge pages, which halves the
/// cost of faulting in 1.6 GB (docs/safety.md has the cost at 100k and 1M
/// vectors). Returns `None` for an empty file.
pub fn read_verified(path: &Path, sum: &FileSum) -> Result<Option<memmap2::Mmap>> {
    use std::io::Read;
    let (file, len) = safe_fs::open_regular(path).map_err(|e| read_failed(path, e))?;
    if len != sum.len {
        return Err(Error::corrupt(
            path,
            format!("{len} bytes, expected {} (truncated?)", sum.len),
        ));
    }
    if len == 0 {
        return Ok(None);
    }
    let size = usize::try_from(len)
        .map_err(|_| Error::corrupt(path, format!("{len} bytes: too large for this machine")))?;
    let mut copy = memmap2::MmapOptions::new()
        .len(size)
        .map_anon()
        .map_err(|e| Error::io("reading", path, e))?;
    #[cfg(target_os = "linux")]
    let _ = copy.advise(memmap2::Advice::HugePage);
    let mut hasher = crc32fast::Hasher::new();
    let mut file = file.take(len);
    let mut at = 0;
    while at < size {
        let end = (at + (1 << 20)).min(size);
        let n = file
            .read(&mut copy[at..end])
            .map_err(|e| read_failed(path, e))?;
        if n == 0 {
            return Err(Error::corrupt(
                path,
                format!("{at} bytes, expected {len} (truncated while read)"),
            ));
        }
        hasher.update(&copy[at..at + n]);
        at += n;
    }
    if hasher.finalize() != sum.crc32 {
        return Err(Error::corrupt(path, "checksum mismatch"));
    }
    let copy = copy
        .make_read_only()
        .map_err(|e| Error::io("reading", path, e))?;
    Ok(Some(copy))
}

/// An opened, verified generation.
#[derive(Debug)]
pub struct Snapshot {
    /// The generation folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its metadata.
    pub meta: Meta,
    /// The graph queries walk.
    pub graph: MmapGraph,
    /// BM25 over each pair's question and answer.
    pub lexical: crate::index::lexical::LexicalIndex,
    vectors: Matrix,
    /// Where the vectors are searched when they live in a database (then
    /// `graph` and the matrix are empty).
    remote: Option<Box<dyn RemoteRows>>,
}

/// Vector rows kept and searched outside the index folder (a database):
/// the seam a store other than the folder fills in (see [`crate::store::pg`]).
/// Rows are the generation's own row numbers; kinds are [`Kind::bit`] masks.
pub trait RemoteRows: Send + Sync + std::fmt::Debug {
    /// The `n` nearest rows among those holding a kind in `mask`, best first
    /// (score: cosine similarity); `ef` is the search breadth, `exact` scans
    /// every row instead.
    fn nearest(
        &self,
        query: &[f32],
        n: usize,
        mask: u8,
        ef: usize,
        exact: bool,
    ) -> Result<Vec<crate::index::ann::Hit>>;

    /// The cosine similarity of `query` with each of `rows`, in order.
    fn scores(&self, query: &[f32], rows: &[u32]) -> Result<Vec<f32>>;
}

impl Snapshot {
    /// A generation held in memory (while it is being written): for
    /// calibration, which runs the retrieval over what is about to be saved.
    pub fn in_memory(
        manifest: Manifest,
        meta: Meta,
        graph: MmapGraph,
        lexical: crate::index::lexical::LexicalIndex,
        vectors: Vec<f32>,
    ) -> Snapshot {
        Snapshot {
            dir: PathBuf::new(),
            manifest,
            meta,
            graph,
            lexical,
            vectors: Matrix::Owned(vectors),
            remote: None,
        }
    }

    /// A generation whose vectors a database holds and searches; `location`
    /// names it in errors.
    pub fn remote(
        location: &str,
        manifest: Manifest,
        meta: Meta,
        lexical: crate::index::lexical::LexicalIndex,
        rows: Box<dyn RemoteRows>,
    ) -> Snapshot {
        Snapshot {
            dir: PathBuf::from(location),
            manifest,
            meta,
            graph: MmapGraph::empty(),
            lexical,
            vectors: Matrix::Owned(Vec::new()),
            remote: Some(rows),
        }
    }

    /// The database's rows, when this generation lives in one.
    pub fn remote_rows(&self) -> Option<&dyn RemoteRows> {
        self.remote.as_deref()
    }

    /// The cosine similarity of `query` with each of `rows` (dot products of
    /// unit vectors), wherever the vectors are.
    pub fn row_scores(&self, query: &[f32], rows: &[u32]) -> Result<Vec<f32>> {
        match &self.remote {
            Some(remote) => remote.scores(query, rows),
            None => Ok(rows
                .iter()
                .map(|&r| crate::model::vector::dot(self.vector(r as usize), query))
                .collect()),
        }
    }

    /// Fails unless this generation's vectors are in memory (a folder index
    /// or one being built): what export, calibration and rebuilds read.
    pub fn require_local(&self, what: &str) -> Result<()> {
        if self.remote.is_some() {
            return Err(Error::Usage(format!(
                "{what} reads an index folder; {} is a database store (use --index with a folder)",
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// Vector dimension.
    pub fn dimension(&self) -> usize {
        self.manifest.model.settings.dimension
    }

    /// Row-major vectors, `rows × dimension`.
    pub fn vectors(&self) -> &[f32] {
        self.vectors.as_slice()
    }

    /// The vector of a row.
    pub fn vector(&self, row: usize) -> &[f32] {
        let d = self.dimension();
        &self.vectors()[row * d..(row + 1) * d]
    }

    /// Fails with [`Error::Incompatible`] unless the index was made by `model`.
    pub fn check_model(&self, model: &ModelIdentity) -> Result<()> {
        if &self.manifest.model != model {
            return Err(Error::Incompatible {
                path: self.dir.join(MANIFEST),
                what: "model",
                expected: model.id(),
                found: self.manifest.model.id(),
            });
        }
        Ok(())
    }
}

/// What `CURRENT` points at.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pointer {
    generation: u64,
    manifest_crc: u32,
}

fn gen_name(generation: u64) -> String {
    format!("gen-{generation:06}")
}

fn parse_pointer(text: &str) -> Option<Pointer> {
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

use crate::safe_fs::{self, read_limited};

/// True when an index exists at `index_dir` (it has a `CURRENT` entry, of
/// whatever kind: one that is not a valid pointer is reported as damage).
pub fn exists(index_dir: &Path) -> bool {
    std::fs::symlink_metadata(index_dir.join(CURRENT)).is_ok()
}

/// Reads and verifies the manifest of the current generation only.
pub fn read_manifest(index_dir: &Path) -> Result<Manifest> {
    retry_vanished(|| read_manifest_once(index_dir).map(|(_, m)| m))
        .map_err(|e| vanished_is_damage(index_dir, e))
}

/// After retries, a file of the generation that is still missing is damage,
/// not a missing index.
fn vanished_is_damage(index_dir: &Path, e: Error) -> Error {
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

fn read_manifest_once(index_dir: &Path) -> Result<(PathBuf, Manifest)> {
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
    if manifest.format_version != FORMAT_VERSION {
        return Err(incompatible_format(&path, manifest.format_version));
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
fn check_format_first(path: &Path, bytes: &[u8]) -> Option<Error> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let found = v.get("format_version")?.as_u64()?;
    (found != FORMAT_VERSION as u64).then(|| incompatible_format(path, found as u32))
}

fn incompatible_format(path: &Path, found: u32) -> Error {
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
fn read_failed(path: &Path, e: std::io::Error) -> Error {
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

fn retry_vanished<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
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

fn open_once(index_dir: &Path) -> Result<Snapshot> {
    let t = std::time::Instant::now();
    let (dir, manifest) = read_manifest_once(index_dir)?;
    let manifest_path = dir.join(MANIFEST);
    for required in [META, VECTORS, GRAPH, LEXICAL] {
        if !manifest.files.contains_key(required) {
            return Err(Error::corrupt(
                &manifest_path,
                format!("lists no {required}"),
            ));
        }
    }
    for name in manifest.files.keys() {
        if name.contains('/') || name.contains('\\') || name.contains("..") {
            return Err(Error::corrupt(
                &manifest_path,
                format!("bad file name {name:?}"),
            ));
        }
    }
    // The files a question needs; the hnsw_rs dump is checked when a rebuild loads it.
    let meta_path = dir.join(META);
    let meta_sum = &manifest.files[META];
    let meta_bytes =
        read_limited(&meta_path, meta_sum.len.max(1)).map_err(|e| read_failed(&meta_path, e))?;
    if meta_bytes.len() as u64 != meta_sum.len || crc32fast::hash(&meta_bytes) != meta_sum.crc32 {
        return Err(Error::corrupt(
            &meta_path,
            "checksum mismatch (truncated or damaged)",
        ));
    }
    let vectors_path = dir.join(VECTORS);
    let graph_path = dir.join(GRAPH);
    let vectors = read_verified(&vectors_path, &manifest.files[VECTORS])?;
    let words = read_verified(&graph_path, &manifest.files[GRAPH])?;
    log::debug!(
        "vectors and graph read and checked in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let mut meta: Meta = decode(&meta_bytes).map_err(|e| Error::corrupt(&meta_path, e))?;
    drop(meta_bytes);
    let dim = manifest.model.settings.dimension;
    let rows = manifest.counts.rows;
    if dim == 0
        || manifest.files[VECTORS].len != (rows as u64).saturating_mul(dim as u64 * 4)
        || meta.rows as usize != rows
    {
        return Err(Error::corrupt(
            &vectors_path,
            format!(
                "{} bytes for {rows} rows of {dim} floats",
                manifest.files[VECTORS].len
            ),
        ));
    }
    check_meta(&meta).map_err(|reason| Error::corrupt(&meta_path, reason))?;
    meta.index_rows();
    let sentences = meta.occurrences.iter().filter(|o| o.is_sentence()).count();
    if meta.live_rows() != manifest.counts.vectors || sentences != manifest.counts.sentences {
        return Err(Error::corrupt(
            &meta_path,
            "row counts disagree with the manifest",
        ));
    }
    let lexical_path = dir.join(LEXICAL);
    let lexical_bytes = read_limited(&lexical_path, manifest.files[LEXICAL].len.max(1))
        .map_err(|e| read_failed(&lexical_path, e))?;
    if lexical_bytes.len() as u64 != manifest.files[LEXICAL].len
        || crc32fast::hash(&lexical_bytes) != manifest.files[LEXICAL].crc32
    {
        return Err(Error::corrupt(
            &lexical_path,
            "checksum mismatch (truncated or damaged)",
        ));
    }
    let lexical: crate::index::lexical::LexicalIndex =
        decode(&lexical_bytes).map_err(|e| Error::corrupt(&lexical_path, e))?;
    lexical
        .validate(meta.pairs.len())
        .map_err(|e| Error::corrupt(&lexical_path, e))?;
    log::debug!(
        "metadata decoded and checked in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let vectors = match vectors {
        Some(m) if cfg!(target_endian = "little") => Matrix::Copied(m),
        Some(m) => Matrix::Owned(bytes_to_f32(&m)),
        None => Matrix::Owned(Vec::new()),
    };
    let words = match words {
        Some(m) => Words::Mapped(m),
        None => Words::Owned(Vec::new()),
    };
    let graph = MmapGraph::parse(words).map_err(|e| Error::corrupt(&graph_path, e))?;
    if graph.rows() != rows {
        return Err(Error::corrupt(
            &graph_path,
            format!("{} rows, expected {rows}", graph.rows()),
        ));
    }
    log::debug!("index opened in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    Ok(Snapshot {
        dir,
        manifest,
        meta,
        graph,
        lexical,
        vectors,
        remote: None,
    })
}

/// Checks what the row index and the search rely on: every occurrence
/// points at a pair, a row and a span of its answer, in pair order, and every
/// pair at a document.
pub fn check_meta(meta: &Meta) -> std::result::Result<(), String> {
    let mut last_pair = 0;
    for o in &meta.occurrences {
        if o.row >= meta.rows {
            return Err(format!(
                "occurrence points at row {} of {}",
                o.row, meta.rows
            ));
        }
        if meta.text(o).is_none() {
            return Err(format!("occurrence points outside its answer: {o:?}"));
        }
        if o.pair < last_pair {
            return Err("occurrences out of pair order".into());
        }
        last_pair = o.pair;
    }
    if meta
        .pairs
        .iter()
        .any(|p| p.doc as usize >= meta.documents.len())
    {
        return Err("pair points at no document".into());
    }
    Ok(())
}

/// Encodes with bincode (standard configuration).
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("invariant: in-memory structs always encode")
}

/// Decodes with bincode and a size limit; the error is a short reason.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    let config = bincode::config::standard().with_limit::<META_LIMIT>();
    match bincode::serde::decode_from_slice(bytes, config) {
        Ok((v, used)) if used == bytes.len() => Ok(v),
        Ok((_, used)) => Err(format!("{} trailing bytes", bytes.len() - used)),
        Err(e) => Err(e.to_string()),
    }
}

/// Little-endian f32 bytes to floats.
pub fn bytes_to_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Floats as little-endian bytes (the machine's own order: big-endian
/// machines are refused when a graph is read, see [`crate::index::mmap_graph`]).
pub fn f32_as_bytes(v: &[f32]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        std::borrow::Cow::Borrowed(bytemuck::cast_slice(v))
    } else {
        std::borrow::Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect())
    }
}

/// The file that marks a folder as a qasearch index. qasearch writes into
/// (and removes from) a folder only when it holds this file, or when it is
/// empty or new (then the file is written first).
pub const MARKER: &str = ".qasearch-index";
const MARKER_TEXT: &str =
    "This folder is a qasearch index. qasearch writes and removes only the files it made here.\n";

/// Files a generation folder holds; nothing else in it is ever removed.
const GENERATION_FILES: &[&str] = &[MANIFEST, META, VECTORS, GRAPH, LEXICAL];

/// True for a name qasearch gives a generation: `gen-` and six or more digits.
fn is_generation_name(name: &str) -> bool {
    name.strip_prefix("gen-")
        .is_some_and(|d| d.len() >= 6 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// True for a name qasearch gives a build in progress: `tmp-<digits>-<pid>`.
fn is_build_name(name: &str) -> bool {
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
fn is_generation_file(name: &str) -> bool {
    GENERATION_FILES.contains(&name)
        || (name.starts_with(OLD_GRAPH_BASE)
            && (name.ends_with(".hnsw.graph") || name.ends_with(".hnsw.data")))
}

/// True when the `CURRENT` at `path` is a pointer qasearch wrote (a user's
/// own file of that name is not ours to replace).
fn is_our_pointer(path: &Path) -> bool {
    read_limited(path, 64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| parse_pointer(&t))
        .is_some()
}

/// True for an entry qasearch itself puts in an index folder.
fn is_index_entry(name: &str) -> bool {
    name == CURRENT
        || name == "CURRENT.tmp"
        || name == LOCK
        || name == MARKER
        || is_generation_name(name)
        || is_build_name(name)
}

/// Removes a generation or build folder qasearch wrote: only the files it
/// writes there, then the folder if that left it empty. Anything else in it
/// (a user's file) stays, and so does the folder.
fn remove_own_folder(dir: &Path) -> std::io::Result<()> {
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
fn claim(index_dir: &Path) -> Result<()> {
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
fn open_lock(index_dir: &Path) -> Result<(File, PathBuf)> {
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
            abort_at: std::env::var("QASEARCH_ABORT_AT_STEP")
                .ok()
                .and_then(|v| v.parse().ok()),
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

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("syncing", dir)
}

/// Writes a file of the index anew (never through what is at the name:
/// [`safe_fs::write_new`]), clearing a leftover at a name qasearch owns.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let index_error = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::NotAnIndex {
            path: path.parent().unwrap_or(path).to_path_buf(),
            reason: e.to_string(),
        },
        _ => Error::io("writing", path, e),
    };
    safe_fs::clear(path).map_err(index_error)?;
    safe_fs::write_new(path, bytes).map_err(index_error)
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

    /// Checksums recorded so far (the manifest's `files`).
    pub fn file_sums(&self) -> BTreeMap<String, FileSum> {
        self.files.clone()
    }

    /// Writes the manifest and switches `CURRENT` to this generation.
    ///
    /// The caller's `manifest.files` must be [`GenerationWriter::file_sums`].
    pub fn commit(mut self, manifest: &Manifest) -> Result<PathBuf> {
        let bytes = serde_json::to_vec_pretty(manifest).expect("invariant: manifest encodes");
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
