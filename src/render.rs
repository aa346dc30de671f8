//! How results look: human text (coloured on a terminal) or JSON.

use std::io::{self, Write};
use std::path::Path;

use anstyle::{AnsiColor, Style};
use qasearch::corpus::Warning;
use qasearch::indexer::IndexSummary;
use qasearch::search::Answer;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const RANK: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
const MATCH: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const ERROR: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));

/// Prints an error on stderr, with its causes.
pub fn error(e: &qasearch::Error) {
    let mut err = anstream::stderr().lock();
    let _ = write!(err, "qasearch: {ERROR}error{ERROR:#}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !e.to_string().contains(&text) {
            let _ = write!(err, ": {text}");
        }
        source = s.source();
    }
    let _ = writeln!(err);
}

/// A warning about a corpus file, with the data folder in front.
pub fn data_path(data: &Path, w: &Warning) -> String {
    format!("{}/{w}", data.display().to_string().trim_end_matches('/'))
}

/// Prints the answers to one question.
pub fn answers(
    out: &mut impl Write,
    question: &str,
    answers: &[Answer],
    json: bool,
) -> io::Result<()> {
    if json {
        let v = serde_json::json!({ "question": question, "results": answers });
        return writeln!(out, "{v}");
    }
    if answers.is_empty() {
        return writeln!(out, "no answer found for {question:?}");
    }
    for (i, a) in answers.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(
            out,
            "{RANK}{}.{RANK:#} {BOLD}{}{BOLD:#}  {DIM}score {:.3} · {}:{}{DIM:#}",
            a.rank, a.question, a.score, a.doc, a.line
        )?;
        writeln!(out, "   {MATCH}> {}{MATCH:#}", a.passage)?;
        let (before, after) = (&a.answer[..a.span.0], &a.answer[a.span.1..]);
        let body = format!("{before}{BOLD}{}{BOLD:#}{after}", a.passage);
        for line in body.lines() {
            writeln!(out, "   {line}")?;
        }
    }
    Ok(())
}

/// Prints an index summary.
pub fn summary(out: &mut impl Write, s: &IndexSummary) -> io::Result<()> {
    let action = match s.graph {
        "unchanged" => "index is up to date:",
        _ => "indexed",
    };
    writeln!(
        out,
        "{action} {} documents, {} Q&A pairs, {} sentences in {:.2} s ({:.0} sentences/s)",
        s.documents, s.qa_pairs, s.sentences, s.seconds, s.sentences_per_second
    )?;
    writeln!(
        out,
        "  embedded {} ({:.0}/s), reused {}, hidden {}; graph {}; generation {} at {}",
        s.embedded, s.embedded_per_second, s.reused, s.hidden, s.graph, s.generation, s.index
    )?;
    if s.warnings > 0 {
        writeln!(
            out,
            "  skipped {} files, {} lines, {} questions ({} warnings on stderr)",
            s.skipped.files, s.skipped.lines, s.skipped.pairs, s.warnings
        )?;
    }
    Ok(())
}
