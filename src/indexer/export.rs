//! `qasearch export`: every Q&A pair of an index with its vectors and
//! metadata, as JSON Lines, for loading into another engine (or another
//! qasearch store) without embedding again.
//!
//! The first line describes the export (format, model, dimension,
//! generation, counts); each further line is one pair: its document, source
//! and line, question and answer, the stored question's vector, the whole
//! answer's vector (when the index has one for it) and every answer sentence
//! with its byte span in the answer and its vector. A document's passage is
//! a line of its own, `"kind": "passage"`, with an empty question and its
//! sentences (pairs are `"kind": "pair"`). Vectors are unit length,
//! written as f32 in their shortest exact decimal form (they read back to
//! the same bits).

use std::io::{self, Write};

use serde::Serialize;

use crate::store::{Kind, Snapshot};

/// The export format's name and version (the first line's `format` and `version`).
pub const FORMAT: &str = "qasearch-export";
/// Version of the export's layout.
pub const VERSION: u32 = 1;

/// The first line.
#[derive(Debug, Serialize)]
struct Header<'a> {
    format: &'static str,
    version: u32,
    model: &'a crate::model::ModelIdentity,
    model_id: String,
    dimension: usize,
    generation: u64,
    answer_vectors: &'static str,
    documents: usize,
    pairs: usize,
}

/// One pair.
#[derive(Debug, Serialize)]
struct PairLine<'a> {
    kind: &'static str,
    doc: &'a str,
    source: &'a str,
    line: u32,
    question: &'a str,
    answer: &'a str,
    question_vector: Option<&'a [f32]>,
    answer_vector: Option<&'a [f32]>,
    sentences: Vec<SentenceLine<'a>>,
}

#[derive(Debug, Serialize)]
struct SentenceLine<'a> {
    start: u32,
    end: u32,
    text: &'a str,
    vector: &'a [f32],
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    /// Pairs written.
    pub pairs: usize,
    /// Sentence vectors written.
    pub sentences: usize,
    /// Vectors written in all (sentences, whole answers, questions).
    pub vectors: usize,
}

/// Writes `snapshot` as JSON Lines to `out`.
pub fn write_jsonl(snapshot: &Snapshot, out: &mut impl Write) -> io::Result<ExportSummary> {
    let meta = &snapshot.meta;
    let manifest = &snapshot.manifest;
    let header = Header {
        format: FORMAT,
        version: VERSION,
        model: &manifest.model,
        model_id: manifest.model.id(),
        dimension: snapshot.dimension(),
        generation: manifest.generation,
        answer_vectors: manifest.answer_vectors.name(),
        documents: meta.documents.len(),
        pairs: meta.pairs.iter().filter(|p| !p.passage).count(),
    };
    serde_json::to_writer(&mut *out, &header)?;
    out.write_all(b"\n")?;
    let mut summary = ExportSummary {
        pairs: 0,
        sentences: 0,
        vectors: 0,
    };
    // A pair's occurrences are contiguous, in pair order.
    let mut occurrences = meta.occurrences.iter().peekable();
    for (p, pair) in meta.pairs.iter().enumerate() {
        let doc = &meta.documents[pair.doc as usize];
        let mut line = PairLine {
            kind: if pair.passage { "passage" } else { "pair" },
            doc: &doc.key,
            source: &doc.source,
            line: pair.line,
            question: &pair.question,
            answer: &pair.answer,
            question_vector: None,
            answer_vector: None,
            sentences: Vec::new(),
        };
        while let Some(o) = occurrences.next_if(|o| o.pair as usize == p) {
            let vector = snapshot.vector(o.row as usize);
            summary.vectors += 1;
            match o.kind {
                Kind::Question => line.question_vector = Some(vector),
                Kind::Answer => line.answer_vector = Some(vector),
                // A passage's sentences, as an answer's, under `sentences`.
                Kind::Sentence | Kind::Passage => {
                    summary.sentences += usize::from(o.kind == Kind::Sentence);
                    line.sentences.push(SentenceLine {
                        start: o.start,
                        end: o.end,
                        text: pair
                            .answer
                            .get(o.start as usize..o.end as usize)
                            .unwrap_or_default(),
                        vector,
                    });
                }
            }
        }
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        summary.pairs += usize::from(!pair.passage);
    }
    out.flush()?;
    Ok(summary)
}

/// Longest line an export may have, in bytes.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// How far from 1 an exported vector's length may be (they are written
/// unit length, in their shortest exact decimal form).
pub const NORM_TOLERANCE: f32 = 1e-3;

/// An export read back: its model and every text with its vector.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The file it was read from.
    pub source: std::path::PathBuf,
    /// The model that made the vectors.
    pub model: crate::model::ModelIdentity,
    /// Their dimension.
    pub dimension: usize,
    /// How whole answers got their vectors.
    pub answer_vectors: crate::store::AnswerVectors,
    /// Each stored question, whole answer and answer sentence with its vector.
    pub texts: Vec<ExportedText>,
}

/// A text of an export with its vector.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedText {
    /// Which text of its pair.
    pub kind: Kind,
    /// The text; for a sentence read in the context of its answer
    /// (`answer_vectors` `in-context`), the whole answer.
    pub text: String,
    /// For a sentence read in context: its byte range in `text`.
    pub span: Option<(u32, u32)>,
    /// Its vector.
    pub vector: Vec<f32>,
}

#[derive(serde::Deserialize)]
struct HeaderIn {
    format: String,
    version: u32,
    model: crate::model::ModelIdentity,
    dimension: usize,
    answer_vectors: String,
}

#[derive(serde::Deserialize)]
struct PairIn {
    question: String,
    answer: String,
    question_vector: Option<Vec<f32>>,
    answer_vector: Option<Vec<f32>>,
    #[serde(default)]
    sentences: Vec<SentenceIn>,
}

#[derive(serde::Deserialize)]
struct SentenceIn {
    start: u32,
    end: u32,
    text: String,
    vector: Vec<f32>,
}

/// Why an exported vector (of `text`) cannot be taken: not `dim` numbers,
/// not finite, or not of length 1.
fn check_vector(v: &[f32], dim: usize, text: &str) -> Result<(), String> {
    if v.len() != dim {
        return Err(format!(
            "a vector of {} numbers where the header says {dim}",
            v.len()
        ));
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || (norm - 1.0).abs() > NORM_TOLERANCE {
        return Err(format!(
            "a vector of length {norm} for {}: exported vectors are finite and of length 1 (±{NORM_TOLERANCE})",
            crate::corpus::excerpt(text, 60)
        ));
    }
    Ok(())
}

/// Reads an export written by [`write_jsonl`] (of this version): a
/// malformed line is an error naming the file and line.
pub fn read_jsonl(path: &std::path::Path) -> crate::Result<Exported> {
    let bad = |line: usize, message: String| crate::Error::BadInput {
        path: path.to_path_buf(),
        line: Some(line),
        message,
    };
    let file = crate::safe_fs::open_user_file(path).map_err(|e| crate::Error::BadInput {
        path: path.to_path_buf(),
        line: None,
        message: format!("cannot read the export: {e}"),
    })?;
    // Every line bounded: a pair line is a few kilobytes a vector.
    let mut reader = std::io::BufReader::new(file);
    let mut n = 0;
    let mut next_line = move || -> crate::Result<Option<(usize, String)>> {
        use crate::safe_fs::{read_line, Line};
        n += 1;
        match read_line(&mut reader, MAX_LINE_BYTES) {
            Ok(None) => Ok(None),
            Ok(Some(Line::TooLong(len))) => Err(bad(
                n,
                format!("a line of {len} bytes, over the {MAX_LINE_BYTES} an export line may have"),
            )),
            Ok(Some(Line::Bytes(b))) => String::from_utf8(b)
                .map(|t| Some((n, t)))
                .map_err(|_| bad(n, "not UTF-8 text".into())),
            Err(e) => Err(bad(n, e.to_string())),
        }
    };
    let header: HeaderIn = match next_line()? {
        Some((_, l)) => serde_json::from_str(&l)
            .map_err(|e| bad(1, format!("not a qasearch export header ({e})")))?,
        None => return Err(bad(1, "empty: not a qasearch export".into())),
    };
    if header.format != FORMAT || header.version != VERSION {
        return Err(bad(
            1,
            format!(
                "a {} export of version {}; this qasearch reads {FORMAT} version {VERSION}",
                header.format, header.version
            ),
        ));
    }
    let answer_vectors = crate::store::AnswerVectors::from_name(&header.answer_vectors)
        .ok_or_else(|| {
            bad(
                1,
                format!("unknown answer_vectors {:?}", header.answer_vectors),
            )
        })?;
    let dim = header.dimension;
    let mut texts = Vec::new();
    while let Some((n, line)) = next_line()? {
        if line.trim().is_empty() {
            continue;
        }
        let p: PairIn = serde_json::from_str(&line)
            .map_err(|e| bad(n, format!("not an exported pair ({e})")))?;
        add_pair(p, answer_vectors, dim, &mut texts).map_err(|m| bad(n, m))?;
    }
    Ok(Exported {
        source: path.to_path_buf(),
        model: header.model,
        dimension: dim,
        answer_vectors,
        texts,
    })
}

/// The texts of one exported pair, each with its vector checked; a message
/// for the line when one is wrong.
fn add_pair(
    p: PairIn,
    answer_vectors: crate::store::AnswerVectors,
    dim: usize,
    texts: &mut Vec<ExportedText>,
) -> Result<(), String> {
    let mut add = |kind: Kind, text: String, span: Option<(u32, u32)>, v: Vec<f32>| {
        check_vector(&v, dim, &text)?;
        texts.push(ExportedText {
            kind,
            text,
            span,
            vector: v,
        });
        Ok::<(), String>(())
    };
    // Sentences of an answer of several (it has a vector of its own) were
    // read in its context.
    let in_context =
        answer_vectors == crate::store::AnswerVectors::InContext && p.answer_vector.is_some();
    if let Some(v) = p.question_vector {
        add(Kind::Question, p.question, None, v)?;
    }
    for s in p.sentences {
        if in_context {
            if p.answer.get(s.start as usize..s.end as usize) != Some(s.text.as_str()) {
                return Err(format!(
                    "sentence {:?} is not at bytes {}..{} of its answer",
                    s.text, s.start, s.end
                ));
            }
            add(
                Kind::Sentence,
                p.answer.clone(),
                Some((s.start, s.end)),
                s.vector,
            )?;
        } else {
            add(Kind::Sentence, s.text, None, s.vector)?;
        }
    }
    if let Some(v) = p.answer_vector {
        add(Kind::Answer, p.answer, None, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_with_its_vectors_reads_back_bit_for_bit() {
        let (_dir, snapshot) = crate::indexer::testing::built(&[(
            "a.txt",
            "P.\nHow much is a day pass?\nA day pass costs five euros. It is valid until midnight.\nWhere are the bikes?\nYes.\nIs it open?\nYes.\n",
        )]);
        let mut out = Vec::new();
        let summary = write_jsonl(&snapshot, &mut out).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["format"], FORMAT);
        assert_eq!(lines[0]["pairs"], 3);
        assert_eq!(lines[0]["dimension"], 32);
        assert_eq!(summary.pairs, 3);
        assert_eq!(lines.len(), 5, "three pairs and the passage");
        assert_eq!(lines[4]["kind"], "passage");
        assert_eq!(lines[4]["sentences"][0]["text"], "P.");
        assert_eq!(lines[1]["kind"], "pair");
        let first = &lines[1];
        assert_eq!(first["question"], "How much is a day pass?");
        let sentences = first["sentences"].as_array().unwrap();
        assert_eq!(sentences.len(), 2);
        assert_eq!(sentences[1]["text"], "It is valid until midnight.");
        assert!(first["answer_vector"].is_array() && first["question_vector"].is_array());
        // Vectors read back to the stored bits; a shared text shares its vector.
        let read = |v: &serde_json::Value| -> Vec<f32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        let occurrence = snapshot
            .meta
            .occurrences
            .iter()
            .find(|o| o.pair == 0 && o.kind == Kind::Sentence)
            .unwrap();
        assert_eq!(
            read(&sentences[0]["vector"]),
            snapshot.vector(occurrence.row as usize)
        );
        assert_eq!(
            read(&lines[2]["sentences"][0]["vector"]),
            read(&lines[3]["sentences"][0]["vector"]),
            "\"Yes.\" twice, one vector"
        );
        assert!(
            lines[2]["answer_vector"].is_null(),
            "one sentence: no whole-answer vector"
        );
    }

    /// An export of sentences read in context reads back keyed by their
    /// answer and place; a sentence that is not where it says is refused
    /// with the file and line, not taken as another text's vector.
    #[test]
    fn sentences_read_in_context_read_back_by_their_place() {
        let (dir, snapshot) = crate::indexer::testing::built(&[(
            "a.txt",
            "How much is a day pass?\nA day pass costs five euros. It is valid until midnight.\n",
        )]);
        assert_eq!(
            snapshot.manifest.answer_vectors,
            crate::store::AnswerVectors::InContext
        );
        let mut out = Vec::new();
        write_jsonl(&snapshot, &mut out).unwrap();
        let path = dir.path().join("export.jsonl");
        std::fs::write(&path, &out).unwrap();
        let read = read_jsonl(&path).unwrap();
        let answer = "A day pass costs five euros. It is valid until midnight.";
        let sentences: Vec<&ExportedText> = read
            .texts
            .iter()
            .filter(|t| t.kind == Kind::Sentence)
            .collect();
        assert_eq!(sentences.len(), 2);
        assert!(sentences.iter().all(|t| t.text == answer));
        assert_eq!(sentences[1].span, Some((29, 56)));
        // The second sentence moved by a byte: refused, naming the line.
        let text = String::from_utf8(out)
            .unwrap()
            .replacen("\"start\":29", "\"start\":30", 1);
        assert!(
            text.contains("\"start\":30"),
            "the export spells its spans as expected"
        );
        std::fs::write(&path, text).unwrap();
        let e = read_jsonl(&path).unwrap_err().to_string();
        assert!(
            e.contains("export.jsonl:2:") && e.contains("not at bytes 30..56"),
            "{e}"
        );
    }
}
