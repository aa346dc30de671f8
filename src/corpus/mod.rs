//! The corpus stage. Takes a data folder; gives its documents as Q&A pairs
//! ([`Corpus`]), with warnings as data, fingerprints for change detection,
//! and the text tools the later stages share: sentence spans ([`split`]),
//! writing systems ([`script`]) and whether a text means anything
//! ([`text`]). Reading is [`scan`] (which files, in what order) then
//! [`parse_txt`] / [`parse_jsonl`]. Parsing only, no embedding; imports no
//! other stage.
//!
//! Every `.txt` file under the folder (recursively) is one document: a news
//! paragraph, then question and answer lines alternating. A question line ends
//! with `?`; the line after a question is its answer unless it is itself a
//! question; further lines that are not questions continue the answer.
//! Every `.jsonl` file holds one document a line:
//! `{"id": ..., "passage": ..., "qa": [{"question": ..., "answer": ...}]}`.
//!
//! Blank lines, CRLF, a UTF-8 BOM and trailing spaces are tolerated. Problems
//! in one file or line (not UTF-8, bad JSON, a question without an answer)
//! become a [`Warning`] naming the file and line; the rest is read. Hidden
//! entries (name starting with `.`) are ignored, and symbolic links are
//! followed only when they lead to somewhere inside the folder.

pub mod script;
pub mod split;
pub mod text;

mod json;
mod markdown;
mod read;
mod recorded;
mod scan;
mod shared;
mod table;

pub use json::parse_json;
pub use markdown::parse_markdown;
pub use read::*;
pub use recorded::{Recorded, SETTLE_NS};
pub use scan::*;
pub use shared::Text;
pub use table::parse_table;

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Result;

/// One question with its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaPair {
    /// The question, trimmed.
    pub question: Text,
    /// The full answer; lines of a multi-line answer are joined with `\n`.
    pub answer: Text,
    /// 1-based line of the question in its file.
    pub line: usize,
    /// Fields beyond question and answer (a CSV row's other columns, a JSON
    /// object's other members), as (name, value) in file order; a list is
    /// one entry per element. Searchable with `--where name=value`.
    #[serde(default)]
    pub meta: Vec<(String, String)>,
}

impl QaPair {
    /// A pair without metadata.
    pub fn new(question: impl Into<Text>, answer: impl Into<Text>, line: usize) -> QaPair {
        QaPair {
            question: question.into(),
            answer: answer.into(),
            line,
            meta: Vec::new(),
        }
    }
}

/// One document: a passage and its Q&A pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Stable key: the path relative to the data folder (`/`-separated), with
    /// `#id` appended for documents of a `.jsonl` file.
    pub key: String,
    /// The file the document came from, relative to the data folder.
    pub source: String,
    /// The passage (news paragraph); may be empty.
    pub passage: Text,
    /// 1-based line where the passage starts (0 when there is none).
    #[serde(default)]
    pub passage_line: usize,
    /// The pairs, in file order.
    pub pairs: Vec<QaPair>,
}

impl Document {
    /// A content hash that ignores formatting (line endings, blank lines).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.passage.as_bytes());
        for p in &self.pairs {
            h.update([0u8]);
            h.update(p.question.as_bytes());
            h.update([1u8]);
            h.update(p.answer.as_bytes());
            for (name, value) in &p.meta {
                h.update([2u8]);
                h.update(name.as_bytes());
                h.update([3u8]);
                h.update(value.as_bytes());
            }
        }
        hex(&h.finalize())
    }

    /// The one document of a file that holds a single FAQ (CSV, JSON,
    /// Markdown), keyed by the file's path.
    pub fn of_file(name: &str, pairs: Vec<QaPair>) -> Document {
        Document {
            key: name.to_string(),
            source: name.to_string(),
            passage: Text::empty(),
            passage_line: 0,
            pairs,
        }
    }
}

/// A file of the corpus as seen on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Path relative to the data folder, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u64,
    /// Status change time (Unix `ctime`: any write, rename into place or
    /// change of the times sets it to now, and no program can set it
    /// back), nanoseconds since the Unix epoch; 0 where unknown (another
    /// system, or an index made before it was recorded).
    #[serde(default)]
    pub ctime_ns: u64,
    /// SHA-256 of the bytes; empty when only stat information was read.
    pub sha256: String,
    /// Read and parsed without a warning: the documents an index holds of
    /// it are all it says, so a later build may take them from the index
    /// instead of reading it again while its size and times are as
    /// recorded ([`Recorded`]). False where unknown.
    #[serde(default)]
    pub clean: bool,
}

/// A problem in one file or line that did not stop the rest from being read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// The file, relative to the data folder.
    pub file: String,
    /// The 1-based line, when one is to blame.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Warning {
    /// A whole file skipped, and why.
    fn skipped_file(file: String, why: impl std::fmt::Display) -> Warning {
        Warning {
            file,
            line: None,
            message: format!("skipped: {why}"),
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Counts of what was skipped with a warning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Whole files (not UTF-8, unreadable, links leading outside).
    pub files: usize,
    /// Lines of `.jsonl` files that are not a valid document.
    pub lines: usize,
    /// Questions without an answer (and answers without a question).
    pub pairs: usize,
}

impl Skipped {
    /// Everything skipped.
    pub fn total(&self) -> usize {
        self.files + self.lines + self.pairs
    }
}

/// A parsed corpus.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// The documents, ordered by key.
    pub documents: Vec<Document>,
    /// The files read, ordered by path.
    pub files: Vec<SourceFile>,
    /// Problems found while reading.
    pub warnings: Vec<Warning>,
    /// What was skipped.
    pub skipped: Skipped,
    /// Files of types qasearch does not read (named in one warning).
    pub unsupported: Vec<String>,
    /// Files, documents and pairs read, per format (`txt`, `jsonl`, `csv`,
    /// `tsv`, `json`, `markdown`).
    pub formats: std::collections::BTreeMap<&'static str, FormatCount>,
    /// When the reading began ([`Scan::started_ns`]).
    pub read_at_ns: u64,
    /// Files whose documents were taken from a previous reading
    /// ([`Recorded`]) instead of read.
    pub files_taken: usize,
}

/// What was read of one format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FormatCount {
    /// Files of the format.
    pub files: usize,
    /// Documents read from them.
    pub documents: usize,
    /// Q&A pairs read from them.
    pub pairs: usize,
}

impl Corpus {
    /// Number of Q&A pairs over all documents.
    pub fn pair_count(&self) -> usize {
        self.documents.iter().map(|d| d.pairs.len()).sum()
    }

    /// Adds what one file of `format` gave.
    fn add(&mut self, format: Format, parsed: Parsed, warnings: &mut Vec<Warning>) {
        let count = self.formats.entry(format.name()).or_default();
        count.files += 1;
        count.documents += parsed.documents.len();
        count.pairs += parsed
            .documents
            .iter()
            .map(|d| d.pairs.len())
            .sum::<usize>();
        self.documents.extend(parsed.documents);
        self.skipped.files += parsed.skipped.files;
        self.skipped.lines += parsed.skipped.lines;
        self.skipped.pairs += parsed.skipped.pairs;
        warnings.extend(parsed.warnings);
    }
}

/// Reads and parses every corpus file under `root`.
///
/// Fails only when the folder is missing; an empty corpus is returned as such
/// (the indexer decides that it is an error).
pub fn load(root: &Path) -> Result<Corpus> {
    Ok(read(scan(root)?, None))
}

/// Reads and parses the files `scan` found, taking from `recorded` the
/// documents of each file unchanged since it was recorded
/// ([`Recorded`]): the corpus is the one a full reading gives.
pub fn read(scan: Scan, mut recorded: Option<Recorded<'_>>) -> Corpus {
    let Scan {
        files,
        paths,
        mut warnings,
        unsupported,
        root,
        started_ns,
    } = scan;
    let mut corpus = Corpus {
        read_at_ns: started_ns,
        ..Corpus::default()
    };
    corpus.skipped.files = warnings.len();
    if let Some(first) = unsupported.first() {
        warnings.push(unsupported_warning(first, &unsupported));
    }
    corpus.unsupported = unsupported;
    let mut kept = Vec::with_capacity(files.len());
    for (file, path) in files.into_iter().zip(paths) {
        let format = format_of(&path).unwrap_or(Format::Txt);
        let taken = (recorded.as_mut())
            .and_then(|r| r.take_unchanged(&file))
            .map(|(then, documents)| (then.clone(), documents));
        let parsed = match taken {
            Some((then, documents)) => {
                kept.push(then);
                corpus.files_taken += 1;
                Parsed {
                    documents,
                    ..Parsed::default()
                }
            }
            None => match read_file(file, &path, &root, format, &mut kept) {
                Ok(parsed) => parsed,
                Err(warning) => {
                    warnings.push(warning);
                    corpus.skipped.files += 1;
                    continue;
                }
            },
        };
        corpus.add(format, parsed, &mut warnings);
    }
    unique_keys(&mut corpus.documents, &mut warnings);
    // A file is clean when no warning names it, whichever way it was read.
    let warned: std::collections::HashSet<&str> =
        warnings.iter().map(|w| w.file.as_str()).collect();
    for f in &mut kept {
        f.clean = !f.sha256.is_empty() && !warned.contains(f.path.as_str());
    }
    corpus.files = kept;
    corpus.warnings = warnings;
    corpus
}

/// Reads and parses one file, recording it in `kept` (one that cannot be
/// read without a hash: it stays "the same" while it stays unreadable, and
/// becomes a change once it can be read), or says why it was skipped.
fn read_file(
    mut file: SourceFile,
    path: &Path,
    root: &Path,
    format: Format,
    kept: &mut Vec<SourceFile>,
) -> std::result::Result<Parsed, Warning> {
    let bytes = match crate::safe_fs::read_inside(path, root) {
        Ok(b) => b,
        Err(why) => {
            let warning = Warning::skipped_file(file.path.clone(), &why);
            if matches!(why, crate::safe_fs::Refused::Io(_)) {
                kept.push(file);
            }
            return Err(warning);
        }
    };
    file.sha256 = sha256_hex(&bytes);
    // A file that fails to decode is still recorded: fixing it is a change.
    kept.push(file);
    let name = &kept[kept.len() - 1].path;
    let text = decode(&bytes).map_err(|line| Warning {
        file: name.clone(),
        line: Some(line),
        message: "skipped: file is not UTF-8 text (save it as UTF-8)".into(),
    })?;
    Ok(keep_meaningful(match format {
        Format::Jsonl => parse_jsonl(name, text),
        Format::Csv => parse_table(name, text, b",;\t"),
        Format::Tsv => parse_table(name, text, b"\t"),
        Format::Json => parse_json(name, text),
        Format::Markdown => parse_markdown(name, text),
        Format::Txt => parse_txt(name, text),
    }))
}

/// Sorts documents by key and makes the keys unique whatever the file
/// names and ids: of equal keys the first in reading order keeps it, the
/// others get a suffix, each with a warning.
fn unique_keys(documents: &mut [Document], warnings: &mut Vec<Warning>) {
    documents.sort_by(|a, b| a.key.cmp(&b.key));
    // Sorted, equal keys are neighbours: most often there are none.
    if documents.windows(2).all(|w| w[0].key != w[1].key) {
        return;
    }
    let mut keys: Vec<String> = documents.iter().map(|d| d.key.clone()).collect();
    make_unique(&mut keys);
    for (d, k) in documents.iter_mut().zip(keys) {
        if d.key != k {
            warnings.push(Warning {
                file: d.source.clone(),
                line: d.pairs.first().map(|p| p.line),
                message: format!(
                    "another document has the key {:?}; this one is kept as {k:?}",
                    d.key
                ),
            });
            d.key = k;
        }
    }
    documents.sort_by(|a, b| a.key.cmp(&b.key));
}

/// The one warning naming the files of types qasearch does not read.
fn unsupported_warning(first: &str, all: &[String]) -> Warning {
    const NAMED: usize = 10;
    let mut names = all
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > NAMED {
        names.push_str(&format!(" and {} more", all.len() - NAMED));
    }
    let files = if all.len() == 1 { "file" } else { "files" };
    Warning {
        file: first.to_string(),
        line: None,
        message: format!(
            "not read: {} {files} of a type qasearch does not read ({names}); it reads {SUPPORTED}",
            all.len()
        ),
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests;
