//! What a generation records: the manifest (format, model, settings, counts,
//! fingerprints, checksums) and the metadata (documents, pairs, where each
//! text occurs), with their encoding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::corpus::SourceFile;
use crate::index::ann::HnswParams;
use crate::model::ModelIdentity;

/// Version of the on-disk format; bump it (and note it in CHANGELOG.md) when
/// any persisted struct changes.
pub const FORMAT_VERSION: u32 = 7;

/// The format of a folder generation whose vectors are in several files
/// ([`Manifest::vector_files`]); otherwise as [`FORMAT_VERSION`], which an
/// earlier qasearch reads. Both are read.
pub const SEGMENTED_FORMAT: u32 = 8;

/// The format of a folder generation with a graph patch ([`patch_of`]),
/// which an earlier qasearch refuses (it would read the base alone). All
/// three are read.
pub const PATCHED_FORMAT: u32 = 9;

/// The format of a folder generation with a lexical delta
/// ([`LEXICAL_DELTA`]), which an earlier qasearch refuses (it would read
/// the base alone). All four are read.
pub const DELTA_FORMAT: u32 = 10;

/// The format of a folder generation whose `meta.bin` is in columns
/// ([`crate::store::meta_columns`]; [`Manifest::meta_columns`]), which an
/// earlier qasearch refuses (it would fail to decode it). Every folder
/// generation this qasearch writes has it; all five are read.
pub const COLUMNS_FORMAT: u32 = 11;

/// The format of a folder generation whose metadata is a `meta.bin` and a
/// delta over it ([`META_DELTA`], [`crate::store::meta_delta`]), which an
/// earlier qasearch refuses (it would read the base alone). All six are
/// read.
pub const META_DELTA_FORMAT: u32 = 12;

/// The formats this qasearch reads.
pub const FORMATS_READ: [u32; 6] = [
    FORMAT_VERSION,
    SEGMENTED_FORMAT,
    PATCHED_FORMAT,
    DELTA_FORMAT,
    COLUMNS_FORMAT,
    META_DELTA_FORMAT,
];

pub(super) const CURRENT: &str = "CURRENT";

pub(super) const LOCK: &str = ".lock";

/// The manifest file name.
pub const MANIFEST: &str = "manifest.json";

/// The metadata file name.
pub const META: &str = "meta.bin";

/// The documents changed since `meta.bin` was written, and which of its
/// documents are kept (see [`crate::store::meta_delta`]).
pub const META_DELTA: &str = "meta.delta.bin";

/// The vector matrix file name.
pub const VECTORS: &str = "vectors.f32";

/// The graph as arrays that queries walk in place (see [`crate::index::mmap_graph`]).
pub const GRAPH: &str = "graph.bin";

/// The graph of the stored questions, apart from `graph.bin` (which then
/// holds the other rows only); absent without stored questions, and in
/// indexes of qasearch before 2026-12.
pub const QUESTION_GRAPH: &str = "questions.graph.bin";
/// The graph of the passages' sentences, apart from the main graph.
pub const PASSAGE_GRAPH: &str = "passages.graph.bin";
/// The probes of the graph of the passages (those of the other graphs are
/// in `probes.bin`).
pub const PASSAGE_PROBES: &str = "passages.probes.bin";
/// The graphs' probes, for the recall check of the next update
/// ([`crate::index::probes`]).
pub const PROBES: &str = "probes.bin";

/// The patch of the graph in `graph_file` (`graph.patch.bin` for
/// `graph.bin`): the rows updates changed since that file was written
/// ([`crate::index::mmap_graph`]).
pub fn patch_of(graph_file: &str) -> String {
    let stem = graph_file.strip_suffix(".bin").unwrap_or(graph_file);
    format!("{stem}.patch.bin")
}

/// The graph files' patches, as [`patch_of`] names them.
pub const GRAPH_PATCHES: [&str; 3] = [
    "graph.patch.bin",
    "questions.graph.patch.bin",
    "passages.graph.patch.bin",
];

/// The lexical index (see [`crate::index::lexical::LexicalIndex`]); after
/// small updates, the base of [`LEXICAL_DELTA`].
pub const LEXICAL: &str = "lexical.bin";

/// The pairs added or changed since `lexical.bin` was written, and where its
/// documents went (see [`crate::index::lexical_delta`]).
pub const LEXICAL_DELTA: &str = "lexical.delta.bin";

/// The learned sparse arm, when built (see [`crate::index::sparse::SparseIndex`]).
pub const SPARSE: &str = "sparse.bin";

/// Prefix of the hnsw_rs dump files format 3 wrote (removed with their generation).
pub(super) const OLD_GRAPH_BASE: &str = "graph";

/// Upper bound for decoding `meta.bin`, so damaged bytes cannot ask for a huge allocation.
pub(super) const META_LIMIT: usize = 1 << 31;

/// Upper bound for reading `manifest.json` and `CURRENT`.
pub(super) const SMALL_FILE_LIMIT: u64 = 1 << 28;

/// Write steps of a build, numbered for the test switch `QASEARCH_ABORT_AT_STEP`
/// (read only by builds with the cargo feature `failpoints`).
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
    /// `embedded` halved, and it passed the quality gate (docs/benchmarks.md,
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

/// Rows added to or dropped from each graph since its recall was last
/// estimated ([`Manifest::unestimated`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unestimated {
    /// The main graph's.
    #[serde(default)]
    pub graph: u64,
    /// The stored questions' graph's.
    #[serde(default)]
    pub questions: u64,
    /// The passages' graph's.
    #[serde(default)]
    pub passages: u64,
}

impl Unestimated {
    /// True when every graph's recall was estimated by its last extension.
    pub fn is_zero(&self) -> bool {
        *self == Unestimated::default()
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
    /// Sentences of documents' passages (searched by the passage view).
    #[serde(default)]
    pub passage_sentences: usize,
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
    /// Texts embedded or dropped since `fusion` and `abstention` were fitted
    /// (0: fitted for this generation). A small update keeps the fit of a
    /// large corpus (see `indexer::generation::keeps_calibration`).
    #[serde(default)]
    pub changed_since_calibration: u64,
    /// Recall@10 against exact search of the graph when it was built, on a
    /// sample of its rows (absent: an earlier qasearch, or no graph). An
    /// extension must keep it (`indexer::least_recall`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_recall: Option<f64>,
    /// The same for the graph of the stored questions (`questions.graph.bin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_graph_recall: Option<f64>,
    /// The same for the graph of the passages (`passages.graph.bin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_graph_recall: Option<f64>,
    /// Per graph, the rows its extensions added or dropped since its
    /// recall was last estimated from its probes: an extension estimates
    /// it again once they reach a share of the graph's rows
    /// (`indexer::recall::ESTIMATE_SHARE`). Absent: none (every extension
    /// of an earlier qasearch estimated it).
    #[serde(default, skip_serializing_if = "Unestimated::is_zero")]
    pub unestimated: Unestimated,
    /// Counts.
    pub counts: Counts,
    /// The data folder, as given.
    pub data_dir: String,
    /// The corpus files, with size, times and SHA-256.
    pub sources: Vec<SourceFile>,
    /// When the reading of `sources` began, nanoseconds since the Unix
    /// epoch (0: not recorded). A later build takes the documents of a file
    /// unchanged since then from `meta.bin` instead of reading it
    /// ([`crate::corpus::Recorded`]).
    #[serde(default)]
    pub read_at_ns: u64,
    /// Each document's fingerprint.
    pub documents: Vec<DocFingerprint>,
    /// Length and CRC-32 of every other file of the generation.
    pub files: BTreeMap<String, FileSum>,
    /// The files of the vectors in row order, when there are several (the
    /// first is `vectors.f32`; see [`crate::store::segments`]); empty when
    /// `vectors.f32` holds every row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vector_files: Vec<VectorFile>,
    /// `meta.bin` is in columns ([`crate::store::meta_columns`]), not
    /// encoded by serde and bincode (false: an earlier qasearch's, or a
    /// database's generation).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub meta_columns: bool,
}

/// One file of a generation's vectors: its name and the rows it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorFile {
    /// The file's name in the generation folder.
    pub name: String,
    /// Rows it holds.
    pub rows: usize,
}

impl Manifest {
    /// The files of the vectors in row order (`vectors.f32` alone, unless
    /// [`Manifest::vector_files`] says otherwise).
    pub fn vector_files(&self) -> Vec<VectorFile> {
        match self.vector_files.is_empty() {
            true => vec![VectorFile {
                name: VECTORS.to_string(),
                rows: self.counts.rows,
            }],
            false => self.vector_files.clone(),
        }
    }

    /// The format a generation with these files has: the earliest that
    /// reads them.
    pub fn format_needed(&self) -> u32 {
        if self.files.contains_key(META_DELTA) {
            META_DELTA_FORMAT
        } else if self.meta_columns {
            COLUMNS_FORMAT
        } else if self.files.contains_key(LEXICAL_DELTA) {
            DELTA_FORMAT
        } else if GRAPH_PATCHES.iter().any(|p| self.files.contains_key(*p)) {
            PATCHED_FORMAT
        } else if !self.vector_files.is_empty() {
            SEGMENTED_FORMAT
        } else {
            FORMAT_VERSION
        }
    }
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
    pub question: crate::corpus::Text,
    /// The full answer.
    pub answer: crate::corpus::Text,
    /// 1-based line of the question (of the passage's first line for a passage).
    pub line: u32,
    /// The pair's metadata fields, (name, value) in file order.
    pub meta: Vec<(String, String)>,
    /// True for a document's passage, kept as a pair without a question
    /// whose sentences the passage view searches.
    pub passage: bool,
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
    /// One sentence of a document's passage.
    Passage,
}

impl Kind {
    /// Bit of this kind in a row's kind mask.
    pub const fn bit(self) -> u8 {
        match self {
            Kind::Sentence => 1,
            Kind::Answer => 2,
            Kind::Question => 4,
            Kind::Passage => 8,
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

    /// True for a sentence a result can show: of an answer or of a passage.
    pub fn is_shown(&self) -> bool {
        matches!(self.kind, Kind::Sentence | Kind::Passage)
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
    /// The rows holding a passage sentence.
    #[serde(skip)]
    passage_rows: Vec<u32>,
    /// The rows holding an answer or one of its sentences.
    #[serde(skip)]
    answer_rows: Vec<u32>,
    /// The pairs of each metadata (name, value), both lowercase, in order.
    #[serde(skip)]
    by_field: std::collections::HashMap<(String, String), Vec<u32>>,
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
            passage_rows: Vec::new(),
            answer_rows: Vec::new(),
            by_field: Default::default(),
        };
        meta.index_rows();
        meta
    }

    /// Metadata without its row index (as decoded: [`Meta::index_rows`]
    /// builds it once [`check_meta`] passed).
    pub(super) fn unindexed(
        documents: Vec<DocMeta>,
        pairs: Vec<PairMeta>,
        occurrences: Vec<Occurrence>,
        rows: u32,
    ) -> Meta {
        Meta {
            documents,
            pairs,
            occurrences,
            rows,
            ..Meta::default()
        }
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
        let having = |bits: u8| -> Vec<u32> {
            (0..rows as u32)
                .filter(|&r| kinds[r as usize] & bits != 0)
                .collect()
        };
        self.question_rows = having(Kind::Question.bit());
        self.passage_rows = having(Kind::Passage.bit());
        self.answer_rows = having(Kind::Answer.bit() | Kind::Sentence.bit());
        self.by_row = by_row;
        self.row_start = start;
        self.row_kinds = kinds;
        self.by_field.clear();
        for (i, p) in self.pairs.iter().enumerate() {
            for (name, value) in &p.meta {
                let list = self
                    .by_field
                    .entry((name.to_lowercase(), value.to_lowercase()))
                    .or_default();
                if list.last() != Some(&(i as u32)) {
                    list.push(i as u32);
                }
            }
        }
    }

    /// The pairs whose metadata has the field `name` with `value` (case
    /// ignored), in order.
    pub fn pairs_with(&self, name: &str, value: &str) -> &[u32] {
        self.by_field
            .get(&(name.to_lowercase(), value.to_lowercase()))
            .map_or(&[], Vec::as_slice)
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

    /// The rows holding a passage sentence, in order.
    pub fn passage_rows(&self) -> &[u32] {
        &self.passage_rows
    }

    /// The rows holding an answer or one of its sentences, in order.
    pub fn answer_rows(&self) -> &[u32] {
        &self.answer_rows
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

/// A lexical index from the bytes [`encode`] wrote for it: read in tight
/// loops ([`LexicalIndex::decode_fast`]), or by [`decode`] when those
/// bytes are not exactly what bincode writes (its result, or its reason).
///
/// [`LexicalIndex::decode_fast`]: crate::index::lexical::LexicalIndex::decode_fast
pub fn decode_lexical(
    bytes: &[u8],
) -> std::result::Result<crate::index::lexical::LexicalIndex, String> {
    crate::index::lexical::LexicalIndex::decode_fast(bytes).map_or_else(|| decode(bytes), Ok)
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
