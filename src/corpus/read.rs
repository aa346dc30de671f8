//! Reading one document: `.txt` (a paragraph, then questions and answers) and
//! `.jsonl` (one document a line), into pairs with warnings naming the line.

use std::collections::HashSet;

use serde::Deserialize;

use super::*;

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
            doc.passage = Text::empty();
        }
        if doc.passage.is_empty() {
            // No passage, no line: a document rebuilt from an index (which
            // keeps only passages) is the one read.
            doc.passage_line = 0;
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

/// The number of a numbered heading ("12. …", "12) …"), if the line has one.
fn heading_number(line: &str) -> Option<u64> {
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = &line[digits..];
    let number = line[..digits].parse().ok()?;
    (rest.starts_with(['.', ')']) && rest[1..].starts_with(char::is_whitespace)).then_some(number)
}

/// True when a line that does not end with `?` is still shaped as a question
/// heading of its file: marked `Q:` / `Question:`, or, after a blank line,
/// numbered as the next question after `last` (zlib's "4. compress()
/// returns Z_BUF_ERROR."; a numbered step inside an answer has no blank
/// line before it, or does not continue the questions' numbering).
fn looks_like_heading(line: &str, last: Option<u64>, after_blank: bool) -> bool {
    let lower = line.to_lowercase();
    let marked = ["q:", "q.", "question:"]
        .iter()
        .any(|m| lower.starts_with(m) && lower[m.len()..].starts_with(char::is_whitespace));
    marked || (after_blank && last.is_some_and(|n| heading_number(line) == Some(n + 1)))
}

/// Appends a line to a text, keeping a blank line before it as a paragraph break.
fn push_line(text: &mut String, line: &str, after_blank: bool) {
    if !text.is_empty() {
        text.push_str(if after_blank { "\n\n" } else { "\n" });
    }
    text.push_str(line);
}

/// Parses one `.txt` document. `name` is used in warnings and as the key.
pub fn parse_txt(name: &str, text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut passage = String::new();
    let mut passage_line = 0;
    // (question, answer, line): answers grow line by line.
    let mut pairs: Vec<(&str, String, usize)> = Vec::new();
    // The open question (text, line) waiting for its answer.
    let mut question: Option<(&str, usize)> = None;
    // The number of the last numbered question, and whether a blank line came.
    let mut last_number = None;
    let mut after_blank = false;
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
            after_blank = true;
            continue;
        }
        let mut is_question = is_question(line);
        if !is_question && question.is_none() && looks_like_heading(line, last_number, after_blank)
        {
            warn(
                &mut out,
                line_no,
                format!(
                    "{:?} is shaped like a question heading but does not end with '?': read as a \
                     question (end it with '?' to say so, or reword it if it belongs to the answer above)",
                    excerpt(line, 80)
                ),
            );
            is_question = true;
        }
        if is_question {
            last_number = heading_number(line).or(last_number);
        }
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
                pairs.push((q, line.to_string(), ql));
                question = None;
            }
            (None, true) => question = Some((line, line_no)),
            (None, false) => match pairs.last_mut() {
                Some(last) => push_line(&mut last.1, line, after_blank),
                None => {
                    if passage.is_empty() {
                        passage_line = line_no;
                    }
                    push_line(&mut passage, line, after_blank);
                }
            },
        }
        after_blank = false;
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
        let pairs = (pairs.into_iter())
            .map(|(q, a, line)| QaPair::new(q, a, line))
            .collect();
        out.documents.push(Document {
            passage: passage.into(),
            passage_line,
            ..Document::of_file(name, pairs)
        });
    }
    out
}

#[derive(Deserialize)]
pub(super) struct JsonDoc {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    passage: Option<String>,
    qa: Vec<serde_json::Value>,
    /// Every other member: metadata of each of its pairs.
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// The question and answer of a `.jsonl` pair object (empty when missing).
fn pair_texts(qa: &serde_json::Value) -> (&str, &str) {
    let text = |k: &str| qa.get(k).and_then(|v| v.as_str()).map_or("", str::trim);
    (text("question"), text("answer"))
}

/// Parses a `.jsonl` file: one document a line
/// (`{"id", "passage", "qa": [{"question", "answer", …}], …}`), or one pair a
/// line (`{"question", "answer", …}`; the file's pairs are one document, each
/// at its own line). Members beyond these are the pairs' metadata.
pub fn parse_jsonl(name: &str, text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut keys = HashSet::new();
    let mut loose = Vec::new();
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
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        if value.get("qa").is_none() && value.get("question").is_some() {
            match pair_texts(&value) {
                ("", _) | (_, "") => {
                    warn("skipped: a pair needs both a question and an answer".into());
                    out.skipped.pairs += 1;
                }
                (q, a) => loose.push(QaPair {
                    meta: super::json::meta_of(&value),
                    ..QaPair::new(q, a, line_no)
                }),
            }
            continue;
        }
        let doc: JsonDoc = match serde_json::from_str(line) {
            Ok(d) => d,
            Err(e) => {
                warn(format!(
                    "skipped: not a document ({e}); expected {{\"id\": ..., \"passage\": ..., \"qa\": [{{\"question\": ..., \"answer\": ...}}]}} or {{\"question\": ..., \"answer\": ...}}"
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
        let doc_meta = super::json::meta_of(&serde_json::Value::Object(doc.rest));
        let mut pairs = Vec::new();
        let mut skipped_here = 0;
        for (n, qa) in doc.qa.iter().enumerate() {
            let (q, a) = pair_texts(qa);
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
            let mut meta = doc_meta.clone();
            meta.extend(super::json::meta_of(qa));
            pairs.push(QaPair {
                meta,
                ..QaPair::new(q, a, line_no)
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
            passage: doc.passage.unwrap_or_default().trim().into(),
            passage_line: line_no,
            pairs,
        });
    }
    if !loose.is_empty() {
        out.documents.push(Document::of_file(name, loose));
    }
    out
}
