//! How results look: human text (coloured on a terminal) or JSON.

use std::io::{self, Write};
use std::path::Path;

use anstyle::{AnsiColor, Style};
use qasearch::corpus::Warning;
use qasearch::eval::EvalReport;
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

/// Prints a value as one line of JSON (what every `--json` prints).
pub fn json_line(out: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)
}

/// Prints the answers to one question.
pub fn answers(
    out: &mut impl Write,
    question: &str,
    answers: &[Answer],
    json: bool,
) -> io::Result<()> {
    if json {
        return json_line(
            out,
            &serde_json::json!({ "question": question, "results": answers }),
        );
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

/// Prints an evaluation report as a table.
pub fn eval_table(out: &mut impl Write, r: &EvalReport) -> io::Result<()> {
    writeln!(
        out,
        "{BOLD}{}{BOLD:#}: {} queries, {} corpus entries ({} sentences, {} vectors)",
        r.dataset, r.queries, r.corpus, r.index.sentences, r.index.vectors
    )?;
    if r.index.embedded > 0 {
        writeln!(
            out,
            "indexing: embedded {} sentences at {:.0} sentences/s, {:.1} s in all",
            r.index.embedded, r.index.sentences_per_second, r.index.seconds
        )?;
    }
    writeln!(
        out,
        "{BOLD}{:<8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>8} {:>8}{BOLD:#}",
        "system", "nDCG@10", "MRR@10", "R@1", "R@5", "R@10", "p50 ms", "p95 ms"
    )?;
    for name in ["dense", "exact", "bm25"] {
        if let Some(s) = r.systems.get(name) {
            writeln!(
                out,
                "{:<8} {:>8.3} {:>8.3} {:>6.3} {:>6.3} {:>6.3} {:>8.2} {:>8.2}",
                name, s.ndcg_10, s.mrr_10, s.recall_1, s.recall_5, s.recall_10, s.p50_ms, s.p95_ms
            )?;
        }
    }
    writeln!(
        out,
        "ann_recall@10 {:.4} (HNSW top 10 vs exact top 10, ef {}); evaluated in {:.1} s",
        r.ann_recall_10, r.ef_search, r.seconds
    )
}
