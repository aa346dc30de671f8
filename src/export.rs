//! `qasearch export`: every Q&A pair of an index with its vectors and
//! metadata, as JSON Lines, for loading into another engine (or another
//! qasearch store) without embedding again.
//!
//! The first line describes the export (format, model, dimension,
//! generation, counts); each further line is one pair: its document, source
//! and line, question and answer, the stored question's vector, the whole
//! answer's vector (when the index has one for it) and every answer sentence
//! with its byte span in the answer and its vector. Vectors are unit length,
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
        pairs: meta.pairs.len(),
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
                Kind::Sentence => {
                    summary.sentences += 1;
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
        summary.pairs += 1;
    }
    out.flush()?;
    Ok(summary)
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
        assert_eq!(lines.len(), 4);
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
}
