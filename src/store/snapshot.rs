//! An open generation: its manifest, metadata, vectors and graph, read into
//! memory while their checksums are checked (or, for a database, its rows).

use std::path::{Path, PathBuf};

use super::*;
use crate::error::{Error, Result};
use crate::index::mmap_graph::MmapGraph;
use crate::model::ModelIdentity;
use crate::safe_fs::{self};

/// The kinds of row with a graph of their own beside the main graph:
/// stored questions (often many and alike, a crowd a walk among the answers
/// would wade through) and passages' sentences (few among the rows, so that
/// a walk of the main graph meets few of them). A row of such a kind and
/// another is in both graphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Rows of stored questions (`questions.graph.bin`).
    Questions,
    /// Rows of passages' sentences (`passages.graph.bin`).
    Passages,
}

impl Side {
    /// Every side.
    pub const ALL: [Side; 2] = [Side::Questions, Side::Passages];

    /// The kind of row the graph holds.
    pub fn kind(self) -> Kind {
        match self {
            Side::Questions => Kind::Question,
            Side::Passages => Kind::Passage,
        }
    }

    /// The graph's file in a generation folder.
    pub fn file(self) -> &'static str {
        match self {
            Side::Questions => QUESTION_GRAPH,
            Side::Passages => PASSAGE_GRAPH,
        }
    }

    /// The graph, in words.
    pub fn what(self) -> &'static str {
        match self {
            Side::Questions => "graph of the stored questions",
            Side::Passages => "graph of the passages",
        }
    }

    /// The kinds of row the main graph holds: those no side graph holds.
    pub const MAIN_KINDS: u8 = !(Kind::Question.bit() | Kind::Passage.bit());

    /// Whether a row of kinds `kinds` (a mask) is in the main graph.
    pub fn in_main(kinds: u8) -> bool {
        kinds & Self::MAIN_KINDS != 0
    }

    /// Whether a row of kinds `kinds` is in this side's graph.
    pub fn holds(self, kinds: u8) -> bool {
        kinds & self.kind().bit() != 0
    }

    /// The graph's recall as built, from the manifest.
    pub fn recall(self, manifest: &Manifest) -> Option<f64> {
        match self {
            Side::Questions => manifest.question_graph_recall,
            Side::Passages => manifest.passage_graph_recall,
        }
    }

    /// The rows its graph's extensions changed since its recall was last
    /// estimated ([`Manifest::unestimated`]).
    pub fn unestimated(self, manifest: &Manifest) -> u64 {
        match self {
            Side::Questions => manifest.unestimated.questions,
            Side::Passages => manifest.unestimated.passages,
        }
    }

    /// The graph's probes.
    pub fn probes(self, probes: &crate::index::probes::Probes) -> &[crate::index::probes::Probe] {
        match self {
            Side::Questions => &probes.questions,
            Side::Passages => &probes.passages,
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
    read_verified_all(&[(path.to_path_buf(), *sum)], sum.len)
}

/// [`read_verified`] of several files, one after the other into one copy
/// (`total` bytes: the sum of their lengths).
pub fn read_verified_all(
    files: &[(PathBuf, FileSum)],
    total: u64,
) -> Result<Option<memmap2::Mmap>> {
    let Some(copy) = read_verified_writable(files, total, 0)? else {
        return Ok(None);
    };
    let first = &files[0].0;
    let copy = copy
        .make_read_only()
        .map_err(|e| Error::io("reading", first, e))?;
    Ok(Some(copy))
}

/// [`read_verified_all`] into a mapping left writable, with `room` bytes
/// more after the files' (address space, no memory until written): the
/// vectors, which the next generation may take over and grow ([`Matrix`])
/// where they lie; moved, a mapping's huge pages would be split into small
/// ones, and every later read would pay for it.
pub(super) fn read_verified_writable(
    files: &[(PathBuf, FileSum)],
    total: u64,
    room: usize,
) -> Result<Option<memmap2::MmapMut>> {
    let Some((first, _)) = files.first() else {
        return Ok(None);
    };
    if total == 0 {
        for (path, sum) in files {
            read_into(path, sum, &mut [])?;
        }
        return Ok(None);
    }
    let size = usize::try_from(total)
        .map_err(|_| Error::corrupt(first, format!("{total} bytes: too large for this machine")))?;
    let mut copy = memmap2::MmapOptions::new()
        .len(size.saturating_add(room))
        .map_anon()
        .map_err(|e| Error::io("reading", first, e))?;
    #[cfg(target_os = "linux")]
    let _ = copy.advise(memmap2::Advice::HugePage);
    let mut at = 0usize;
    for (path, sum) in files {
        let end = usize::try_from(sum.len)
            .ok()
            .and_then(|len| at.checked_add(len))
            .filter(|&end| end <= size)
            .ok_or_else(|| Error::corrupt(path, "longer than the files together"))?;
        read_into(path, sum, &mut copy[at..end])?;
        at = end;
    }
    Ok(Some(copy))
}

/// Checks that `file` (at `path`) holds `sum.len` bytes whose CRC-32 is
/// `sum`'s, reading it through a buffer of its own; gives up with an error
/// once `stop` says so (an owner that no longer wants the answer).
pub(super) fn check_file(
    file: std::fs::File,
    path: &Path,
    sum: &FileSum,
    stop: &dyn Fn() -> bool,
) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buffer = vec![0u8; 1 << 20];
    let mut hasher = crc32fast::Hasher::new();
    let mut at = 0u64;
    while at < sum.len {
        if stop() {
            return Err(super::folder::abandoned(path));
        }
        let want = (sum.len - at).min(buffer.len() as u64) as usize;
        let n = file
            .read_at(&mut buffer[..want], at)
            .map_err(|e| read_failed(path, e))?;
        if n == 0 {
            return Err(Error::corrupt(
                path,
                format!("{at} bytes, expected {} (truncated while read)", sum.len),
            ));
        }
        hasher.update(&buffer[..n]);
        at += n as u64;
    }
    if hasher.finalize() != sum.crc32 {
        return Err(Error::corrupt(path, "checksum mismatch"));
    }
    Ok(())
}

/// Reads the file at `path` into `into` (its length: `sum.len`), checking
/// its length and CRC-32 as it goes.
pub(super) fn read_into(path: &Path, sum: &FileSum, into: &mut [u8]) -> Result<()> {
    use std::io::Read;
    let (file, len) = safe_fs::open_regular(path).map_err(|e| read_failed(path, e))?;
    if len != sum.len {
        return Err(Error::corrupt(
            path,
            format!("{len} bytes, expected {} (truncated?)", sum.len),
        ));
    }
    let size = into.len();
    if size as u64 != len {
        return Err(Error::corrupt(path, "longer than the files together"));
    }
    let mut hasher = crc32fast::Hasher::new();
    let mut file = file.take(len);
    let mut at = 0;
    while at < size {
        let end = (at + (1 << 20)).min(size);
        let n = file
            .read(&mut into[at..end])
            .map_err(|e| read_failed(path, e))?;
        if n == 0 {
            return Err(Error::corrupt(
                path,
                format!("{at} bytes, expected {len} (truncated while read)"),
            ));
        }
        hasher.update(&into[at..at + n]);
        at += n;
    }
    if hasher.finalize() != sum.crc32 {
        return Err(Error::corrupt(path, "checksum mismatch"));
    }
    Ok(())
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
    /// The graph queries walk: every row, or, beside a graph of the stored
    /// questions, every row but those that hold stored questions only.
    pub graph: MmapGraph,
    /// The graph of the stored questions (`questions.graph.bin`), when the
    /// index has one.
    pub question_graph: Option<MmapGraph>,
    /// The graph of the passages' sentences (`passages.graph.bin`), when
    /// the index has one.
    pub passage_graph: Option<MmapGraph>,
    /// BM25 over each pair's question and answer.
    pub lexical: crate::index::lexical_delta::Lexical,
    /// The learned sparse arm, when the index was built with it (`--sparse`).
    pub sparse: Option<crate::index::sparse::SparseIndex>,
    /// The graphs' probes (`probes.bin`): rows with their exact nearest
    /// members, for the recall check of the next update. None in an index
    /// of an earlier qasearch, or one without a graph.
    pub probes: Option<crate::index::probes::Probes>,
    /// Where the documents of `meta` lie in the `meta.bin` it was read
    /// from (for a generation being made: in the one its delta would be
    /// over). None for metadata not in columns, or not read from a folder.
    pub meta_base: Option<super::meta_delta::MetaBase>,
    pub(super) vectors: Matrix,
    /// The files searched where they lie beside the vectors (the graphs of
    /// a generation opened by `folder::open_mapped`), asked by
    /// [`Snapshot::answers_verified`].
    pub(super) kept: Vec<std::sync::Arc<super::checked::KeptFile>>,
    /// Where the vectors are searched when they live in a database (then
    /// `graph` and the matrix are empty).
    pub(super) remote: Option<Box<dyn RemoteRows>>,
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
    /// A side's graph, when the index has one.
    pub fn side_graph(&self, side: Side) -> Option<&MmapGraph> {
        match side {
            Side::Questions => self.question_graph.as_ref(),
            Side::Passages => self.passage_graph.as_ref(),
        }
    }

    /// A generation held in memory (while it is being written): for
    /// calibration, which runs the retrieval over what is about to be saved.
    pub fn in_memory(
        manifest: Manifest,
        meta: Meta,
        graph: MmapGraph,
        lexical: crate::index::lexical_delta::Lexical,
        vectors: Matrix,
    ) -> Snapshot {
        Snapshot {
            dir: PathBuf::new(),
            manifest,
            meta,
            graph,
            question_graph: None,
            passage_graph: None,
            lexical,
            sparse: None,
            probes: None,
            meta_base: None,
            vectors,
            kept: Vec::new(),
            remote: None,
        }
    }

    /// A generation whose vectors a database holds and searches; `location`
    /// names it in errors.
    pub fn remote(
        location: &str,
        manifest: Manifest,
        meta: Meta,
        lexical: crate::index::lexical_delta::Lexical,
        rows: Box<dyn RemoteRows>,
    ) -> Snapshot {
        Snapshot {
            dir: PathBuf::from(location),
            manifest,
            meta,
            graph: MmapGraph::empty(),
            question_graph: None,
            passage_graph: None,
            lexical,
            sparse: None,
            probes: None,
            meta_base: None,
            vectors: Matrix::default(),
            kept: Vec::new(),
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
                "{what} reads an index folder; {} is a database store (use {} with a folder)",
                self.dir.display(),
                crate::error::Setting::Index
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

    /// Takes the vectors out, leaving none: for the next generation, whose
    /// first rows they are (an extension grows them in place). Hand them
    /// back with [`Snapshot::restore_vectors`] where it does not use them.
    pub fn take_vectors(&mut self) -> Matrix {
        std::mem::take(&mut self.vectors)
    }

    /// Whether the vectors were intact, and still are, for a generation
    /// opened by [`open_mapped`] (whose vectors are checked while it is
    /// used): waits for the check the first time. Ok for one opened
    /// otherwise (checked as read, and held in memory of its own).
    pub fn vectors_verified(&self) -> Result<()> {
        self.vectors.verified()
    }

    /// Whether an answer read from this generation may be given: its
    /// vectors verified ([`Snapshot::vectors_verified`]) and, for one
    /// opened by [`open_mapped`], the graph files searched where they lie
    /// still as they were checked (no page lost, not written to since).
    pub fn answers_verified(&self) -> Result<()> {
        self.vectors_verified()?;
        self.files_intact()
    }

    /// Whether the files this generation reads where they lie (its graphs,
    /// for one opened by [`open_mapped`] or `open_for_update`) are still as
    /// they were checked: no page lost, not written to since. Ok for one
    /// that holds them in memory of its own.
    pub fn files_intact(&self) -> Result<()> {
        self.kept.iter().try_for_each(|file| file.intact())
    }

    /// Starts the check of the vectors of a generation opened by
    /// [`open_for_update`], which waits to be asked for; nothing for one
    /// opened otherwise.
    pub fn start_vector_check(&self) {
        self.vectors.start_check()
    }

    /// Puts back vectors [`Snapshot::take_vectors`] took, keeping their
    /// first `floats` floats (the rows this generation had).
    pub fn restore_vectors(&mut self, mut vectors: Matrix, floats: usize) {
        vectors.truncate(floats);
        self.vectors = vectors;
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
