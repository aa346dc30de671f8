//! The `qasearch` binary: parse, validate, call the library, report, exit.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
use cli::render;

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use qasearch::engine::{self, Engine, EngineOptions, SharedEmbedder};
use qasearch::error::ErrorKind;
use qasearch::indexer::IndexConfig;
use qasearch::model::embed::{Embedder, Workload};
use qasearch::model::mix::ModelEmbedder;
use qasearch::model::{self, ModelOptions};
use qasearch::search::{self, SearchConfig};
use qasearch::{Error, Result};

use cli::{Bar, Cli, Command, GlobalArgs};

/// Exit codes, documented in README.md ("Exit codes").
mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// An unexpected internal error.
    pub const INTERNAL: u8 = 1;
    /// Bad command-line usage, including an empty question.
    pub const USAGE: u8 = 2;
    /// Bad or missing input data (data folder, corpus, evaluation files).
    pub const DATA: u8 = 3;
    /// The index is missing, damaged, or incompatible with this build or model.
    pub const INDEX: u8 = 4;
    /// The embedding model or ONNX Runtime cannot be obtained or loaded.
    pub const MODEL: u8 = 5;
    /// Another indexer holds the index lock.
    pub const BUSY: u8 = 6;
    /// An I/O failure while writing (disk full, folder not writable).
    pub const IO: u8 = 7;
    /// `qasearch status`: the index exists but the data changed since it was built.
    pub const STALE: u8 = 8;
    /// `qasearch status`: there is no index yet.
    pub const NO_INDEX: u8 = 9;
    /// `qasearch ask`: no confident answer (like grep's "no match").
    pub const NO_ANSWER: u8 = 10;
    /// The database store (`--store`) cannot be reached or used.
    pub const STORE: u8 = 11;
}

/// The exit code of a library error.
fn exit_code(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::Usage => exit::USAGE,
        ErrorKind::Data => exit::DATA,
        ErrorKind::Index => exit::INDEX,
        ErrorKind::Model => exit::MODEL,
        ErrorKind::Busy => exit::BUSY,
        ErrorKind::Io => exit::IO,
        ErrorKind::Store => exit::STORE,
        _ => exit::INTERNAL,
    }
}

fn main() -> ExitCode {
    // The library's messages name settings; here they are flags.
    qasearch::error::name_settings(cli::flag_of);
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
            ExitCode::from(exit_code(&e))
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
        // The database client logs every statement with its parameters
        // (corpus text, vectors) at debug: only when asked for by name.
        .filter_module("tokio_postgres", log::LevelFilter::Warn)
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
    // Commands that embed with the index's model use the one that built it
    // unless another is named.
    if let (Command::Index(args), Some(_)) = (&cli.command, &g.store) {
        if args.sparse {
            return Err(Error::Usage(
                "--sparse: the sparse arm is kept in the folder store only; index into a folder (--index DIR) or leave out --sparse".into(),
            )
            .into());
        }
    }
    let remembered;
    let g = match &cli.command {
        Command::Index(args) if !args.check => {
            remembered = index_model(g)?;
            &remembered
        }
        Command::Ask(_) | Command::Serve(_) | Command::Mcp(_) => {
            remembered = index_model(g)?;
            &remembered
        }
        _ => g,
    };
    match &cli.command {
        Command::Index(args) if args.check => status(g, args.json),
        Command::Index(args) => index(g, args),
        Command::Ask(args) => ask(g, args),
        Command::Status(args) => status(g, args.json),
        Command::Model(cli::ModelArgs {
            action: Some(cli::ModelAction::List(list)),
            json,
        }) => model_list(g, list.json || *json),
        Command::Model(args) => model_info(g, args.json),
        Command::Eval(args) => eval(g, args),
        Command::Export(args) => export(g, args),
        Command::Serve(args) => serve(g, args),
        Command::Mcp(args) => mcp(g, args),
        Command::Completions(args) => {
            cli::generate::completions(args.shell, &mut std::io::stdout().lock());
            Ok(exit::OK)
        }
        Command::Man(args) => {
            match &args.dir {
                // A closed pipe (`| head`) ends it quietly, as for any output.
                None => cli::generate::man(&mut std::io::stdout().lock())?,
                Some(dir) => cli::generate::man_pages_into(dir)?,
            }
            Ok(exit::OK)
        }
    }
}

/// `qasearch index`: build or update the index, and say what it did.
fn index(g: &GlobalArgs, args: &cli::IndexArgs) -> Outcome {
    let config = IndexConfig {
        hnsw: qasearch::index::ann::HnswParams {
            m: args.hnsw_m,
            ef_construction: args.hnsw_ef_construction,
            ..Default::default()
        },
        batch_size: args.batch_size.max(1),
        full: args.full,
        checkpoint: qasearch::indexer::checkpoint::Every {
            texts: args.checkpoint_texts,
            ..Default::default()
        },
        answer_vectors: answer_vectors(&args.answer_vectors),
        known: match &args.vectors_from {
            Some(path) => {
                let known = qasearch::indexer::KnownVectors::from_export(
                    qasearch::indexer::export::read_jsonl(path)?,
                );
                log::info!("{} vectors read from {}", known.len(), path.display());
                Some(std::sync::Arc::new(known))
            }
            None => None,
        },
        ..Default::default()
    };
    config.hnsw.validate()?;
    require_data(&g.data)?;
    // The sparse arm: asked for, or kept from the index unless dropped.
    let mut g = g.clone();
    g.sparse = args.sparse || (g.sparse && !args.no_sparse);
    let config = IndexConfig {
        sparse: g.sparse,
        ..config
    };
    let mut embedder = load_embedder(&g, Workload::Bulk)?;
    let mut bar = Bar::new(g.quiet);
    let (summary, warnings) = engine::build_index(
        &engine_options(&g, true, false),
        embedder.as_mut(),
        &config,
        &mut bar,
    )?;
    for w in &warnings {
        log::warn!("{}", render::data_path(&g.data, w));
    }
    let mut out = anstream::stdout().lock();
    if args.json {
        render::json_line(&mut out, &summary)?;
    } else {
        render::summary(&mut out, &summary)?;
    }
    Ok(exit::OK)
}

/// The model of a command on the index: the one named (`--model`, or files
/// given by hand), else the catalogued model that built the index (an index
/// remembers its model: `index --model e5-small` once, then plain `ask`),
/// else the default. A store that cannot be opened fails here as it would a
/// moment later; an index that cannot be read is left to the command.
fn index_model(g: &GlobalArgs) -> Result<GlobalArgs> {
    let mut g = g.clone();
    let store = engine_options(&g, false, false).open_store()?;
    g.sparse = qasearch::engine::recorded_sparse(store.as_ref());
    let named = g.variant.is_some() || g.model_file.is_some() || g.tokenizer_dir.is_some();
    if named {
        return Ok(g);
    }
    if let Some(info) = qasearch::engine::recorded_model(store.as_ref()) {
        log::debug!("the index was built with {}: using it", info.name);
        g.variant = Some(info.name.to_string());
    }
    Ok(g)
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
        python: std::env::var("QASEARCH_PYTHON").ok(),
        models_dir: g.models.clone().unwrap_or_else(model::default_models_dir),
        model_file: g.model_file.clone(),
        tokenizer_dir: g.tokenizer_dir.clone(),
        runtime: g
            .runtime
            .clone()
            .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(Into::into)),
        fetch: !g.no_fetch,
        variant: g.variant.clone(),
        query_prefix: g.query_prefix.clone(),
        passage_prefix: g.passage_prefix.clone(),
        max_length: g.max_length,
    }
}

fn load_embedder(g: &GlobalArgs, workload: Workload) -> Result<SharedEmbedder> {
    let t = std::time::Instant::now();
    let files = model::resolve(&model_options(g))?;
    log::debug!(
        "model files verified in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    with_sparse(
        g,
        Box::new(ModelEmbedder::load(&files, g.threads, workload)?),
    )
}

/// `dense` with the sparse arm's encoder beside it when `g.sparse`.
fn with_sparse(g: &GlobalArgs, dense: SharedEmbedder) -> Result<SharedEmbedder> {
    if !g.sparse {
        return Ok(dense);
    }
    let files = model::resolve_sparse(&model_options(g))?;
    let sparse = qasearch::model::sparse::Splade::load(&files, g.threads)?;
    Ok(Box::new(qasearch::model::sparse::WithSparse::new(
        dense,
        Box::new(sparse),
    )))
}

fn engine_options(g: &GlobalArgs, update: bool, one_shot: bool) -> EngineOptions {
    EngineOptions {
        update,
        one_shot,
        store: g.store.clone(),
        ..EngineOptions::new(&g.data, &g.index)
    }
}

/// Loads the model for the engine (it runs while the index is checked).
fn model_loader(g: &GlobalArgs) -> impl FnOnce() -> Result<SharedEmbedder> + Send + '_ {
    move || load_embedder(g, Workload::Interactive)
}

/// Opens the engine, with a progress bar and warnings for a build it needs;
/// `one_shot` for a process that exits once it has answered
/// ([`EngineOptions::one_shot`]).
fn open_engine(g: &GlobalArgs, update: bool, one_shot: bool) -> Result<Engine> {
    let mut bar = Bar::new(g.quiet);
    Engine::open_with(
        &engine_options(g, update, one_shot),
        model_loader(g),
        &mut bar,
        &mut |w| log::warn!("{}", render::data_path(&g.data, w)),
    )
}

/// Checks the search flags, naming them (the library checks the values too,
/// in its own terms).
fn check_search_flags(top_k: usize, ef: Option<usize>, min_score: Option<f32>) -> Result<()> {
    if let Some(m) = min_score.filter(|m| !(0.0..=1.0).contains(m)) {
        return Err(Error::Usage(format!(
            "--min-score must be in 0..=1 (the results' score scale), got {m}"
        )));
    }
    if top_k == 0 || top_k > 10_000 {
        return Err(Error::Usage(format!(
            "-k must be in 1..=10000, got {top_k}"
        )));
    }
    if let Some(ef) = ef.filter(|&ef| ef == 0 || ef > 100_000) {
        return Err(Error::Usage(format!(
            "--ef must be in 1..=100000, got {ef}"
        )));
    }
    Ok(())
}

fn ask(g: &GlobalArgs, args: &cli::AskArgs) -> Outcome {
    check_search_flags(args.top_k, args.ef, args.min_score)?;
    let config = SearchConfig {
        top_k: args.top_k,
        ef_search: args.ef,
        exact: args.exact,
        min_score: args.min_score,
        explain: args.explain,
        filter: search::Filter::parse(&args.filter)?,
    };
    config.validate()?;
    let from_stdin = args.question == "-";
    if !from_stdin {
        search::validate_question(&args.question)?;
    }
    let engine = open_engine(g, !args.no_update, true)?;
    let outcome = if from_stdin {
        ask_each_line(&engine, &config, args.json)
    } else {
        let t = std::time::Instant::now();
        let answered = |answers: search::Answers| -> Outcome {
            log::debug!("answered in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
            let mut out = anstream::stdout().lock();
            render::answers(&mut out, args.question.trim(), &answers, args.json)?;
            out.flush()?;
            Ok(if answers.answered {
                exit::OK
            } else {
                exit::NO_ANSWER
            })
        };
        engine
            .ask(&args.question, &config)
            .map_err(Failure::from)
            .and_then(answered)
    };
    // The process exits next: freeing the model would only delay that.
    engine.close_at_exit();
    outcome
}

/// `ask -`: one question a line from stdin, answered as it comes.
fn ask_each_line(engine: &Engine, config: &SearchConfig, json: bool) -> Outcome {
    let mut out = anstream::stdout().lock();
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
        let answers = engine.ask(question, config)?;
        if !json && !first {
            writeln!(out)?;
        }
        first = false;
        render::answers(&mut out, question, &answers, json)?;
        out.flush()?;
    }
    Ok(exit::OK)
}

fn export(g: &GlobalArgs, args: &cli::ExportArgs) -> Outcome {
    let snapshot = engine_options(g, false, false)
        .open_store()?
        .open_with_vectors()?;
    let summary = match &args.output {
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            qasearch::indexer::export::write_jsonl(&snapshot, &mut out)?
        }
        Some(path) => {
            // Never over an existing file; a partial export is removed.
            let file = qasearch::safe_fs::create_new(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Error::Usage(format!(
                    "{} exists already: remove it or name another --output",
                    path.display()
                )),
                _ => Error::io("creating", path, e),
            })?;
            let mut out = std::io::BufWriter::new(file);
            match qasearch::indexer::export::write_jsonl(&snapshot, &mut out) {
                Ok(s) => s,
                Err(e) => {
                    drop(out);
                    let _ = std::fs::remove_file(path);
                    return Err(Error::io("writing", path, e).into());
                }
            }
        }
    };
    log::info!(
        "exported {} Q&A pairs, {} sentences, {} vectors (generation {})",
        summary.pairs,
        summary.sentences,
        summary.vectors,
        snapshot.manifest.generation
    );
    Ok(exit::OK)
}

fn serve(g: &GlobalArgs, args: &cli::ServeArgs) -> Outcome {
    use qasearch::serve::{ServeOptions, Server};
    check_search_flags(3, args.ef, None)?;
    let ms = std::time::Duration::from_millis;
    let limits = args.limits();
    let ip = listen_address(&args.host)?;
    if !ip.is_loopback() {
        log::warn!(
            "listening on {} is reachable from other machines, with no authentication: anyone who can reach it can search the corpus",
            args.host
        );
    }
    // One single-threaded session a core: on 2 cores that beat one session
    // of 2 threads at 1 client (p50 3.9 vs 4.9 ms) and at 8 (498 vs 204
    // requests/s); docs/serving.md.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sessions = args.sessions.map_or(cores.min(8), usize::from);
    // The index updates of --watch embed in bulk, with every core.
    let bulk = g.clone();
    let g = &GlobalArgs {
        threads: Some(g.threads.unwrap_or(1)),
        ..g.clone()
    };
    // The first session is made while the index opens; the others copy its
    // tokenizer rather than parse it again.
    let files = model::resolve(&model_options(g))?;
    let others = std::sync::Mutex::new(Vec::new());
    let load = || -> Result<SharedEmbedder> {
        let first = ModelEmbedder::load(&files, g.threads, Workload::Interactive)?;
        let mut others = others.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 1..sessions {
            let another = first.another(&files, g.threads, Workload::Interactive)?;
            others.push(with_sparse(g, Box::new(another))?);
        }
        with_sparse(g, Box::new(first))
    };
    let mut bar = Bar::new(g.quiet);
    let mut engine = Engine::open_with(
        &engine_options(g, !args.no_update, false),
        load,
        &mut bar,
        &mut |w| log::warn!("{}", render::data_path(&g.data, w)),
    )?;
    for embedder in others.into_inner().unwrap_or_else(|p| p.into_inner()) {
        engine.add_model(embedder)?;
    }
    let watch = args.watch.then(|| {
        let load: qasearch::serve::ModelLoader =
            Box::new(move || load_embedder(&bulk, Workload::Bulk));
        (ms(args.watch_interval_ms), load)
    });
    // A name given to --host is one clients may use.
    let mut allowed_hosts = args.allow_hosts.clone();
    if args.host.parse::<std::net::IpAddr>().is_err() {
        allowed_hosts.push(args.host.clone());
    }
    let options = ServeOptions {
        limits,
        allowed_hosts,
        allowed_origins: args.allow_origins.clone(),
        watch,
        search: SearchConfig {
            ef_search: args.ef,
            ..SearchConfig::default()
        },
        ..ServeOptions::default()
    };
    let addr = std::net::SocketAddr::new(ip, args.port);
    let server = Server::bind(engine, addr, options).map_err(|e| match e {
        Error::Usage(m) => Error::Usage(format!(
            "{m}: pick another --port, or --port 0 for any free one"
        )),
        e => e,
    })?;
    let health = {
        let addr = server.addr();
        let url = match addr.ip() {
            std::net::IpAddr::V6(ip) => format!("http://[{ip}]:{}/", addr.port()),
            std::net::IpAddr::V4(ip) => format!("http://{ip}:{}/", addr.port()),
        };
        // The one line on stdout: scripts (and the tests) read the address here.
        let mut out = std::io::stdout().lock();
        writeln!(out, "{url}")?;
        out.flush()?;
        url
    };
    log::info!("serving {health} (Ctrl-C stops)");
    server.run()?;
    Ok(exit::OK)
}

/// The address `--host` names: an IP address, or a name looked up (its
/// first address; `localhost` is loopback).
fn listen_address(host: &str) -> Result<std::net::IpAddr> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
        return Ok(ip);
    }
    use std::net::ToSocketAddrs;
    let found = (host, 0)
        .to_socket_addrs()
        .map_err(|e| Error::Usage(format!("--host {host:?}: cannot look it up ({e})")))?
        .map(|a| a.ip())
        .min_by_key(|ip| !ip.is_ipv4());
    found.ok_or_else(|| Error::Usage(format!("--host {host:?}: the name has no address")))
}

fn mcp(g: &GlobalArgs, args: &cli::McpArgs) -> Outcome {
    check_search_flags(3, args.ef, None)?;
    let search = SearchConfig {
        ef_search: args.ef,
        ..SearchConfig::default()
    };
    // `initialize` is answered at once; the index opens (or is built) on a
    // thread of its own, and tool calls wait for it (bounded).
    let loading = qasearch::serve::mcp::Loading::new();
    {
        let loading = loading.clone();
        let g = g.clone();
        let update = !args.no_update;
        std::thread::Builder::new()
            .name("qasearch-open".into())
            .spawn(move || {
                let engine = open_engine(&g, update, false);
                if let Err(e) = &engine {
                    log::error!("{e}");
                }
                loading.set(engine);
            })
            .map_err(|e| Error::io("starting", "<open thread>", e))?;
    }
    qasearch::serve::mcp::serve(
        &loading,
        &search,
        std::io::stdin().lock(),
        std::io::stdout().lock(),
    )?;
    Ok(exit::OK)
}

/// The value of `--answer-vectors` (clap admits only the known names).
fn answer_vectors(name: &str) -> qasearch::store::AnswerVectors {
    qasearch::store::AnswerVectors::from_name(name).unwrap_or_default()
}

fn eval(g: &GlobalArgs, args: &cli::EvalArgs) -> Outcome {
    check_search_flags(10, args.ef, None)?;
    // The sparse arm's model: for `--beir --sparse`, or a corpus index that has it.
    let mut g = g.clone();
    g.sparse = match &args.beir {
        Some(_) => args.sparse,
        None => qasearch::engine::recorded_sparse(
            engine_options(&g, false, false).open_store()?.as_ref(),
        ),
    };
    let g = &g;
    use qasearch::eval::{self, EvalSet};
    let set = match &args.beir {
        Some(dir) => EvalSet::Beir {
            dir,
            cache_root: &args.cache,
            // A hand-supplied model caches apart from the presets (the cache
            // is checked against the model either way).
            tag: if g.model_file.is_some() {
                "custom"
            } else {
                qasearch::model::canonical_model(g.variant.as_deref()).unwrap_or("custom")
            },
            full: args.full,
            answer_vectors: args
                .answer_vectors
                .as_deref()
                .map(answer_vectors)
                .unwrap_or_default(),
            sparse: args.sparse,
        },
        None => EvalSet::Corpus {
            questions: args.questions.as_deref(),
            only_questions: args.only_questions,
        },
    };
    let dump = std::env::var_os("QASEARCH_EVAL_DUMP");
    let mut bar = Bar::new(g.quiet);
    let report = eval::evaluate(
        set,
        &engine_options(g, true, false),
        model_loader(g),
        &eval::EvalOptions {
            ef_search: args.ef,
            unrelated: args.unrelated.as_deref(),
            // A developer's switch (benches/fusion/): every view's candidates.
            dump: dump.as_deref().map(Path::new),
        },
        &mut bar,
    )?;
    if let Some(path) = &args.report {
        render::report_file(path, &report)?;
    }
    let mut out = anstream::stdout().lock();
    if args.json {
        render::json_line(&mut out, &report)?;
    } else {
        render::eval_table(&mut out, &report)?;
    }
    Ok(exit::OK)
}

fn status(g: &GlobalArgs, json: bool) -> Outcome {
    let status = engine::status_of(&g.data, &*engine_options(g, false, false).open_store()?)?;
    let mut out = anstream::stdout().lock();
    let index = render::clean(&status.index).into_owned();
    if json {
        render::json_line(&mut out, &status)?;
    } else if !status.exists {
        writeln!(
            out,
            "no index at {index}: run `qasearch index` to build one"
        )?;
    } else if status.fresh {
        let c = status.indexed.unwrap_or_default();
        writeln!(
            out,
            "index {index} is fresh: {}, {}, {} (generation {})",
            qasearch::error::count(c.documents, "document", "documents"),
            qasearch::error::count(c.qa_pairs, "Q&A pair", "Q&A pairs"),
            qasearch::error::count(c.sentences, "sentence", "sentences"),
            status.generation.unwrap_or_default()
        )?;
    } else {
        let docs = status.documents.unwrap_or_default();
        writeln!(
            out,
            "index {index} is stale: documents {docs}{}; run `qasearch index` to update it",
            if docs.is_empty() {
                " (files changed without changing any document)"
            } else {
                ""
            }
        )?;
    }
    if !json {
        for advice in &status.advice {
            writeln!(out, "note: {advice}")?;
        }
    }
    Ok(match (status.exists, status.fresh) {
        (false, _) => exit::NO_INDEX,
        (true, true) => exit::OK,
        (true, false) => exit::STALE,
    })
}

fn model_list(g: &GlobalArgs, json: bool) -> Outcome {
    let opts = model_options(g);
    let models: Vec<serde_json::Value> = model::MODELS
        .iter()
        .map(|m| model::describe(m, &opts))
        .collect();
    let mut out = anstream::stdout().lock();
    if json {
        render::json_line(&mut out, &serde_json::json!({ "models": models }))?;
    } else {
        render::model_list(&mut out, &models)?;
    }
    Ok(exit::OK)
}

fn model_info(g: &GlobalArgs, json: bool) -> Outcome {
    let files = model::resolve(&model_options(g))?;
    let mut embedder = ModelEmbedder::load(&files, g.threads, Workload::Interactive)?;
    let probe = embedder.embed_batch(&["probe sentence"])?;
    let dim = probe.first().map_or(0, Vec::len);
    let mut out = anstream::stdout().lock();
    // A mix: each of its models' files.
    let one = [(files.clone(), 1.0)];
    let parts = if files.parts.is_empty() {
        &one[..]
    } else {
        &files.parts[..]
    };
    if json {
        let each: Vec<_> = parts
            .iter()
            .map(|(f, w)| {
                serde_json::json!({"model": f.identity.id(), "weight": w, "onnx": f.onnx, "tokenizer": f.tokenizer})
            })
            .collect();
        let v = serde_json::json!({
            "model": files.identity.id(),
            "identity": files.identity,
            "dimension": dim,
            "onnx": files.onnx,
            "tokenizer": files.tokenizer,
            "runtime": files.runtime,
            "parts": each,
        });
        render::json_line(&mut out, &v)?;
    } else {
        writeln!(out, "model     {} ({dim}-d, verified)", files.identity.id())?;
        for (f, w) in parts {
            if parts.len() > 1 {
                writeln!(out, "part      {} × {}", w, f.identity.id())?;
            }
            writeln!(out, "onnx      {}", f.onnx.display())?;
            writeln!(out, "tokenizer {}", f.tokenizer[0].display())?;
        }
        writeln!(out, "runtime   {}", files.runtime.display())?;
    }
    Ok(exit::OK)
}
