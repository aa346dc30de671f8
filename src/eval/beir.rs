//! Reads evaluation sets: the BEIR layout (`corpus.jsonl`, `queries.jsonl`,
//! `qrels/test.tsv`) and extra-question TSV files for the Q&A corpus.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::corpus::{Corpus, Document, QaPair, SourceFile};
use crate::error::{Error, Result};
use crate::eval::{EvalQuery, Judgements};

/// A BEIR dataset in memory.
#[derive(Debug, Clone)]
pub struct BeirSet {
    /// Folder name.
    pub name: String,
    /// Corpus entries: (id, text), in file order.
    pub corpus: Vec<(String, String)>,
    /// Queries with at least one judgement, in file order.
    pub queries: Vec<EvalQuery>,
    /// SHA-256 of `corpus.jsonl`, for the cache key.
    pub corpus_sha256: String,
}

fn bad(path: &Path, line: Option<usize>, message: impl Into<String>) -> Error {
    Error::BadInput {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// The largest BEIR file read.
const BEIR_FILE_LIMIT: u64 = 8 << 30;

fn read(path: &Path) -> Result<Vec<u8>> {
    crate::safe_fs::read_user_file(path, BEIR_FILE_LIMIT).map_err(|e| {
        bad(
            path,
            None,
            format!("cannot read ({e}); a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/test.tsv"),
        )
    })
}

fn text_lines<'a>(path: &Path, bytes: &'a [u8]) -> Result<impl Iterator<Item = (usize, &'a str)>> {
    let text = crate::corpus::decode(bytes).map_err(|line| bad(path, Some(line), "not UTF-8"))?;
    Ok(text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty()))
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "_id")]
    id: serde_json::Value,
    text: String,
}

fn id_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Entries of a JSONL file as (id, text), and the file's bytes.
type Entries = (Vec<(String, String)>, Vec<u8>);

fn read_entries(path: &Path) -> Result<Entries> {
    let bytes = read(path)?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (line, text) in text_lines(path, &bytes)? {
        let e: Entry = serde_json::from_str(text).map_err(|e| {
            bad(
                path,
                Some(line),
                format!("not a JSON object with \"_id\" and \"text\": {e}"),
            )
        })?;
        let id = id_string(&e.id)
            .ok_or_else(|| bad(path, Some(line), "\"_id\" must be a string or a number"))?;
        if !seen.insert(id.clone()) {
            return Err(bad(path, Some(line), format!("duplicate _id {id:?}")));
        }
        out.push((id, e.text));
    }
    Ok((out, bytes))
}

/// Loads a BEIR folder and checks that the judgements refer to known ids.
pub fn load(dir: &Path) -> Result<BeirSet> {
    if !dir.is_dir() {
        return Err(bad(dir, None, "not a folder; expected a BEIR folder with corpus.jsonl, queries.jsonl and qrels/test.tsv"));
    }
    let corpus_path = dir.join("corpus.jsonl");
    let (corpus, corpus_bytes) = read_entries(&corpus_path)?;
    if corpus.iter().all(|(_, text)| text.trim().is_empty()) {
        return Err(bad(&corpus_path, None, "no corpus entry has any text"));
    }
    let (queries, _) = read_entries(&dir.join("queries.jsonl"))?;
    let qrels_path = dir.join("qrels").join("test.tsv");
    let corpus_ids: HashSet<&str> = corpus.iter().map(|(id, _)| id.as_str()).collect();
    let query_ids: HashSet<&str> = queries.iter().map(|(id, _)| id.as_str()).collect();
    let qrels = read_qrels(&qrels_path, &corpus_ids, &query_ids)?;
    let queries = queries
        .into_iter()
        .filter_map(|(id, text)| {
            qrels.get(&id).cloned().map(|qrels| EvalQuery {
                id,
                text,
                qrels,
                stored_pair: None,
            })
        })
        .collect();
    Ok(BeirSet {
        name: dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .unwrap_or_else(|| dir.display().to_string()),
        corpus,
        queries,
        corpus_sha256: crate::corpus::sha256_hex(&corpus_bytes),
    })
}

fn read_qrels(
    path: &Path,
    corpus_ids: &HashSet<&str>,
    query_ids: &HashSet<&str>,
) -> Result<HashMap<String, Judgements>> {
    let bytes = read(path)?;
    let mut out: HashMap<String, Judgements> = HashMap::new();
    for (line, text) in text_lines(path, &bytes)? {
        let cols: Vec<&str> = text.split('\t').map(str::trim).collect();
        if line == 1 && cols.first() == Some(&"query-id") {
            continue;
        }
        let [qid, did, score] = cols[..] else {
            return Err(bad(
                path,
                Some(line),
                format!(
                    "expected 3 tab-separated columns (query-id, corpus-id, score), found {}",
                    cols.len()
                ),
            ));
        };
        let score: i64 = score.parse().map_err(|_| {
            bad(
                path,
                Some(line),
                format!("score {score:?} is not an integer"),
            )
        })?;
        if !corpus_ids.contains(did) {
            return Err(bad(
                path,
                Some(line),
                format!("unknown corpus id {did:?} (not in corpus.jsonl)"),
            ));
        }
        if !query_ids.contains(qid) {
            return Err(bad(
                path,
                Some(line),
                format!("unknown query id {qid:?} (not in queries.jsonl)"),
            ));
        }
        out.entry(qid.to_string())
            .or_default()
            .insert(did.to_string(), score);
    }
    if out.is_empty() {
        return Err(bad(path, None, "no relevance judgements"));
    }
    Ok(out)
}

impl BeirSet {
    /// The corpus as documents for the indexer: one document and one
    /// "answer" per entry, keyed by its id. Empty entries are left out.
    pub fn to_corpus(&self, source: &Path) -> Corpus {
        let source_name = source.display().to_string();
        let documents = self
            .corpus
            .iter()
            .enumerate()
            .filter(|(_, (_, text))| crate::corpus::text::means_something(text))
            .map(|(i, (id, text))| Document {
                key: id.clone(),
                source: source_name.clone(),
                passage: crate::corpus::Text::empty(),
                passage_line: 0,
                pairs: vec![QaPair::new("", text.trim(), i + 1)],
            })
            .collect();
        Corpus {
            documents,
            files: vec![SourceFile {
                path: source_name,
                size: 0,
                mtime_ns: 0,
                ctime_ns: 0,
                sha256: self.corpus_sha256.clone(),
                clean: false,
            }],
            ..Corpus::default()
        }
    }
}

/// Questions one a line (blank lines and `#` comments skipped), or the
/// `text` of each line of a BEIR `queries.jsonl`.
pub fn question_lines(path: &Path) -> Result<Vec<String>> {
    let bytes = read(path)?;
    let mut out = Vec::new();
    for (line, text) in text_lines(path, &bytes)? {
        let text = text.trim();
        if text.starts_with('#') {
            continue;
        }
        if text.starts_with('{') {
            let e: Entry = serde_json::from_str(text).map_err(|e| {
                bad(
                    path,
                    Some(line),
                    format!("not a JSON object with \"text\": {e}"),
                )
            })?;
            out.push(e.text);
        } else {
            out.push(text.to_string());
        }
    }
    if out.is_empty() {
        return Err(bad(path, None, "no questions in the file"));
    }
    Ok(out)
}

/// Queries for the Q&A corpus itself: every corpus question, relevant to its
/// own pair. Pair ids are the pairs' positions, as strings.
pub fn corpus_queries(pairs: &[(String, String)]) -> Vec<EvalQuery> {
    pairs
        .iter()
        .enumerate()
        // A passage has no stored question to ask.
        .filter(|(_, (_, question))| !question.is_empty())
        .map(|(i, (_, question))| EvalQuery {
            id: format!("corpus-{i}"),
            text: question.clone(),
            qrels: [(i.to_string(), 1)].into_iter().collect(),
            // The stored question must not find itself through the question view.
            stored_pair: Some(i),
        })
        .collect()
}

/// Reads extra questions: `question<TAB>doc<TAB>corpus question` a line
/// (`(passage)` for a question the document's passage answers);
/// lines with the same question form one query with several relevant pairs
/// (`#` comments and a `question<TAB>doc<TAB>...` header are skipped). `pairs`
/// are (doc key, question) of the indexed pairs.
pub fn tsv_queries(path: &Path, pairs: &[(String, String)]) -> Result<Vec<EvalQuery>> {
    let bytes = read(path)?;
    let by_key: HashMap<(&str, &str), usize> = pairs
        .iter()
        .enumerate()
        .map(|(i, (doc, q))| ((doc.as_str(), q.as_str()), i))
        .collect();
    let mut out = Vec::new();
    for (line, text) in text_lines(path, &bytes)? {
        if text.trim_start().starts_with('#') || (line == 1 && text.starts_with("question\t")) {
            continue;
        }
        let cols: Vec<&str> = text.split('\t').map(str::trim).collect();
        let [question, doc, corpus_question] = cols[..] else {
            return Err(bad(
                path,
                Some(line),
                format!(
                    "expected 3 tab-separated columns (question, doc, corpus question), found {}",
                    cols.len()
                ),
            ));
        };
        if question.is_empty() {
            return Err(bad(path, Some(line), "empty question"));
        }
        let key = match corpus_question {
            "(passage)" => "",
            q => q,
        };
        let pair = by_key.get(&(doc, key)).ok_or_else(|| {
            bad(
                path,
                Some(line),
                format!("no Q&A pair in {doc:?} with the question {corpus_question:?}"),
            )
        })?;
        // Lines with the same question are one query with several right answers.
        match out.iter_mut().find(|q: &&mut EvalQuery| q.text == question) {
            Some(q) => {
                q.qrels.insert(pair.to_string(), 1);
            }
            None => out.push(EvalQuery {
                id: format!("tsv-{line}"),
                text: question.to_string(),
                qrels: [(pair.to_string(), 1)].into_iter().collect(),
                stored_pair: None,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_set(dir: &Path, corpus: &str, queries: &str, qrels: &str) {
        std::fs::create_dir_all(dir.join("qrels")).unwrap();
        std::fs::write(dir.join("corpus.jsonl"), corpus).unwrap();
        std::fs::write(dir.join("queries.jsonl"), queries).unwrap();
        std::fs::write(dir.join("qrels/test.tsv"), qrels).unwrap();
    }

    const CORPUS: &str = "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"Cats sleep a lot.\"}\n{\"_id\": \"d2\", \"title\": \"T\", \"text\": \"Dogs bark.\"}\n";
    const QUERIES: &str =
        "{\"_id\": \"q1\", \"text\": \"Do cats sleep?\"}\n{\"_id\": 2, \"text\": \"Unjudged?\"}\n";

    #[test]
    fn loads_a_small_set() {
        let dir = tempfile::tempdir().unwrap();
        write_set(
            dir.path(),
            CORPUS,
            QUERIES,
            "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n",
        );
        let set = load(dir.path()).unwrap();
        assert_eq!(set.corpus.len(), 2);
        assert_eq!(set.queries.len(), 1, "only judged queries");
        assert_eq!(set.queries[0].qrels["d1"], 2);
        let c = set.to_corpus(Path::new("corpus.jsonl"));
        assert_eq!(c.documents[1].key, "d2");
        assert_eq!(c.pair_count(), 2);
    }

    #[test]
    fn errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("corpus.jsonl"), "{err}");

        write_set(
            dir.path(),
            "{\"_id\": \"d1\", \"text\": \"x\"}\n{oops\n",
            QUERIES,
            "q1\td1\t1\n",
        );
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("corpus.jsonl:2:"), "{err}");

        write_set(
            dir.path(),
            CORPUS,
            QUERIES,
            "query-id\tcorpus-id\tscore\nq1\tnope\t1\n",
        );
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("test.tsv:2: unknown corpus id \"nope\""),
            "{err}"
        );

        write_set(dir.path(), CORPUS, QUERIES, "q1\td1\n");
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("test.tsv:1: expected 3"), "{err}");

        write_set(dir.path(), CORPUS, QUERIES, "q9\td1\t1\n");
        assert!(load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("unknown query id"));

        write_set(
            dir.path(),
            "{\"_id\": \"d1\", \"text\": \"  \"}\n",
            QUERIES,
            "q1\td1\t1\n",
        );
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("corpus.jsonl: no corpus entry has any text"),
            "{err}"
        );

        write_set(dir.path(), CORPUS, QUERIES, "q1\td1\t1\n");
        std::fs::remove_file(dir.path().join("queries.jsonl")).unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("queries.jsonl"));
        assert_eq!(err.kind(), crate::error::ErrorKind::Data);
    }

    #[test]
    fn tsv_questions_map_to_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("extra.tsv");
        std::fs::write(
            &path,
            "question\tdoc\tcorpus question\n# comment\nWhy?\ta.txt\tQ1?\n",
        )
        .unwrap();
        let pairs = vec![
            ("a.txt".to_string(), "Q0?".to_string()),
            ("a.txt".to_string(), "Q1?".to_string()),
        ];
        let q = tsv_queries(&path, &pairs).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].qrels["1"], 1);
        std::fs::write(&path, "Why?\ta.txt\tQ7?\n").unwrap();
        let err = tsv_queries(&path, &pairs).unwrap_err().to_string();
        assert!(err.contains("extra.tsv:1: no Q&A pair"), "{err}");
    }
}
