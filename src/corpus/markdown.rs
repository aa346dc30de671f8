//! Markdown FAQs, read with `pulldown-cmark`: a heading that is a question
//! (it ends with a question mark), or any heading under a heading named FAQ
//! or "Frequently asked questions", is a question; its answer is the
//! Markdown up to the next heading of the same or a higher level (or the next
//! question), kept as written so lists, code and line breaks display.
//! `**Q:** … **A:** …` paragraphs are pairs too. Each pair is at the line of
//! its heading or `Q:`.

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};

use super::{is_question, Document, Parsed, QaPair};

/// A heading of the file: its level, text, line and byte range.
struct Heading {
    level: HeadingLevel,
    text: String,
    line: usize,
    start: usize,
    end: usize,
}

/// Reads the Markdown file `name` into one document of its pairs.
pub fn parse_markdown(name: &str, text: &str) -> Parsed {
    let headings = headings(text);
    let mut pairs = heading_pairs(text, &headings);
    pairs.extend(q_and_a_pairs(text, &headings));
    pairs.sort_by_key(|p| p.line);
    let mut out = Parsed::default();
    if !pairs.is_empty() {
        out.documents.push(Document::of_file(name, pairs));
    }
    out
}

/// The 1-based line of a byte offset, from the offsets of the file's line
/// breaks (found once: a file of many headings is not read once a heading).
fn line_at(breaks: &[usize], offset: usize) -> usize {
    1 + breaks.partition_point(|&b| b < offset)
}

fn headings(text: &str) -> Vec<Heading> {
    let breaks: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    let mut out = Vec::new();
    let mut open: Option<(HeadingLevel, usize, String)> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                open = Some((level, range.start, String::new()))
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, _, s)) = open.as_mut() {
                    s.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, start, s)) = open.take() {
                    out.push(Heading {
                        level,
                        text: s.trim().to_string(),
                        line: line_at(&breaks, start),
                        start,
                        end: range.end,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether a heading names a FAQ section.
fn names_faq(text: &str) -> bool {
    let t = text.trim().trim_end_matches(':').to_lowercase();
    t == "faq" || t == "faqs" || t.starts_with("frequently asked question")
}

/// Pairs from headings: which headings are questions, and where each answer ends.
fn heading_pairs(text: &str, headings: &[Heading]) -> Vec<QaPair> {
    // The level of the FAQ section each heading is inside, if any.
    let mut faq_level: Option<HeadingLevel> = None;
    let mut is_q = Vec::with_capacity(headings.len());
    for h in headings {
        if faq_level.is_some_and(|l| h.level <= l) {
            faq_level = None;
        }
        if names_faq(&h.text) {
            faq_level = Some(h.level);
            is_q.push(false);
            continue;
        }
        is_q.push(is_question(&h.text) || faq_level.is_some());
    }
    let mut pairs = Vec::new();
    for (i, h) in headings.iter().enumerate() {
        if !is_q[i] {
            continue;
        }
        let end = headings[i + 1..]
            .iter()
            .zip(&is_q[i + 1..])
            .find(|(next, q)| next.level <= h.level || **q)
            .map_or(text.len(), |(next, _)| next.start);
        let answer = text[h.end..end].trim();
        if !answer.is_empty() {
            pairs.push(QaPair::new(h.text.clone(), answer.to_string(), h.line));
        }
    }
    pairs
}

/// `Q:` / `A:` paragraphs (bold or not), outside the heading questions.
fn q_and_a_pairs(text: &str, headings: &[Heading]) -> Vec<QaPair> {
    let marker = |line: &str, letter: char| -> Option<String> {
        let l = line.trim_start();
        for form in [
            format!("**{letter}:**"),
            format!("**{letter}.**"),
            format!("{letter}:"),
        ] {
            if let Some(rest) = l.strip_prefix(&form) {
                return Some(rest.trim().to_string());
            }
        }
        None
    };
    let mut pairs = Vec::new();
    let mut current: Option<(usize, String, Option<String>)> = None;
    let flush = |c: Option<(usize, String, Option<String>)>, pairs: &mut Vec<QaPair>| {
        if let Some((line, q, Some(a))) = c {
            if !q.is_empty() && !a.trim().is_empty() {
                pairs.push(QaPair::new(q, a.trim().to_string(), line));
            }
        }
    };
    let heading_lines: std::collections::HashSet<usize> = headings.iter().map(|h| h.line).collect();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if heading_lines.contains(&line_no) {
            flush(current.take(), &mut pairs);
        } else if let Some(q) = marker(line, 'Q') {
            flush(current.take(), &mut pairs);
            current = Some((line_no, q, None));
        } else if let Some(a) = marker(line, 'A') {
            if let Some((_, _, answer)) = current.as_mut() {
                *answer = Some(a);
            }
        } else if let Some((_, q, answer)) = current.as_mut() {
            match answer {
                Some(a) => {
                    a.push('\n');
                    a.push_str(line);
                }
                None if !line.trim().is_empty() => {
                    q.push(' ');
                    q.push_str(line.trim());
                }
                None => {}
            }
        }
    }
    flush(current, &mut pairs);
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String, usize)> {
        parse_markdown("faq.md", text)
            .documents
            .into_iter()
            .flat_map(|d| d.pairs)
            .map(|p| (p.question.to_string(), p.answer.to_string(), p.line))
            .collect()
    }

    #[test]
    fn question_headings_keep_lists_and_code_as_written() {
        let text = "# xz FAQ intro\n\nSome words.\n\n## How do I list an archive?\n\nRun:\n\n```sh\nxz -l file.xz\n```\n\n- one\n  - nested\n\n## Is it fast?\nYes.\n";
        let p = pairs(text);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].0, "How do I list an archive?");
        assert_eq!(
            p[0].1,
            "Run:\n\n```sh\nxz -l file.xz\n```\n\n- one\n  - nested"
        );
        assert_eq!(p[0].2, 5);
        assert_eq!((p[1].1.as_str(), p[1].2), ("Yes.", 16));
    }

    #[test]
    fn every_heading_under_a_faq_section_is_a_question() {
        let text = "# Guide\n\nIntro.\n\n## Frequently asked questions\n\n### compress() returns Z_BUF_ERROR.\n\nThe output buffer is too small.\n\n### Another case\n\nMore.\n\n## Licence\n\nMIT.\n";
        let p = pairs(text);
        let q: Vec<&str> = p.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(q, ["compress() returns Z_BUF_ERROR.", "Another case"]);
        assert_eq!(p[0].1, "The output buffer is too small.");
    }

    #[test]
    fn many_headings_each_at_its_line() {
        // Each heading's line was counted from the start of the file, and
        // each line checked against every heading: quadratic in the size.
        let n = 50_000;
        let text: String = (0..n)
            .map(|i| format!("## Why {i}?\n\nBecause {i}.\n\n"))
            .collect();
        let p = parse_markdown("many.md", &text);
        let pairs = &p.documents[0].pairs;
        assert_eq!(pairs.len(), n);
        assert_eq!(pairs[n - 1].line, 4 * (n - 1) + 1);
        assert_eq!(pairs[n - 1].answer, format!("Because {}.", n - 1));
    }

    #[test]
    fn q_and_a_paragraphs() {
        let text = "Intro.\n\n**Q:** Can I resume a download?\n**A:** Yes, with `-c`.\nIt keeps the partial file.\n\nQ: And pause it?\nA: No.\n";
        let p = pairs(text);
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0],
            (
                "Can I resume a download?".to_string(),
                "Yes, with `-c`.\nIt keeps the partial file.".to_string(),
                3
            )
        );
        assert_eq!(p[1].2, 7);
    }
}
