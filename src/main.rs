//! The `qasearch` binary: parse, validate, call the library, report, exit.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod render;

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use qasearch::embed::{Embedder, OnnxEmbedder, Workload};
use qasearch::error::exit;
use qasearch::indexer::{self, IndexConfig, Progress, Stage};
use qasearch::model::{self, ModelOptions};
use qasearch::search::{self, SearchConfig};
use qasearch::store::{self, WriterLock};
use qasearch::{Error, Result};

use cli::{Cli, Command, GlobalArgs};

fn main() -> ExitCode {
    // A file size limit (`ulimit -f`) must fail a write with an error we
    // report (exit 7, previous index intact), not kill the process.
    #[cfg(unix)]
    // SAFETY: setting a signal to be ignored has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let cli = Cli::parse();
    init_logging(cli.global.quiet);
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Lib(e)) => {
            render::error(&e);
            ExitCode::from(e.exit_code())
        }
        // A closed pipe (`qasearch ask ... | head -1`) is not an error.
        Err(Failure::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(e)) => {
            eprintln!("qasearch: error: writing output: {e}");
            ExitCode::from(exit::IO)
        }
    }
}

/// Why a command failed: the library's error, or stdout going away.
enum Failure {
    Lib(Error),
    Output(std::io::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Lib(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Output(e)
    }
}

type Outcome = std::result::Result<u8, Failure>;

fn init_logging(quiet: bool) {
    let level = if quiet {
        log::LevelFilter::Warn
    } else {
        log::LevelFilter::Info
    };
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Warn)
        .filter_module("qasearch", level)
        .parse_env("QASEARCH_LOG")
        // Messages carry corpus text and file names: never raw controls.
        .format(|buf, record| {
            let text = record.args().to_string();
            let text = render::clean(&text);
            match record.level() {
                log::Level::Info => writeln!(buf, "qasearch: {text}"),
                level => writeln!(buf, "qasearch: {}: {text}", level.as_str().to_lowercase()),
            }
        })
        .init();
}

/// Most model threads accepted: more than a few per core only costs memory
/// (ONNX Runtime creates every one of them up front).
fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 4).max(16)
}

fn run(cli: &Cli) -> Outcome {
    let g = &cli.global;
    if let Some(t) = g.threads {
        if t == 0 || t > max_threads() {
            return Err(Error::Usage(format!(
                "--threads must be in 1..={} (4 per core on this machine, at least 16), got {t}",
                max_threads()
            ))
            .into());
        }
    }
    match &cli.command {
        Command::Index(args) if args.check => status(g, args.json),
        Command::Index(args) => {
            let config = IndexConfig {
                hnsw: qasearch::ann::HnswParams {
                    m: args.hnsw_m,
                    ef_construction: args.hnsw_ef_construction,
                    ..Default::default()
                },
                batch_size: args.batch_size.max(1),
                full: args.full,
                ..Default::default()
            };
            config.hnsw.validate()?;
            require_data(&g.data)?;
            let mut embedder = load_embedder(g, Workload::Bulk)?;
            let summary = build(g, &mut embedder, &config)?;
            let mut out = anstream::stdout().lock();
            if args.json {
                render::json_line(&mut out, &summary)?;
            } else {
                render::summary(&mut out, &summary)?;
            }
            Ok(exit::OK)
        }
        Command::Ask(args) => ask(g, args),
        Command::Status(args) => status(g, args.json),
        Command::Model(args) => model_info(g, args.json),
        Command::Eval(args) => eval(g, args),
    }
}

fn require_data(data: &Path) -> Result<()> {
    if !data.is_dir() {
        return Err(Error::DataMissing {
            path: data.to_path_buf(),
        });
    }
    Ok(())
}

fn model_options(g: &GlobalArgs) -> ModelOptions {
    ModelOptions {
        models_dir: g.models.clone(),
        model_file: g.model_file.clone(),
        tokenizer_dir: g.tokenizer_dir.clone(),
        runtime: g
            .runtime
            .clone()
            .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(Into::into)),
        fetch: !g.no_fetch,
        variant: g.variant.clone(),
    }
}

fn load_embedder(g: &GlobalArgs, workload: Workload) -> Result<OnnxEmbedder> {
    let t = std::time::Instant::now();
    let files = model::resolve(&model_options(g))?;
    log::debug!(
        "model files verified in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    OnnxEmbedder::load(&files, g.threads, workload)
}

/// Builds or refreshes the index, with a progress bar on a terminal.
fn build(
    g: &GlobalArgs,
    embedder: &mut dyn Embedder,
    config: &IndexConfig,
) -> Result<indexer::IndexSummary> {
    let mut progress = Bar::new(g.quiet);
    let (summary, warnings) = indexer::build(&g.data, &g.index, embedder, config, &mut progress)?;
    for w in &warnings {
        log::warn!("{}", render::data_path(&g.data, w));
    }
    if let Some(reason) = &summary.full_reason {
        log::info!("re-embedded everything: {reason}");
    }
    Ok(summary)
}

/// Makes sure an index exists and, unless `no_update`, matches the data folder.
/// What the index needs before it can answer.
enum IndexState {
    /// Usable as it is (fresh, or not checked); the manifest's model, to compare.
    Ready(qasearch::model::ModelIdentity),
    /// No index yet.
    Missing,
    /// The data changed; rebuild with these HNSW settings.
    Stale(
        qasearch::indexer::Changes,
        qasearch::ann::HnswParams,
        qasearch::model::ModelIdentity,
    ),
}

/// Finds out, without the model, whether the index can answer as it is.
fn index_state(g: &GlobalArgs, no_update: bool) -> Result<IndexState> {
    if !store::exists(&g.index) {
        return Ok(IndexState::Missing);
    }
    let manifest = match store::read_manifest(&g.index) {
        Ok(m) => m,
        // An index of an older qasearch is rebuilt; a newer one is refused
        // (rebuilding would take it from the qasearch that made it).
        Err(Error::Incompatible {
            what: "format version",
            found,
            ..
        }) if !no_update
            && found
                .parse::<u32>()
                .is_ok_and(|v| v < store::FORMAT_VERSION) =>
        {
            log::info!(
                "the index at {} was made by an earlier qasearch (format {found}): rebuilding it",
                g.index.display()
            );
            return Ok(IndexState::Missing);
        }
        Err(e) => return Err(e),
    };
    if no_update {
        return Ok(IndexState::Ready(manifest.model));
    }
    match indexer::file_changes(&g.data, &manifest) {
        Ok(c) if c.is_empty() => Ok(IndexState::Ready(manifest.model)),
        Ok(c) => Ok(IndexState::Stale(c, manifest.hnsw, manifest.model)),
        Err(Error::DataMissing { path }) => {
            log::warn!(
                "data folder {} not found: answering from the index as it was built",
                path.display()
            );
            Ok(IndexState::Ready(manifest.model))
        }
        Err(e) => Err(e),
    }
}

fn model_mismatch(
    g: &GlobalArgs,
    ours: &qasearch::model::ModelIdentity,
    theirs: &qasearch::model::ModelIdentity,
) -> Result<()> {
    if ours != theirs {
        return Err(Error::Incompatible {
            path: g.index.join("CURRENT"),
            what: "model",
            expected: ours.id(),
            found: theirs.id(),
        });
    }
    Ok(())
}

/// Builds or updates the index when `state` says so.
fn bring_up_to_date(g: &GlobalArgs, embedder: &mut dyn Embedder, state: IndexState) -> Result<()> {
    match state {
        IndexState::Ready(model) => model_mismatch(g, embedder.identity(), &model),
        IndexState::Missing => {
            log::info!(
                "no index at {} yet: building it from {}",
                g.index.display(),
                g.data.display()
            );
            match build(g, embedder, &IndexConfig::default()) {
                Ok(_) => Ok(()),
                Err(Error::Busy { .. }) => {
                    log::info!("another qasearch is building the index: waiting for it");
                    drop(WriterLock::wait(&g.index)?);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        IndexState::Stale(changes, hnsw, model) => {
            model_mismatch(g, embedder.identity(), &model)?;
            log::info!(
                "{} changed since the index was built (files: {changes}): updating the index",
                g.data.display()
            );
            let config = IndexConfig {
                hnsw,
                ..Default::default()
            };
            match build(g, embedder, &config) {
                Ok(_) => Ok(()),
                Err(Error::Busy { .. }) => {
                    log::warn!(
                        "another qasearch is updating the index: answering from the current one"
                    );
                    Ok(())
                }
                // The previous index is intact: answer from it rather than not at all.
                Err(e @ (Error::Io { .. } | Error::InjectedAbort(_))) => {
                    log::warn!("cannot update the index ({e}): answering from the current one");
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// Makes sure an index exists and, unless `no_update`, matches the data folder.
fn ensure_index(g: &GlobalArgs, embedder: &mut dyn Embedder, no_update: bool) -> Result<()> {
    let state = index_state(g, no_update)?;
    bring_up_to_date(g, embedder, state)
}

/// Loads the model and, at the same time, checks and opens the index: the
/// two slowest steps of a cold start overlap on two cores.
fn model_and_index(g: &GlobalArgs, no_update: bool) -> Result<(OnnxEmbedder, store::Snapshot)> {
    let t = std::time::Instant::now();
    let (embedder, state, snapshot) = std::thread::scope(|scope| {
        let model = scope.spawn(|| load_embedder(g, Workload::Interactive));
        let state = index_state(g, no_update);
        // Open now only if nothing has to change first.
        let snapshot = match &state {
            Ok(IndexState::Ready(_)) => Some(store::open(&g.index)),
            _ => None,
        };
        let embedder = model.join().unwrap_or_else(|_| {
            Err(Error::Model {
                message: "loading the model failed unexpectedly".into(),
            })
        });
        (embedder, state, snapshot)
    });
    let mut embedder = embedder?;
    let state = state?;
    log::debug!(
        "model and index state ready in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let snapshot = match (state, snapshot) {
        (IndexState::Ready(model), Some(snapshot)) => {
            model_mismatch(g, embedder.identity(), &model)?;
            snapshot?
        }
        (state, _) => {
            bring_up_to_date(g, &mut embedder, state)?;
            store::open(&g.index)?
        }
    };
    snapshot.check_model(embedder.identity())?;
    Ok((embedder, snapshot))
}

fn ask(g: &GlobalArgs, args: &cli::AskArgs) -> Outcome {
    let config = SearchConfig {
        top_k: args.top_k,
        ef_search: args.ef,
        exact: args.exact,
    };
    config.validate()?;
    let from_stdin = args.question == "-";
    if !from_stdin {
        search::validate_question(&args.question)?;
    }
    let (mut embedder, snapshot) = model_and_index(g, args.no_update)?;
    let mut out = anstream::stdout().lock();
    if !from_stdin {
        let t = std::time::Instant::now();
        let answers = search::ask(&snapshot, &mut embedder, &args.question, &config)?;
        log::debug!("answered in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        render::answers(&mut out, args.question.trim(), &answers, args.json)?;
        return Ok(exit::OK);
    }
    let mut first = true;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| Error::BadInput {
            path: "<stdin>".into(),
            line: Some(n + 1),
            message: match e.kind() {
                std::io::ErrorKind::InvalidData => {
                    "not UTF-8 text: send one UTF-8 question a line".into()
                }
                _ => format!("cannot read questions ({e}): send one question a line on stdin"),
            },
        })?;
        let Ok(question) = search::validate_question(&line) else {
            continue;
        };
        let answers = search::ask(&snapshot, &mut embedder, question, &config)?;
        if !args.json && !first {
            writeln!(out)?;
        }
        first = false;
        render::answers(&mut out, question, &answers, args.json)?;
        out.flush()?;
    }
    Ok(exit::OK)
}

fn eval(g: &GlobalArgs, args: &cli::EvalArgs) -> Outcome {
    use qasearch::{beir, eval};
    let config = SearchConfig {
        ef_search: args.ef,
        ..SearchConfig::default()
    };
    config.validate()?;
    let mut embedder = load_embedder(g, Workload::Interactive)?;
    // BEIR judgements name corpus ids (document keys); corpus ones name pairs.
    let (snapshot, queries, dataset, index_report, by_key) = match &args.beir {
        Some(dir) => {
            let set = beir::load(dir)?;
            let cache = args.cache.join("eval").join(format!(
                "{}-{}-{}",
                set.name,
                &set.corpus_sha256[..12],
                g.variant.as_deref().unwrap_or("default")
            ));
            let source = dir.join("corpus.jsonl");
            let source = source.canonicalize().unwrap_or(source);
            log::info!(
                "{}: {} corpus entries, {} judged queries; index cached in {}",
                set.name,
                set.corpus.len(),
                set.queries.len(),
                cache.display()
            );
            let index_config = IndexConfig {
                full: args.full,
                ..IndexConfig::default()
            };
            let mut progress = Bar::new(g.quiet);
            let (summary, _) = indexer::build_corpus(
                set.to_corpus(&source),
                dir,
                &cache,
                &mut embedder,
                &index_config,
                &mut progress,
                std::time::Instant::now(),
            )?;
            let snapshot = store::open(&cache)?;
            let report = index_report(&summary);
            (snapshot, set.queries, set.name, report, true)
        }
        None => {
            ensure_index(g, &mut embedder, false)?;
            let snapshot = store::open(&g.index)?;
            snapshot.check_model(embedder.identity())?;
            let pairs: Vec<(String, String)> = snapshot
                .meta
                .pairs
                .iter()
                .map(|p| {
                    (
                        snapshot.meta.documents[p.doc as usize].key.clone(),
                        p.question.clone(),
                    )
                })
                .collect();
            let mut queries = if args.only_questions {
                Vec::new()
            } else {
                beir::corpus_queries(&pairs)
            };
            if let Some(path) = &args.questions {
                queries.extend(beir::tsv_queries(path, &pairs)?);
            }
            let c = snapshot.manifest.counts;
            let report = eval::IndexReport {
                sentences: c.sentences,
                vectors: c.vectors,
                ..Default::default()
            };
            (
                snapshot,
                queries,
                g.data.display().to_string(),
                report,
                false,
            )
        }
    };
    let mut bar = Bar::new(g.quiet);
    bar.start(Stage::Queries, queries.len() as u64);
    let doc_id = |pair: usize| {
        if by_key {
            let doc = snapshot.meta.pairs[pair].doc as usize;
            snapshot.meta.documents[doc].key.clone()
        } else {
            pair.to_string()
        }
    };
    let mut report = eval::run(
        &snapshot,
        &mut embedder,
        &queries,
        &doc_id,
        args.ef,
        &mut |n| bar.advance(n as u64),
    )?;
    bar.finish();
    report.dataset = dataset;
    report.index = index_report;
    let mut out = anstream::stdout().lock();
    if args.json {
        render::json_line(&mut out, &report)?;
    } else {
        render::eval_table(&mut out, &report)?;
    }
    Ok(exit::OK)
}

fn index_report(s: &indexer::IndexSummary) -> qasearch::eval::IndexReport {
    qasearch::eval::IndexReport {
        sentences: s.sentences,
        vectors: s.vectors,
        embedded: s.embedded,
        seconds: s.seconds,
        sentences_per_second: if s.embedded > 0 {
            s.embedded_per_second
        } else {
            0.0
        },
    }
}

fn status(g: &GlobalArgs, json: bool) -> Outcome {
    let mut out = anstream::stdout().lock();
    if !store::exists(&g.index) {
        if json {
            let v = serde_json::json!({"index": g.index.display().to_string(), "exists": false, "fresh": false});
            render::json_line(&mut out, &v)?;
        } else {
            writeln!(
                out,
                "no index at {}: run `qasearch index` to build one",
                render::clean(&g.index.display().to_string())
            )?;
        }
        return Ok(exit::NO_INDEX);
    }
    // Every file a question needs is checked, not only the manifest: an
    // index that cannot answer is not fresh.
    let manifest = store::open(&g.index)?.manifest;
    let corpus = qasearch::corpus::load(&g.data)?;
    let docs = indexer::document_changes(&corpus, &manifest);
    let files_same = manifest
        .sources
        .iter()
        .map(|s| (&s.path, &s.sha256))
        .eq(corpus.files.iter().map(|s| (&s.path, &s.sha256)));
    let fresh = docs.is_empty() && files_same;
    if json {
        let v = serde_json::json!({
            "index": g.index.display().to_string(),
            "exists": true,
            "fresh": fresh,
            "generation": manifest.generation,
            "built_unix_s": manifest.created_unix_s,
            "model": manifest.model.id(),
            "indexed": manifest.counts,
            "documents": docs,
        });
        render::json_line(&mut out, &v)?;
    } else if fresh {
        writeln!(
            out,
            "index {} is fresh: {} documents, {} Q&A pairs, {} sentences (generation {})",
            render::clean(&g.index.display().to_string()),
            manifest.counts.documents,
            manifest.counts.qa_pairs,
            manifest.counts.sentences,
            manifest.generation
        )?;
    } else {
        writeln!(
            out,
            "index {} is stale: documents {docs}{}; run `qasearch index` to update it",
            render::clean(&g.index.display().to_string()),
            if docs.is_empty() {
                " (files changed without changing any document)"
            } else {
                ""
            }
        )?;
    }
    Ok(if fresh { exit::OK } else { exit::STALE })
}

fn model_info(g: &GlobalArgs, json: bool) -> Outcome {
    let files = model::resolve(&model_options(g))?;
    let mut embedder = OnnxEmbedder::load(&files, g.threads, Workload::Interactive)?;
    let probe = embedder.embed_batch(&["probe sentence"])?;
    let dim = probe.first().map_or(0, Vec::len);
    let mut out = anstream::stdout().lock();
    if json {
        let v = serde_json::json!({
            "model": files.identity.id(),
            "identity": files.identity,
            "dimension": dim,
            "onnx": files.onnx,
            "tokenizer": files.tokenizer,
            "runtime": files.runtime,
        });
        render::json_line(&mut out, &v)?;
    } else {
        writeln!(out, "model     {} ({dim}-d, verified)", files.identity.id())?;
        writeln!(out, "onnx      {}", files.onnx.display())?;
        writeln!(out, "tokenizer {}", files.tokenizer[0].display())?;
        writeln!(out, "runtime   {}", files.runtime.display())?;
    }
    Ok(exit::OK)
}

/// Progress on stderr: a bar while embedding, a spinner while building the graph.
struct Bar {
    quiet: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Bar {
    fn new(quiet: bool) -> Self {
        Bar { quiet, bar: None }
    }
}

impl Progress for Bar {
    fn start(&mut self, stage: Stage, total: u64) {
        if self.quiet || total == 0 {
            return;
        }
        let (template, what) = match stage {
            Stage::Embedding => (
                "{msg:>10} [{bar:30}] {pos}/{len} sentences, {per_sec}, ETA {eta}",
                "embedding",
            ),
            Stage::Graph => ("{msg:>10} {spinner} {len} vectors", "linking"),
            Stage::Queries => (
                "{msg:>10} [{bar:30}] {pos}/{len} queries, {per_sec}, ETA {eta}",
                "evaluating",
            ),
            Stage::Writing => return,
        };
        if stage == Stage::Embedding {
            log::info!("embedding {total} sentences");
        }
        let style = indicatif::ProgressStyle::with_template(template)
            .expect("invariant: valid template")
            .progress_chars("=> ");
        let bar = indicatif::ProgressBar::new(total)
            .with_style(style)
            .with_message(what);
        if stage == Stage::Graph {
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        }
        self.bar = Some(bar);
    }

    fn advance(&mut self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
