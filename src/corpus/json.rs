//! JSON FAQs: an array of `{"question": …, "answer": …}` objects, an object
//! holding such an array under any key, and schema.org `FAQPage` JSON-LD
//! (`mainEntity` → `Question.name` / `acceptedAnswer.text`, also inside an
//! `@graph`). Each pair is reported at the line of its element.

use serde_json::value::RawValue;
use serde_json::Value;

use super::{Document, Parsed, QaPair, Warning};

/// Reads the JSON file `name` into one document of its pairs.
pub fn parse_json(name: &str, text: &str) -> Parsed {
    let mut out = Parsed::default();
    let root: &RawValue = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            out.warnings.push(Warning {
                file: name.to_string(),
                line: Some(e.line()),
                message: format!("skipped: not JSON ({e})"),
            });
            out.skipped.files += 1;
            return out;
        }
    };
    let Some(items) = faq_items(root, MAX_DEPTH) else {
        out.warnings.push(Warning {
            file: name.to_string(),
            line: Some(1),
            message: "skipped: no question-and-answer pairs: expected an array of \
                      {\"question\": ..., \"answer\": ...}, an object holding one, or a \
                      schema.org FAQPage"
                .into(),
        });
        out.skipped.files += 1;
        return out;
    };
    let mut pairs = Vec::new();
    let mut lines = LineCursor::default();
    for item in items {
        let line = lines.line_of(text, item);
        let value: Value = serde_json::from_str(item.get()).unwrap_or(Value::Null);
        match pair_of(&value) {
            Some((q, a)) if !q.trim().is_empty() && !a.trim().is_empty() => pairs.push(QaPair {
                meta: meta_of(&value),
                ..QaPair::new(q.trim(), a.trim().replace("\r\n", "\n"), line)
            }),
            _ => {
                out.warnings.push(Warning {
                    file: name.to_string(),
                    line: Some(line),
                    message: "skipped: an entry without both a question and an answer".into(),
                });
                out.skipped.pairs += 1;
            }
        }
    }
    if !pairs.is_empty() {
        out.documents.push(Document::of_file(name, pairs));
    }
    out
}

/// Lines of entries met in file order, counted from the last one, so a
/// file of many entries is read once, not once an entry.
#[derive(Default)]
struct LineCursor {
    /// Byte offset counted up to, and the newlines before it.
    offset: usize,
    newlines: usize,
}

impl LineCursor {
    /// The 1-based line where `item`, a slice of `text`, starts.
    fn line_of(&mut self, text: &str, item: &RawValue) -> usize {
        let offset = (item.get().as_ptr() as usize)
            .saturating_sub(text.as_ptr() as usize)
            .min(text.len());
        if offset < self.offset {
            *self = LineCursor::default();
        }
        let bytes = &text.as_bytes()[self.offset..offset];
        self.newlines += bytes.iter().filter(|&&b| b == b'\n').count();
        self.offset = offset;
        1 + self.newlines
    }
}

/// How deep in arrays and objects a FAQ's entries are looked for: JSON-LD
/// keeps them two or three levels down; a file nested deeper is no FAQ
/// (and a deeply nested one must not exhaust the stack).
const MAX_DEPTH: usize = 8;

/// The entries of a FAQ, wherever the file keeps them (at most `depth`
/// levels down); None when it holds none.
fn faq_items(raw: &RawValue, depth: usize) -> Option<Vec<&RawValue>> {
    let depth = depth.checked_sub(1)?;
    if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
        // An array of entries, or of JSON-LD nodes one of which is the FAQ.
        if items.iter().any(|i| is_entry(i)) {
            return Some(items);
        }
        return items.into_iter().find_map(|i| faq_items(i, depth));
    }
    let object: std::collections::BTreeMap<String, &RawValue> =
        serde_json::from_str(raw.get()).ok()?;
    // JSON-LD first (`mainEntity`, `@graph`), then any key holding entries
    // (in the order of their names).
    for key in ["mainEntity", "@graph"] {
        if let Some(items) = object.get(key).and_then(|v| faq_items(v, depth)) {
            return Some(items);
        }
    }
    object.values().find_map(|v| {
        let items = serde_json::from_str::<Vec<&RawValue>>(v.get()).ok()?;
        items.iter().any(|i| is_entry(i)).then_some(items)
    })
}

/// Whether `raw` looks like one entry (a pair, or a schema.org Question).
fn is_entry(raw: &RawValue) -> bool {
    serde_json::from_str::<Value>(raw.get()).is_ok_and(|v| pair_of(&v).is_some())
}

/// Members of an entry that hold neither its question nor its answer, as
/// metadata: strings, numbers and booleans, and lists of them (one entry per
/// element); objects and JSON-LD's `@` members are left out.
pub(super) fn meta_of(v: &Value) -> Vec<(String, String)> {
    const TAKEN: &[&str] = &[
        "question",
        "answer",
        "q",
        "a",
        "name",
        "acceptedanswer",
        "suggestedanswer",
        "qa",
        "passage",
    ];
    let Some(object) = v.as_object() else {
        return Vec::new();
    };
    let scalar = |v: &Value| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let mut out = Vec::new();
    for (name, value) in object {
        let lower = name.to_ascii_lowercase();
        if name.starts_with('@') || TAKEN.contains(&lower.as_str()) {
            continue;
        }
        match value {
            Value::Array(items) => out.extend(
                items
                    .iter()
                    .filter_map(scalar)
                    .map(|s| (name.trim().to_string(), s)),
            ),
            other => out.extend(scalar(other).map(|s| (name.trim().to_string(), s))),
        }
    }
    out
}

/// The question and answer of an entry.
fn pair_of(v: &Value) -> Option<(&str, &str)> {
    let field = |names: &[&str]| names.iter().find_map(|n| v.get(*n)).and_then(Value::as_str);
    if let (Some(q), Some(a)) = (
        field(&["question", "Question", "q", "Q"]),
        field(&["answer", "Answer", "a", "A"]),
    ) {
        return Some((q, a));
    }
    // schema.org: {"@type": "Question", "name": ..., "acceptedAnswer": {"text": ...}}
    let q = v.get("name").and_then(Value::as_str)?;
    let accepted = v
        .get("acceptedAnswer")
        .or_else(|| v.get("suggestedAnswer"))?;
    let accepted = match accepted {
        Value::Array(a) => a.first()?,
        other => other,
    };
    Some((q, accepted.get("text").and_then(Value::as_str)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &Parsed) -> Vec<(&str, &str, usize)> {
        p.documents
            .iter()
            .flat_map(|d| &d.pairs)
            .map(|p| (p.question.as_str(), p.answer.as_str(), p.line))
            .collect()
    }

    #[test]
    fn an_array_of_pairs_each_at_its_line() {
        let text = "[\n  {\"question\": \"Why?\", \"answer\": \"Because.\", \"url\": \"x\", \"tags\": [\"a\", 2], \"extra\": {\"k\": 1}},\n\n  {\"q\": \"How?\",\n   \"a\": \"Like so.\"}\n]\n";
        let p = parse_json("faq.json", text);
        assert_eq!(
            pairs(&p),
            [("Why?", "Because.", 2), ("How?", "Like so.", 4)]
        );
        let meta = &p.documents[0].pairs[0].meta;
        let want = [("tags", "a"), ("tags", "2"), ("url", "x")];
        assert_eq!(
            meta.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            want
        );
    }

    #[test]
    fn an_object_holding_the_array() {
        let text = r#"{"title": "FAQ", "faq": [{"question": "Why?", "answer": "Because."}]}"#;
        assert_eq!(
            pairs(&parse_json("f.json", text)),
            [("Why?", "Because.", 1)]
        );
    }

    #[test]
    fn schema_org_faq_page_also_in_a_graph() {
        let page = r#"{"@context": "https://schema.org", "@type": "FAQPage", "mainEntity": [
  {"@type": "Question", "name": "Is it free?",
   "acceptedAnswer": {"@type": "Answer", "text": "Yes, for personal use."}}]}"#;
        assert_eq!(
            pairs(&parse_json("p.json", page)),
            [("Is it free?", "Yes, for personal use.", 2)]
        );
        let graph = format!(r#"{{"@graph": [{{"@type": "WebPage"}}, {page}]}}"#);
        assert_eq!(pairs(&parse_json("g.json", &graph)).len(), 1);
    }

    #[test]
    fn many_entries_are_read_in_one_pass_each_at_its_line() {
        // 200,000 entries in 6 MB: counting each one's line from the start
        // of the file read about 6·10^11 bytes; the cursor reads the file
        // once (about a second in a debug build).
        let n = 200_000;
        let text = format!(
            "[\n{}\n]",
            (0..n)
                .map(|i| format!("{{\"q\": \"Q{i}?\", \"a\": \"A{i}.\"}}"))
                .collect::<Vec<_>>()
                .join(",\n")
        );
        let p = parse_json("many.json", &text);
        let pairs = &p.documents[0].pairs;
        assert_eq!(pairs.len(), n);
        assert_eq!((pairs[0].line, pairs[n - 1].line), (2, n + 1));
    }

    #[test]
    fn deep_nesting_is_no_faq_and_no_crash() {
        // 100,000 levels once overflowed the stack looking for entries.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let p = parse_json("deep.json", &deep);
        assert!(p.documents.is_empty());
        assert_eq!(p.skipped.files, 1);
        // Entries nested as deep as JSON-LD keeps them are still found.
        let graph = r#"{"@graph": [[{"mainEntity": [{"name": "Why?", "acceptedAnswer": {"text": "So."}}]}]]}"#;
        assert_eq!(parse_json("g.json", graph).documents[0].pairs.len(), 1);
    }

    #[test]
    fn broken_files_and_entries_are_warnings_with_lines() {
        let p = parse_json("bad.json", "[\n{\"question\": \"Why?\"\n");
        assert_eq!(p.skipped.files, 1);
        assert!(p.warnings[0].line.is_some());
        let p = parse_json("none.json", r#"{"items": [1, 2]}"#);
        assert!(
            p.warnings[0].message.contains("FAQPage"),
            "{:?}",
            p.warnings
        );
        let text =
            "[{\"question\": \"Why?\", \"answer\": \"Because.\"},\n {\"question\": \"Half?\"}]";
        let p = parse_json("half.json", text);
        assert_eq!(pairs(&p).len(), 1);
        assert_eq!(p.warnings[0].line, Some(2));
    }
}
