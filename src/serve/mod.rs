//! The front ends of a running engine. Takes an [`Engine`]; gives `qasearch
//! serve` (the engine, loaded once, behind a small HTTP/1.1 JSON API and a
//! search page: this file, with `listen.rs` for connections, `places.rs`
//! for work and `page.rs`) and `qasearch mcp` ([`mcp`], the Model Context
//! Protocol over stdio).
//!
//! Every answer comes from [`Engine::ask`], as for `ask`; nothing here reaches
//! below the engine. The model answers one question at a time (its lock is
//! in the engine): questions are never batched together, because an int8
//! model's maths quantizes a whole call with one scale, so a question's
//! scores would depend on what else was asked at the same moment. Retrieval
//! runs on the blocking pool beside it.
//!
//! Safe by default: loopback unless told otherwise; the `Host` header must
//! name the server (DNS rebinding); a browser's cross-origin POST is refused;
//! body size, question length, `k`, requests at once and time per request are
//! bounded ([`Limits`]); no file is served from disk.

pub mod mcp;

mod cors;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::engine::{self, Engine};
use crate::error::{ErrorKind, Setting};
use crate::indexer::IndexConfig;
use crate::model::embed::Embedder;
use crate::progress::NoProgress;
use crate::search::{Reply, SearchConfig};

mod guard;
mod listen;
mod page;
mod places;

pub use cors::parse_origin;
use guard::{guard, Hosts};
use places::Places;

/// What clients may ask of the server. Every field is a `serve` flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Longest question, in characters.
    pub max_question_chars: usize,
    /// Most results one request may ask for.
    pub max_k: usize,
    /// Requests the engine works on at once. A request holds its place
    /// until its work ends, also when it was answered 504 before that.
    pub max_concurrent: usize,
    /// How long a request waits for a place before it gets 503.
    pub queue_wait: Duration,
    /// Longest the work on a request may take before it gets 504.
    pub request_timeout: Duration,
    /// Connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time a connection has to send a request's complete header, from
    /// when it opens or its previous response ends (so also how long an
    /// idle kept-alive connection stays open).
    pub header_timeout: Duration,
    /// Time a request has to send its body once its header is in.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024,
            max_question_chars: 1000,
            max_k: 50,
            max_concurrent: 64,
            queue_wait: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_connections: 512,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
        }
    }
}

/// Loads a model for an index update the server runs itself (`--watch`).
pub type ModelLoader = Box<dyn Fn() -> crate::Result<Box<dyn Embedder + Send>> + Send + Sync>;

/// How the server runs.
pub struct ServeOptions {
    /// Per-request bounds.
    pub limits: Limits,
    /// Host names accepted in the `Host` header besides the bound address
    /// (and, on loopback, `localhost`).
    pub allowed_hosts: Vec<String>,
    /// Origins (`http://localhost:3000`) whose pages may call the API
    /// from a browser (CORS); none by default.
    pub allowed_origins: Vec<String>,
    /// How often the index folder is checked for a new generation.
    pub refresh_every: Duration,
    /// With a loader, the server also checks the data folder this often and
    /// updates the index itself when it changed.
    pub watch: Option<(Duration, ModelLoader)>,
    /// The default number of results.
    pub default_k: usize,
    /// The search settings besides `k` (ef, exact, min_score).
    pub search: SearchConfig,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            limits: Limits::default(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            refresh_every: Duration::from_millis(200),
            watch: None,
            default_k: 3,
            search: SearchConfig::default(),
        }
    }
}

struct AppState {
    engine: Arc<Engine>,
    limits: Limits,
    default_k: usize,
    search: SearchConfig,
    places: Places,
    hosts: Hosts,
    cors: cors::Cors,
}

/// An error as the API returns it: `{"error": {"kind": …, "message": …}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        let (status, kind) = match e.kind() {
            ErrorKind::Usage => (StatusCode::BAD_REQUEST, "bad_request"),
            ErrorKind::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ErrorKind::Data => (StatusCode::INTERNAL_SERVER_ERROR, "data"),
            ErrorKind::Index => (StatusCode::INTERNAL_SERVER_ERROR, "index"),
            ErrorKind::Model => (StatusCode::INTERNAL_SERVER_ERROR, "model"),
            ErrorKind::Io => (StatusCode::INTERNAL_SERVER_ERROR, "io"),
            ErrorKind::Store => (StatusCode::SERVICE_UNAVAILABLE, "store"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, kind, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Turning requests away under load is not worth a line each.
        if self.status.is_server_error() && self.status != StatusCode::SERVICE_UNAVAILABLE {
            log::warn!("{} {}: {}", self.status.as_u16(), self.kind, self.message);
        }
        let body = serde_json::json!({"error": {"kind": self.kind, "message": self.message}});
        let mut r = json_response(self.status, &body);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

/// A question as the API takes it (POST body, or `q`/`k`/`explain` in a GET's query).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AskRequest {
    question: String,
    k: Option<usize>,
    #[serde(default)]
    explain: bool,
    min_score: Option<f32>,
    #[serde(default)]
    exact: bool,
    /// Only pairs whose metadata match: `{"name": "value", …}`.
    #[serde(default, rename = "where")]
    filter: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AskQuery {
    q: Option<String>,
    k: Option<usize>,
    #[serde(default)]
    explain: bool,
}

/// The `where=name=value` terms of a GET's query (repeatable), and the rest
/// of the query without them.
fn where_terms(raw: Option<&str>) -> (Vec<String>, String) {
    let mut terms = Vec::new();
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if name == "where" {
            terms.push(value.into_owned());
        } else {
            rest.append_pair(&name, &value);
        }
    }
    (terms, rest.finish())
}

/// The routes, with every guard, over an opened engine bound at `addr`.
pub fn router(engine: Arc<Engine>, addr: SocketAddr, options: &ServeOptions) -> Router {
    let limits = options.limits.clone();
    let state = Arc::new(AppState {
        engine,
        places: Places::new(&limits),
        hosts: Hosts::new(addr, &options.allowed_hosts),
        cors: cors::Cors::new(&options.allowed_origins),
        default_k: options.default_k,
        search: options.search.clone(),
        limits,
    });
    Router::new()
        .route("/", get(page))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/health", get(health))
        .route("/api/ask", get(ask_get).post(ask_post))
        .route("/api/status", get(status))
        .fallback(|uri: Uri| async move {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "no such route: {} (the API: GET /api/health, GET or POST /api/ask, GET /api/status; the page: GET /)",
                    uri.path()
                ),
            )
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed on {}", uri.path()),
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The page, with a policy that lets it load nothing from anywhere else.
async fn page() -> Response {
    let page = page::get();
    let mut r = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.html.as_str(),
    )
        .into_response();
    let h = r.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&page.policy) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// Always 200 while the process answers; `status` is `overloaded` while
/// requests are being refused for want of a place (and for 5 s after).
async fn health(State(s): State<Arc<AppState>>) -> Response {
    let mut health = s.engine.health();
    if s.places.overloaded() {
        health.status = "overloaded";
    }
    let mut value = serde_json::to_value(&health).unwrap_or_default();
    value["in_flight"] = s.places.in_flight().into();
    value["max_concurrent"] = s.places.max.into();
    json_response(StatusCode::OK, &value)
}

async fn status(State(s): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let engine = s.engine.clone();
    let status = blocking(&s, move || {
        let o = engine.options();
        engine::status_of(&o.data_dir, &*o.open_store()?)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &status))
}

async fn ask_get(
    State(s): State<Arc<AppState>>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let (terms, rest) = where_terms(raw.as_deref());
    let q: AskQuery = serde_urlencoded::from_str(&rest).map_err(|e| {
        ApiError::bad_request(format!(
            "Failed to deserialize query string: {e}: use ?q=QUESTION&k=N&explain=true&where=NAME=VALUE"
        ))
    })?;
    let question =
        q.q.ok_or_else(|| ApiError::bad_request("no question: use ?q=QUESTION"))?;
    answer(
        &s,
        AskRequest {
            question,
            k: q.k,
            explain: q.explain,
            min_score: None,
            exact: false,
            filter: serde_json::json!(terms),
        },
    )
    .await
}

async fn ask_post(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the question as JSON with Content-Type: application/json",
        ));
    }
    let body = read_body(&s.limits, body).await?;
    let request: AskRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid JSON ({e}): send {{\"question\": \"...\", \"k\": 3, \"explain\": false}}"
        ))
    })?;
    answer(&s, request).await
}

/// Reads a request body within the body deadline and the size bound, before
/// the request takes a place: a client that sends its header and then
/// nothing holds no place and is cut off.
async fn read_body(limits: &Limits, body: Body) -> Result<Bytes, ApiError> {
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    match tokio::time::timeout(limits.body_timeout, read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!(
                        "the body is over {} bytes ({})",
                        limits.max_body_bytes,
                        Setting::MaxBodyBytes
                    ),
                ))
            } else {
                Err(ApiError::bad_request(format!("cannot read the body: {e}")))
            }
        }
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the body did not arrive within {} ms ({})",
                limits.body_timeout.as_millis(),
                Setting::BodyTimeout
            ),
        )),
    }
}

/// Checks a question against the limits and answers it from the engine.
async fn answer(s: &Arc<AppState>, r: AskRequest) -> Result<Response, ApiError> {
    let question = crate::search::validate_question(&r.question)?.to_string();
    let chars = question.chars().count();
    if chars > s.limits.max_question_chars {
        return Err(ApiError::bad_request(format!(
            "the question is {chars} characters long, over {} ({})",
            s.limits.max_question_chars,
            Setting::MaxQuestionChars
        )));
    }
    let k = r.k.unwrap_or(s.default_k);
    if k == 0 || k > s.limits.max_k {
        return Err(ApiError::bad_request(format!(
            "k must be in 1..={} ({}), got {k}",
            s.limits.max_k,
            Setting::MaxK
        )));
    }
    if let Some(m) = r.min_score.filter(|m| !(0.0..=1.0).contains(m)) {
        return Err(ApiError::bad_request(format!(
            "min_score must be in 0..=1 (the results' score scale), got {m}"
        )));
    }
    let filter = match &r.filter {
        serde_json::Value::Null => s.search.filter.clone(),
        w => {
            crate::search::Filter::from_json(w).map_err(|e| ApiError::bad_request(e.to_string()))?
        }
    };
    let config = SearchConfig {
        top_k: k,
        filter,
        explain: r.explain,
        min_score: r.min_score.or(s.search.min_score),
        exact: r.exact || s.search.exact,
        ..s.search.clone()
    };
    let engine = s.engine.clone();
    let t = Instant::now();
    let ((answers, timings), question) = blocking(s, move || {
        engine.ask_timed(&question, &config).map(|a| (a, question))
    })
    .await?;
    let took = t.elapsed().as_secs_f64() * 1e3;
    let mut r = json_response(
        StatusCode::OK,
        &Reply {
            question: &question,
            answers: &answers,
        },
    );
    let timing = format!(
        "engine;dur={took:.2}, embed;dur={:.2}, retrieve;dur={:.2}",
        timings.embed_ms, timings.retrieve_ms
    );
    if let Ok(v) = HeaderValue::from_str(&timing) {
        r.headers_mut().insert("server-timing", v);
    }
    Ok(r)
}

/// Runs engine work within the bounds ([`Places::run`]).
async fn blocking<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    s.places.run(f).await
}

/// Keeps the engine on the newest generation: checks `CURRENT` every
/// `every`, switches when it names another generation that opens cleanly,
/// and keeps answering from the current one (with one warning) when not.
async fn follow_generations(engine: Arc<Engine>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = String::new();
    loop {
        tick.tick().await;
        let e = engine.clone();
        let mut last = std::mem::take(&mut last_error);
        last_error = tokio::task::spawn_blocking(move || {
            e.follow(&mut last);
            last
        })
        .await
        .unwrap_or_default();
    }
}

/// `--watch`: updates the index when the data folder changes, with a model
/// of its own (loaded for the update, dropped after), so questions keep
/// their model meanwhile. [`follow_generations`] then switches to it.
fn watch_data(engine: Arc<Engine>, every: Duration, load: ModelLoader) {
    let mut last_error = String::new();
    loop {
        std::thread::sleep(every);
        let options = engine.options().clone();
        let manifest = engine.snapshot().manifest.clone();
        let result = engine::file_freshness(&options.data_dir, &manifest).and_then(|f| {
            if f.is_fresh() {
                return Ok(());
            }
            log::info!(
                "{} changed (files: {}): updating the index",
                options.data_dir.display(),
                f.files
            );
            let mut model = load()?;
            let config = IndexConfig::kept_from(&manifest);
            let (summary, warnings) =
                engine::build_index(&options, model.as_mut(), &config, &mut NoProgress)?;
            for w in &warnings {
                log::warn!("{}/{w}", options.data_dir.display());
            }
            log::info!(
                "index updated: {} sentences embedded, generation {}",
                summary.embedded,
                summary.generation
            );
            engine.refresh().map(drop)
        });
        match result {
            Ok(()) => last_error.clear(),
            Err(e) if e.kind() == ErrorKind::Busy => {}
            Err(e) => {
                let text = e.to_string();
                if text != last_error {
                    log::warn!(
                        "cannot update the index ({text}): still answering from the current one"
                    );
                    last_error = text;
                }
            }
        }
    }
}

/// A bound server, not yet answering: [`Server::addr`] is known (port 0
/// picks a free one), [`Server::run`] answers until Ctrl-C or SIGTERM.
pub struct Server {
    listener: tokio::net::TcpListener,
    runtime: tokio::runtime::Runtime,
    engine: Arc<Engine>,
    options: ServeOptions,
}

impl Server {
    /// Binds `addr` for `engine`. The runtime's blocking pool has as many
    /// threads as the machine has cores.
    pub fn bind(engine: Engine, addr: SocketAddr, options: ServeOptions) -> crate::Result<Server> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores.min(4))
            .max_blocking_threads(cores.max(2))
            .enable_all()
            .build()
            .map_err(|e| crate::Error::io("starting", "<runtime>", e))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| crate::Error::Usage(format!("cannot listen on {addr}: {e}")))?;
        Ok(Server {
            listener,
            runtime,
            engine: Arc::new(engine),
            options,
        })
    }

    /// The address bound.
    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("invariant: a bound listener has an address")
    }

    /// Answers until Ctrl-C or SIGTERM, then finishes the requests in flight.
    pub fn run(self) -> crate::Result<()> {
        let addr = self.addr();
        let Server {
            listener,
            runtime,
            engine,
            mut options,
        } = self;
        let app = router(engine.clone(), addr, &options);
        if let Some((every, load)) = options.watch.take() {
            let engine = engine.clone();
            std::thread::Builder::new()
                .name("qasearch-watch".into())
                .spawn(move || watch_data(engine, every, load))
                .map_err(|e| crate::Error::io("starting", "<watch thread>", e))?;
        }
        let bounds = listen::Bounds {
            max_connections: listen::within_file_limit(options.limits.max_connections.max(1)),
            header_timeout: options.limits.header_timeout,
        };
        runtime.block_on(async move {
            tokio::spawn(follow_generations(engine, options.refresh_every));
            listen::serve(listener, app, bounds, shutdown()).await;
        });
        Ok(())
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    log::info!("stopping: finishing the requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_policy_names_the_inline_script_and_style_only() {
        let p = page::get();
        assert!(p.html.contains("<script>") && !p.html.contains("/*SCRIPT*/"));
        assert!(!p.html.contains("http://") && !p.html.contains("https://"));
        assert_eq!(p.policy.matches("'sha256-").count(), 2);
        assert!(p.policy.contains("default-src 'none'"));
    }

    #[test]
    fn host_names_are_checked_with_the_port() {
        let loopback = Hosts::new("127.0.0.1:8080".parse().unwrap(), &[]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(loopback.allows(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example:8080",
            "localhost:8081",
            "localhost",
            "127.0.0.1.evil.example:8080",
            "10.0.0.1:8080",
        ] {
            assert!(!loopback.allows(bad), "{bad}");
        }
        assert!(loopback.allows_origin("http://localhost:8080"));
        assert!(!loopback.allows_origin("http://evil.example:8080"));
        assert!(!loopback.allows_origin("null"));
        let named = Hosts::new("10.1.2.3:80".parse().unwrap(), &["qa.internal".into()]);
        assert!(named.allows("qa.internal") && named.allows("10.1.2.3:80"));
        assert!(!named.allows("localhost:80"));
        let any = Hosts::new("0.0.0.0:9000".parse().unwrap(), &[]);
        assert!(any.allows("192.168.1.20:9000") && any.allows("[fe80::1]:9000"));
        assert!(!any.allows("rebind.example:9000"));
    }
}
