//! Reads a Q&A corpus from a data folder: parsing only, no embedding.
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

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};

/// One question with its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaPair {
    /// The question, trimmed.
    pub question: String,
    /// The full answer; lines of a multi-line answer are joined with `\n`.
    pub answer: String,
    /// 1-based line of the question in its file.
    pub line: usize,
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
    pub passage: String,
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
        }
        hex(&h.finalize())
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
    /// SHA-256 of the bytes; empty when only stat information was read.
    pub sha256: String,
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
}

impl Corpus {
    /// Number of Q&A pairs over all documents.
    pub fn pair_count(&self) -> usize {
        self.documents.iter().map(|d| d.pairs.len()).sum()
    }
}

/// Kind of corpus file, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Txt,
    Jsonl,
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "txt" => Some(Format::Txt),
        "jsonl" => Some(Format::Jsonl),
        _ => None,
    }
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
    /// The data folder, canonical: no file outside it is ever read.
    pub root: PathBuf,
}

/// Lists the corpus files under `root` with their size and modification time
/// (no content is read). Used for the quick freshness check.
pub fn scan(root: &Path) -> Result<Scan> {
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
    let mut files = Vec::new();
    let mut abs = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = HashSet::new();
    // Linked folders that lead outside are pruned before the walk enters them.
    let pruned = std::cell::RefCell::new(Vec::new());
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 {
                return true;
            }
            if e.file_name().to_string_lossy().starts_with('.') {
                return false;
            }
            if e.path_is_symlink() && e.file_type().is_dir() {
                let inside = e
                    .path()
                    .canonicalize()
                    .is_ok_and(|c| c.starts_with(&canon_root));
                if !inside {
                    pruned.borrow_mut().push(Warning {
                        file: rel(root, e.path()),
                        line: None,
                        message: "skipped: symbolic link leads outside the data folder".into(),
                    });
                }
                return inside;
            }
            true
        });
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
        let path = entry.path();
        if format_of(path).is_none() {
            continue;
        }
        let relpath = rel(root, path);
        // A linked file is read only when it leads inside the folder (linked
        // folders leading outside were pruned above); each real file once.
        if entry.path_is_symlink() {
            match path.canonicalize() {
                Ok(c) if c.starts_with(&canon_root) => {}
                Ok(_) => {
                    warnings.push(Warning::skipped_file(
                        relpath,
                        "symbolic link leads outside the data folder",
                    ));
                    continue;
                }
                Err(e) => {
                    warnings.push(Warning::skipped_file(relpath, e));
                    continue;
                }
            }
        }
        let md = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                warnings.push(Warning::skipped_file(relpath, e));
                continue;
            }
        };
        if !seen.insert(file_identity(path, &md)) {
            continue;
        }
        let mtime_ns = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        files.push(SourceFile {
            path: relpath,
            size: md.len(),
            mtime_ns,
            sha256: String::new(),
        });
        abs.push(path.to_path_buf());
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
        root: canon_root,
    })
}

/// Makes every string of `keys` unique, keeping the first of equal ones as it
/// is and giving the others a suffix `~2`, `~3`, … that no other key has.
/// Deterministic: the same input gives the same keys.
pub fn make_unique(keys: &mut [String]) {
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
fn file_identity(_path: &Path, md: &std::fs::Metadata) -> (u64, u64, PathBuf) {
    use std::os::unix::fs::MetadataExt;
    (md.dev(), md.ino(), PathBuf::new())
}

#[cfg(not(unix))]
fn file_identity(path: &Path, _md: &std::fs::Metadata) -> (u64, u64, PathBuf) {
    (
        0,
        0,
        path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
    )
}

/// Reads and parses every corpus file under `root`.
///
/// Fails only when the folder is missing; an empty corpus is returned as such
/// (the indexer decides that it is an error).
pub fn load(root: &Path) -> Result<Corpus> {
    let Scan {
        mut files,
        paths,
        mut warnings,
        root: canon_root,
    } = scan(root)?;
    let mut corpus = Corpus::default();
    corpus.skipped.files = warnings.len();
    let mut kept = Vec::with_capacity(files.len());
    for (mut file, path) in files.drain(..).zip(paths) {
        let bytes = match crate::safe_fs::read_inside(&path, &canon_root) {
            Ok(b) => b,
            Err(why) => {
                warnings.push(Warning::skipped_file(file.path.clone(), &why));
                corpus.skipped.files += 1;
                // Recorded without a hash: it stays "the same" while it stays
                // unreadable, and becomes a change once it can be read.
                if matches!(why, crate::safe_fs::Refused::Io(_)) {
                    kept.push(file);
                }
                continue;
            }
        };
        file.sha256 = sha256_hex(&bytes);
        // A file that fails to decode is still recorded: fixing it is a change.
        kept.push(file.clone());
        let text = match decode(&bytes) {
            Ok(t) => t,
            Err(line) => {
                warnings.push(Warning {
                    file: file.path.clone(),
                    line: Some(line),
                    message: "skipped: file is not UTF-8 text (save it as UTF-8)".into(),
                });
                corpus.skipped.files += 1;
                continue;
            }
        };
        let parsed = keep_meaningful(match format_of(&path) {
            Some(Format::Jsonl) => parse_jsonl(&file.path, text),
            _ => parse_txt(&file.path, text),
        });
        corpus.documents.extend(parsed.documents);
        corpus.skipped.lines += parsed.skipped.lines;
        corpus.skipped.pairs += parsed.skipped.pairs;
        warnings.extend(parsed.warnings);
    }
    // Keys unique by construction, whatever the file names and ids.
    corpus.documents.sort_by(|a, b| a.key.cmp(&b.key));
    let mut keys: Vec<String> = corpus.documents.iter().map(|d| d.key.clone()).collect();
    make_unique(&mut keys);
    for (d, k) in corpus.documents.iter_mut().zip(keys) {
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
    corpus.documents.sort_by(|a, b| a.key.cmp(&b.key));
    corpus.files = kept;
    corpus.warnings = warnings;
    Ok(corpus)
}

/// What parsing one file gives.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Documents with at least one pair.
    pub documents: Vec<Document>,
    /// Problems found.
    pub warnings: Vec<Warning>,
    /// What was skipped.
    pub skipped: Skipped,
}

/// Drops, whatever the format, the pairs whose question or answer holds
/// nothing a model reads (only control or invisible characters:
/// [`crate::corpus::text`]) and passages of that kind, each with a warning naming
/// its line; a document left without pairs is dropped.
pub fn keep_meaningful(mut parsed: Parsed) -> Parsed {
    use crate::corpus::text::{means_something, visible};
    let mut warnings = Vec::new();
    let mut skipped = 0;
    for doc in &mut parsed.documents {
        if !means_something(&doc.passage) {
            doc.passage.clear();
        }
        doc.pairs.retain(|p| {
            let (what, text) = if !means_something(&p.question) {
                ("question", &p.question)
            } else if !means_something(&p.answer) {
                ("answer", &p.answer)
            } else {
                return true;
            };
            warnings.push(Warning {
                file: doc.source.clone(),
                line: Some(p.line),
                message: format!(
                    "pair skipped: its {what} {} holds only control or invisible characters",
                    visible(text)
                ),
            });
            skipped += 1;
            false
        });
    }
    parsed.documents.retain(|d| !d.pairs.is_empty());
    parsed.skipped.pairs += skipped;
    parsed.warnings.extend(warnings);
    parsed
}

/// Decodes UTF-8, dropping a BOM. On failure returns the 1-based line of the
/// first bad byte.
pub fn decode(bytes: &[u8]) -> std::result::Result<&str, usize> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    })
}

/// Characters that end a question line: `?` and its forms in other scripts
/// (Arabic `؟`, full-width `？`, Ethiopic `፧`, Greek uses `;` and is left out:
/// it is also a plain semicolon), and the interrobangs.
pub const QUESTION_MARKS: &[char] = &[
    '?', '\u{061F}', '\u{FF1F}', '\u{1367}', '\u{2047}', '\u{2048}', '\u{2049}', '\u{203D}',
    '\u{FE56}',
];

/// True when a trimmed line is a question.
pub fn is_question(line: &str) -> bool {
    line.ends_with(QUESTION_MARKS)
}

/// Lines of a text with their 1-based numbers: `\n`, `\r\n` and a lone `\r`
/// (old Mac files) each end a line.
pub fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> + '_ {
    let mut rest = Some(text);
    let mut n = 0;
    std::iter::from_fn(move || {
        let t = rest?;
        n += 1;
        match t.find(['\n', '\r']) {
            Some(i) => {
                let skip = if t[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&t[i + skip..]);
                Some((n, &t[..i]))
            }
            None => {
                rest = None;
                Some((n, t))
            }
        }
    })
}

/// At most `max` characters of a text for a message, with `…` when cut.
pub fn excerpt(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => text.into(),
        Some((i, _)) => format!("{}… ({} bytes in all)", &text[..i], text.len()).into(),
    }
}

/// Parses one `.txt` document. `name` is used in warnings and as the key.
pub fn parse_txt(name: &str, text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut passage: Vec<&str> = Vec::new();
    let mut pairs: Vec<QaPair> = Vec::new();
    // The open question (text, line) waiting for its answer.
    let mut question: Option<(&str, usize)> = None;
    let warn = |out: &mut Parsed, line: usize, message: String| {
        out.warnings.push(Warning {
            file: name.to_string(),
            line: Some(line),
            message,
        })
    };
    for (line_no, raw) in lines(text) {
        let line = raw.trim_start_matches('\u{FEFF}').trim();
        if line.is_empty() {
            continue;
        }
        let is_question = is_question(line);
        match (question, is_question) {
            (Some((q, ql)), true) => {
                warn(
                    &mut out,
                    ql,
                    format!("question without an answer, skipped: {:?}", excerpt(q, 120)),
                );
                out.skipped.pairs += 1;
                question = Some((line, line_no));
            }
            (Some((q, ql)), false) => {
                pairs.push(QaPair {
                    question: q.to_string(),
                    answer: line.to_string(),
                    line: ql,
                });
                question = None;
            }
            (None, true) => question = Some((line, line_no)),
            (None, false) => {
                if let Some(last) = pairs.last_mut() {
                    last.answer.push('\n');
                    last.answer.push_str(line);
                } else {
                    passage.push(line);
                }
            }
        }
    }
    if let Some((q, ql)) = question {
        warn(
            &mut out,
            ql,
            format!("question without an answer, skipped: {:?}", excerpt(q, 120)),
        );
        out.skipped.pairs += 1;
    }
    if pairs.is_empty() {
        if out.warnings.is_empty() {
            warn(
                &mut out,
                1,
                "no question-and-answer pairs (a question line must end with '?', its answer follows on the next line)".into(),
            );
        }
    } else {
        out.documents.push(Document {
            key: name.to_string(),
            source: name.to_string(),
            passage: passage.join("\n"),
            pairs,
        });
    }
    out
}

#[derive(Deserialize)]
struct JsonDoc {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    passage: Option<String>,
    qa: Vec<JsonQa>,
}

#[derive(Deserialize)]
struct JsonQa {
    #[serde(default)]
    question: Option<String>,
    #[serde(default)]
    answer: Option<String>,
}

/// Parses a `.jsonl` file: one document a line.
pub fn parse_jsonl(name: &str, text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut keys = HashSet::new();
    for (line_no, raw) in lines(text) {
        let line = raw.trim_start_matches('\u{FEFF}').trim();
        if line.is_empty() {
            continue;
        }
        let mut warn = |message: String| {
            out.warnings.push(Warning {
                file: name.to_string(),
                line: Some(line_no),
                message,
            })
        };
        let doc: JsonDoc = match serde_json::from_str(line) {
            Ok(d) => d,
            Err(e) => {
                warn(format!(
                    "skipped: not a document ({e}); expected {{\"id\": ..., \"passage\": ..., \"qa\": [{{\"question\": ..., \"answer\": ...}}]}}"
                ));
                out.skipped.lines += 1;
                continue;
            }
        };
        let id = match &doc.id {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => format!("L{line_no}"),
            Some(v) => v.to_string(),
        };
        let mut key = format!("{name}#{id}");
        if !keys.insert(key.clone()) {
            let alt = format!("{name}#L{line_no}");
            warn(format!(
                "duplicate id {:?}; this document is kept as {:?}",
                excerpt(&id, 120),
                excerpt(&alt, 160)
            ));
            keys.insert(alt.clone());
            key = alt;
        }
        let mut pairs = Vec::new();
        let mut skipped_here = 0;
        for (n, qa) in doc.qa.into_iter().enumerate() {
            let q = qa.question.as_deref().map(str::trim).unwrap_or("");
            let a = qa.answer.as_deref().map(str::trim).unwrap_or("");
            if q.is_empty() || a.is_empty() {
                let what = if q.is_empty() {
                    "an answer without a question"
                } else {
                    "a question without an answer"
                };
                warn(format!("qa[{n}] is {what}, skipped"));
                skipped_here += 1;
                continue;
            }
            pairs.push(QaPair {
                question: q.to_string(),
                answer: a.to_string(),
                line: line_no,
            });
        }
        out.skipped.pairs += skipped_here;
        if pairs.is_empty() {
            if skipped_here == 0 {
                warn("document has no question-and-answer pairs, skipped".into());
                out.skipped.lines += 1;
            }
            continue;
        }
        out.documents.push(Document {
            key,
            source: name.to_string(),
            passage: doc.passage.unwrap_or_default().trim().to_string(),
            pairs,
        });
    }
    out
}

/// The path relative to the data folder, `/`-separated. Bytes of a name that
/// are not UTF-8 are written as `\xNN`, so names differing only there stay
/// different (equal results are made unique by [`make_unique`]).
fn rel(root: &Path, path: &Path) -> String {
    let r = path.strip_prefix(root).unwrap_or(path);
    r.components()
        .map(|c| escape_os(c.as_os_str()))
        .collect::<Vec<_>>()
        .join("/")
}

fn escape_os(name: &std::ffi::OsStr) -> String {
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
mod tests {
    use super::*;

    const SEED_LIKE: &str = "A news paragraph about things.\nWhat happened?\nThings happened. Then more.\nWhy did it happen?\nBecause of reasons.\n";

    fn questions(p: &Parsed) -> Vec<&str> {
        p.documents
            .iter()
            .flat_map(|d| d.pairs.iter().map(|p| p.question.as_str()))
            .collect()
    }

    #[test]
    fn parses_passage_and_pairs() {
        let p = parse_txt("a.txt", SEED_LIKE);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let d = &p.documents[0];
        assert_eq!(d.passage, "A news paragraph about things.");
        assert_eq!(questions(&p), ["What happened?", "Why did it happen?"]);
        assert_eq!(d.pairs[0].answer, "Things happened. Then more.");
        assert_eq!(d.pairs[0].line, 2);
        assert_eq!(d.pairs[1].line, 4);
    }

    #[test]
    fn tolerates_crlf_blank_lines_trailing_spaces_and_bom() {
        let messy = "\u{FEFF}A news paragraph about things.  \r\n\r\n  What happened?   \r\n\r\nThings happened. Then more.\t\r\n\r\n\r\nWhy did it happen?\r\nBecause of reasons.   ";
        let clean = parse_txt("a.txt", SEED_LIKE);
        let p = parse_txt("a.txt", messy);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(p.documents[0].passage, clean.documents[0].passage);
        assert_eq!(
            p.documents[0].fingerprint(),
            clean.documents[0].fingerprint()
        );
        // A BOM as raw bytes is stripped by decode.
        let bytes = [b"\xEF\xBB\xBF".as_slice(), SEED_LIKE.as_bytes()].concat();
        assert_eq!(decode(&bytes).unwrap(), SEED_LIKE);
    }

    #[test]
    fn question_without_answer_is_warned_and_skipped() {
        let p = parse_txt(
            "a.txt",
            "Passage.\nFirst?\nSecond?\nAnswer two.\nDangling?\n",
        );
        assert_eq!(questions(&p), ["Second?"]);
        assert_eq!(p.skipped.pairs, 2);
        let lines: Vec<_> = p.warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [Some(2), Some(5)]);
        assert!(p.warnings[0]
            .to_string()
            .starts_with("a.txt:2: question without an answer"));
    }

    #[test]
    fn multi_line_answer_continues() {
        let p = parse_txt("a.txt", "P.\nQ?\nLine one.\nLine two.\nQ2?\nA2.");
        assert_eq!(p.documents[0].pairs[0].answer, "Line one.\nLine two.");
        assert_eq!(p.documents[0].pairs.len(), 2);
    }

    #[test]
    fn file_without_pairs_warns() {
        let p = parse_txt("a.txt", "Just a paragraph.\nAnd another.");
        assert!(p.documents.is_empty());
        assert_eq!(p.warnings.len(), 1);
        let p = parse_txt("e.txt", "");
        assert!(p.documents.is_empty());
    }

    #[test]
    fn not_utf8_reports_line() {
        assert_eq!(decode(b"ok\nfine\n\xff\xfe bad"), Err(3));
        assert_eq!(decode(b"\xEF\xBB\xBFok"), Ok("ok"));
    }

    #[test]
    fn jsonl_documents_and_bad_lines() {
        let text = concat!(
            r#"{"id": "d1", "passage": "P one.", "qa": [{"question": "Q1?", "answer": "A1."}, {"question": "Q2?"}]}"#,
            "\n\n",
            "{not json\n",
            r#"{"id": 7, "qa": [{"question": "Q3?", "answer": "A3."}]}"#,
            "\r\n",
            r#"{"id": "d1", "qa": [{"question": "Q4?", "answer": "A4."}]}"#,
            "\n",
            r#"{"id": "empty", "qa": []}"#,
        );
        let p = parse_jsonl("x.jsonl", text);
        let keys: Vec<_> = p.documents.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["x.jsonl#d1", "x.jsonl#7", "x.jsonl#L5"]);
        assert_eq!(questions(&p), ["Q1?", "Q3?", "Q4?"]);
        assert_eq!(p.skipped.lines, 2);
        assert_eq!(p.skipped.pairs, 1);
        let at: Vec<_> = p.warnings.iter().map(|w| w.line.unwrap()).collect();
        assert_eq!(at, [1, 3, 5, 6]);
        assert_eq!(p.documents[0].passage, "P one.");
    }

    #[test]
    fn load_walks_recursively_and_skips_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        std::fs::write(root.join("a.txt"), SEED_LIKE).unwrap();
        std::fs::write(root.join("sub/deeper/b.TXT"), SEED_LIKE).unwrap();
        std::fs::write(root.join(".hidden/c.txt"), SEED_LIKE).unwrap();
        std::fs::write(root.join("notes.md"), SEED_LIKE).unwrap();
        std::fs::write(root.join("bad.txt"), b"P.\nQ?\n\xff\n").unwrap();
        let c = load(root).unwrap();
        let keys: Vec<_> = c.documents.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["a.txt", "sub/deeper/b.TXT"]);
        assert_eq!(c.skipped.files, 1);
        assert_eq!(c.warnings[0].file, "bad.txt");
        assert_eq!(c.warnings[0].line, Some(3));
        assert_eq!(c.files.len(), 3);
        assert_eq!(c.pair_count(), 4);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_outside_are_skipped_inside_are_read_once() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), SEED_LIKE).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.txt"), SEED_LIKE).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("link.txt"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("linkdir")).unwrap();
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("z_same.txt")).unwrap();
        let c = load(root).unwrap();
        let keys: Vec<_> = c.documents.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["a.txt"]);
        assert_eq!(c.skipped.files, 2, "{:?}", c.warnings);
    }

    #[test]
    fn lone_carriage_returns_end_lines() {
        let p = parse_txt("mac.txt", "P.\rWhat is one?\rOne.\rWhat is two?\rTwo.\r");
        assert_eq!(questions(&p), ["What is one?", "What is two?"]);
        assert_eq!(p.documents[0].pairs[1].answer, "Two.");
        assert_eq!(p.documents[0].pairs[1].line, 4);
        let mixed: Vec<_> = lines("a\r\nb\rc\nd").collect();
        assert_eq!(mixed, [(1, "a"), (2, "b"), (3, "c"), (4, "d")]);
        let p = parse_jsonl(
            "d.jsonl",
            "{\"id\": 1, \"qa\": [{\"question\": \"Q?\", \"answer\": \"A.\"}]}\r{\"id\": 2, \"qa\": [{\"question\": \"Q2?\", \"answer\": \"B.\"}]}",
        );
        assert_eq!(p.documents.len(), 2, "{:?}", p.warnings);
    }

    #[test]
    fn question_marks_of_other_scripts_end_questions() {
        let p = parse_txt(
            "ar.txt",
            "فقرة.\nما هو الهدف؟\nالهدف هو السلام.\n这是什么？\n这是一本书。\n",
        );
        assert_eq!(questions(&p), ["ما هو الهدف؟", "这是什么？"]);
        assert_eq!(p.documents[0].pairs[1].answer, "这是一本书。");
    }

    #[test]
    fn warnings_quote_at_most_an_excerpt() {
        let long = format!("{}?", "why ".repeat(250_000));
        let p = parse_txt("a.txt", &format!("P.\n{long}\n"));
        let w = p.warnings[0].to_string();
        assert!(w.len() < 400, "{} bytes", w.len());
        assert!(w.contains("bytes in all"), "{w}");
    }

    #[test]
    fn keys_are_made_unique_deterministically() {
        let mut keys: Vec<String> = ["a", "b", "a", "a~2", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        make_unique(&mut keys);
        assert_eq!(keys, ["a", "b", "a~3", "a~2", "a~4"]);
        let set: HashSet<_> = keys.iter().collect();
        assert_eq!(set.len(), keys.len());
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_keep_apart() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        for b in [0xe9u8, 0xe8] {
            let bytes = [b'c', b, b'.', b't', b'x', b't'];
            std::fs::write(
                dir.path().join(std::ffi::OsStr::from_bytes(&bytes)),
                SEED_LIKE,
            )
            .unwrap();
        }
        let c = load(dir.path()).unwrap();
        let keys: Vec<_> = c.documents.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["c\\xe8.txt", "c\\xe9.txt"]);
    }

    #[test]
    fn missing_folder_is_an_error() {
        let err = load(Path::new("/definitely/not/here")).unwrap_err();
        assert!(matches!(err, Error::DataMissing { .. }));
    }
}
