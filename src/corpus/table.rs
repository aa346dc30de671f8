//! CSV and TSV FAQs: a header row naming the question and answer columns
//! (`question`/`answer`, `q`/`a`, any case); one pair a row, at the row's
//! line; every other column (an `id`, a URL, a category) is the pair's
//! metadata. Read by the `csv` crate: quoted fields may hold
//! the delimiter, quotes and line breaks.

use super::{Document, Parsed, QaPair, Warning};

/// The spellings of each column, compared without case or surrounding space.
const QUESTION: &[&str] = &["question", "q", "questions", "query"];
const ANSWER: &[&str] = &["answer", "a", "answers", "response"];

/// Reads a CSV (`delimiter` b',') or TSV (b'\t') file `name` into one
/// document of its rows' pairs. A `.csv` saved by a spreadsheet in a locale
/// whose decimal mark is a comma separates with `;`: the first of
/// `delimiters` whose header names both columns is used.
pub fn parse_table(name: &str, text: &str, delimiters: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    let warn = |out: &mut Parsed, line: Option<usize>, message: String| {
        out.warnings.push(Warning {
            file: name.to_string(),
            line,
            message,
        })
    };
    // The csv crate miscounts lines ended by CRLF (a record's line comes out
    // one short), so line ends are made LF first; quoted fields keep LF.
    let text = text.replace("\r\n", "\n");
    let reader = |delimiter: u8| {
        csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(text.as_bytes())
    };
    let mut first = reader(delimiters[0]);
    let header = match first.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            warn(&mut out, Some(1), format!("skipped: no header row ({e})"));
            out.skipped.files += 1;
            return out;
        }
    };
    let chosen = delimiters.iter().find_map(|&d| {
        let mut r = reader(d);
        let header = r.headers().ok()?.clone();
        let column = |names: &[&str]| {
            header
                .iter()
                .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
        };
        Some((r, column(QUESTION)?, column(ANSWER)?, header))
    });
    let Some((mut reader, q_col, a_col, header)) = chosen else {
        let found: Vec<&str> = header.iter().collect();
        warn(
            &mut out,
            Some(1),
            format!(
                "skipped: no question and answer columns in the header {found:?}; name them \
                 `question` and `answer` (or `q` and `a`)"
            ),
        );
        out.skipped.files += 1;
        return out;
    };
    let mut pairs = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                warn(&mut out, line, format!("skipped: not a row ({e})"));
                out.skipped.lines += 1;
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let q = record.get(q_col).unwrap_or("").trim();
        let a = record.get(a_col).unwrap_or("").trim();
        if q.is_empty() && a.is_empty() {
            continue;
        }
        if q.is_empty() || a.is_empty() {
            let what = if q.is_empty() {
                "an answer without a question"
            } else {
                "a question without an answer"
            };
            warn(&mut out, Some(line), format!("skipped: {what}"));
            out.skipped.pairs += 1;
            continue;
        }
        let meta = header
            .iter()
            .zip(record.iter())
            .enumerate()
            .filter(|&(i, (name, value))| {
                i != q_col && i != a_col && !name.trim().is_empty() && !value.trim().is_empty()
            })
            .map(|(_, (name, value))| (name.trim().to_string(), value.trim().to_string()))
            .collect();
        pairs.push(QaPair {
            meta,
            ..QaPair::new(q, a, line)
        });
    }
    if !pairs.is_empty() {
        out.documents.push(Document::of_file(name, pairs));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_pairs_at_their_lines_with_quoted_fields_and_crlf() {
        let text = "id,Question,Answer,category\r\n\
                    1,How do I reset it?,\"Hold the button, then wait.\r\nIt blinks twice.\",setup\r\n\
                    2,\"What does \"\"E42\"\" mean?\",The filter is full.,errors\r\n";
        let p = parse_table("faq.csv", text, b",");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let pairs = &p.documents[0].pairs;
        assert_eq!(pairs.len(), 2, "{pairs:?}");
        assert_eq!(pairs[0].question, "How do I reset it?");
        assert_eq!(
            pairs[0].answer,
            "Hold the button, then wait.\nIt blinks twice."
        );
        assert_eq!(pairs[0].line, 2);
        assert_eq!(pairs[1].question, "What does \"E42\" mean?");
        assert_eq!(pairs[1].line, 4, "after a row of two lines");
        let meta = |i: usize| pairs[i].meta.clone();
        assert_eq!(
            meta(1),
            [
                ("id".into(), "2".into()),
                ("category".into(), "errors".into())
            ]
        );
    }

    #[test]
    fn short_names_tabs_and_half_rows() {
        let text = "Q\tA\nWhere is it?\tIn the box.\nNo answer here?\t\n\tAn orphan answer.\n";
        let p = parse_table("faq.tsv", text, b"\t");
        assert_eq!(p.documents[0].pairs.len(), 1);
        assert_eq!(p.skipped.pairs, 2);
        let lines: Vec<_> = p.warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [Some(3), Some(4)]);
    }

    #[test]
    fn a_spreadsheet_s_semicolons_are_found() {
        let text = "Question;Answer;Preis\nWas kostet es?;\"3,50 €; bar oder mit Karte.\";3,50\n";
        let p = parse_table("faq.csv", text, b",;\t");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let pair = &p.documents[0].pairs[0];
        assert_eq!(pair.answer, "3,50 €; bar oder mit Karte.");
        assert_eq!(pair.meta, [("Preis".to_string(), "3,50".to_string())]);
        // A comma file whose answers hold semicolons stays a comma file.
        let commas = "question,answer\nWhy?;really,Because; that is why.\n";
        let p = parse_table("c.csv", commas, b",;\t");
        assert_eq!(p.documents[0].pairs[0].answer, "Because; that is why.");
    }

    #[test]
    fn a_header_without_the_columns_is_a_warning_naming_it() {
        let p = parse_table("prices.csv", "item,price\ntea,3\n", b",;");
        assert!(p.documents.is_empty());
        assert_eq!(p.skipped.files, 1);
        let w = &p.warnings[0];
        assert_eq!((w.file.as_str(), w.line), ("prices.csv", Some(1)));
        assert!(w.message.contains("[\"item\", \"price\"]"), "{}", w.message);
    }
}
