//! `qasearch mcp`: the engine as a Model Context Protocol server over stdio,
//! so an assistant can search the corpus.
//!
//! MCP over stdio is JSON-RPC 2.0, one message a line. Three requests
//! matter: `initialize`, `tools/list` and `tools/call` (plus `ping`); the one
//! tool, `ask`, returns what `ask --json` prints, as structured content and
//! as text. The protocol is small enough that a hand-written loop over
//! `serde_json` is clearer than an SDK and its async runtime; it follows the
//! 2025-06-18 revision and accepts a client's older one.

use std::io::{self, BufRead, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::engine::Engine;
use crate::safe_fs::{read_line, Line};
use crate::search::{Reply, SearchConfig};

/// Protocol revisions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];

/// Most results one call may ask for.
pub const MAX_K: u64 = 50;

/// Longest message line, in bytes; a longer one is answered -32600 and
/// skipped without being held in memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// How long a tool call waits for an index still being built before it
/// says so (the assistant may call again).
pub const BUILD_WAIT: Duration = Duration::from_secs(10);

/// JSON-RPC error codes.
mod code {
    pub const PARSE: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
}

/// The engine an MCP session answers from, opened in the background so
/// `initialize` is answered at once however long a first build takes.
pub struct Loading {
    slot: Mutex<Slot>,
    changed: Condvar,
}

enum Slot {
    Building(Instant),
    Ready(Arc<Engine>),
    Failed(String),
}

impl Loading {
    /// An engine being opened (give it with [`Loading::set`]).
    pub fn new() -> Arc<Loading> {
        Arc::new(Loading {
            slot: Mutex::new(Slot::Building(Instant::now())),
            changed: Condvar::new(),
        })
    }

    /// An engine already open.
    pub fn ready(engine: Engine) -> Arc<Loading> {
        let l = Loading::new();
        l.set(Ok(engine));
        l
    }

    /// The opened engine, or why it could not be opened.
    pub fn set(&self, engine: crate::Result<Engine>) {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        *slot = match engine {
            Ok(e) => Slot::Ready(Arc::new(e)),
            Err(e) => Slot::Failed(e.to_string()),
        };
        self.changed.notify_all();
    }

    /// The engine, waiting up to `wait` for it; otherwise what to tell the
    /// client.
    fn get(&self, wait: Duration) -> Result<Arc<Engine>, String> {
        let deadline = Instant::now() + wait;
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match &*slot {
                Slot::Ready(e) => return Ok(e.clone()),
                Slot::Failed(why) => return Err(format!("the index cannot be opened: {why}")),
                Slot::Building(since) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(format!(
                            "the index is being built ({:.0} s so far): call again in a little while",
                            since.elapsed().as_secs_f64()
                        ));
                    }
                    slot = self
                        .changed
                        .wait_timeout(slot, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }
}

/// Answers requests from `input` on `output` until `input` ends. Every
/// line gets its reply (or none, for a notification), whatever it holds:
/// bytes that are not UTF-8, a line over [`MAX_LINE_BYTES`], a batch or a
/// scalar get a JSON-RPC error and the session goes on.
pub fn serve(
    engine: &Loading,
    search: &SearchConfig,
    mut input: impl BufRead,
    mut output: impl Write,
) -> io::Result<()> {
    let mut last_refresh_error = String::new();
    while let Some(line) = read_line(&mut input, MAX_LINE_BYTES)? {
        let reply = match line {
            Line::TooLong(n) => Some(error(
                Value::Null,
                code::INVALID_REQUEST,
                format!("message of {n} bytes or more, over the {MAX_LINE_BYTES} allowed"),
            )),
            Line::Bytes(bytes) => match String::from_utf8(bytes) {
                Err(e) => Some(error(
                    Value::Null,
                    code::PARSE,
                    format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
                )),
                Ok(text) if text.trim().is_empty() => None,
                Ok(text) => {
                    follow(engine, &mut last_refresh_error);
                    handle(engine, search, &text)
                }
            },
        };
        if let Some(reply) = reply {
            serde_json::to_writer(&mut output, &reply)?;
            output.write_all(b"\n")?;
            output.flush()?;
        }
    }
    Ok(())
}

/// Switches to the newest generation before a message, as `serve` does on
/// its timer (reading `CURRENT` costs microseconds); keeps the current one,
/// with one warning, when the new one cannot be opened.
fn follow(engine: &Loading, last_error: &mut String) {
    if let Ok(engine) = engine.get(Duration::ZERO) {
        engine.follow(last_error);
    }
}

/// One message in, at most one reply out (notifications get none).
pub fn handle(engine: &Loading, search: &SearchConfig, line: &str) -> Option<Value> {
    let message: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Some(error(Value::Null, code::PARSE, format!("not JSON: {e}"))),
    };
    let Value::Object(_) = message else {
        let what = if message.is_array() {
            "a batch: send one message a line (MCP has no batches since 2025-06-18)"
        } else {
            "not a JSON-RPC message: send an object"
        };
        return Some(error(Value::Null, code::INVALID_REQUEST, what.into()));
    };
    let id = message.get("id").cloned();
    if let Some(bad) = id.as_ref().filter(|i| !(i.is_string() || i.is_number())) {
        return Some(error(
            Value::Null,
            code::INVALID_REQUEST,
            format!("an id must be a string or a number, got {bad}"),
        ));
    }
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        // A response to us (we send no requests) or garbage.
        return id.map(|id| error(id, code::INVALID_REQUEST, "no method".into()));
    };
    let Some(id) = id else {
        // notifications/initialized, notifications/cancelled, …: nothing to say.
        return None;
    };
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    let result = match method {
        "initialize" => Ok(initialize(engine, &params)),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": [ask_tool()] })),
        "tools/call" => call(engine, search, &params),
        other => Err((
            code::METHOD_NOT_FOUND,
            format!("unknown method {:?}", crate::corpus::excerpt(other, 80)),
        )),
    };
    Some(match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => error(id, code, message),
    })
}

fn error(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Answered at once, also while the index is being built.
fn initialize(engine: &Loading, params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(PROTOCOL_VERSIONS[0]);
    let size = match engine.get(Duration::ZERO) {
        Ok(e) => {
            let h = e.health();
            let documents = crate::error::count(h.documents, "document", "documents");
            format!(
                "{documents}, {}",
                crate::error::count(h.pairs, "Q&A pair", "Q&A pairs")
            )
        }
        Err(_) => "its index is being opened".into(),
    };
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "qasearch", "version": env!("CARGO_PKG_VERSION") },
        "instructions": format!(
            "Searches a local corpus of questions and answers ({size}). \
             Call `ask` with a question; when `answered` is false the corpus has no confident answer: say so rather than use the closest pairs."
        ),
    })
}

fn ask_tool() -> Value {
    json!({
        "name": "ask",
        "title": "Ask the Q&A corpus",
        "description": "Finds the stored question-and-answer pairs that best answer a question. Each result has the stored question, the full answer, the sentence that matched (passage), its source document and line, and a score. `answered` is false when no pair is a confident answer.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "question": { "type": "string", "description": "The question, in natural language." },
                "k": { "type": "integer", "minimum": 1, "maximum": MAX_K, "default": 3, "description": "How many pairs to return." },
                "where": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Only pairs whose metadata fields have these values (case ignored), e.g. {\"category\": \"billing\"}." }
            },
            "required": ["question"],
            "additionalProperties": false
        }
    })
}

/// `tools/call`: protocol errors for a malformed call, a tool result with
/// `isError` for a question the engine cannot answer.
fn call(engine: &Loading, search: &SearchConfig, params: &Value) -> Result<Value, (i64, String)> {
    let invalid = |m: String| (code::INVALID_PARAMS, m);
    match params.get("name").and_then(Value::as_str) {
        Some("ask") => {}
        Some(other) => {
            return Err(invalid(format!(
                "unknown tool {other:?}: the tool is `ask`"
            )))
        }
        None => return Err(invalid("no tool name".into())),
    }
    let args = params.get("arguments").cloned().unwrap_or(json!({}));
    let Some(question) = args.get("question").and_then(Value::as_str) else {
        return Err(invalid("`question` (a string) is required".into()));
    };
    let k = match args.get("k") {
        None | Some(Value::Null) => search.top_k as u64,
        Some(v) => match v.as_u64() {
            Some(k) if (1..=MAX_K).contains(&k) => k,
            _ => {
                return Err(invalid(format!(
                    "`k` must be an integer in 1..={MAX_K}, got {v}"
                )))
            }
        },
    };
    let filter = match args.get("where") {
        None => search.filter.clone(),
        Some(w) => crate::search::Filter::from_json(w).map_err(|e| invalid(e.to_string()))?,
    };
    let config = SearchConfig {
        top_k: k as usize,
        filter,
        ..search.clone()
    };
    let question = question.trim();
    let chars = question.chars().count();
    let max_chars = crate::serve::Limits::default().max_question_chars;
    if chars > max_chars {
        return Err(invalid(format!(
            "the question is {chars} characters long, over {max_chars} (as for `serve`)"
        )));
    }
    let engine = match engine.get(BUILD_WAIT) {
        Ok(e) => e,
        Err(why) => return Ok(tool_error(why)),
    };
    Ok(match engine.ask(question, &config) {
        Ok(answers) => {
            let reply = Reply {
                question,
                answers: &answers,
            };
            // Through text, so scores read as `ask --json` prints them (an
            // f32's shortest form, not its f64 widening).
            let structured: Value = serde_json::to_string(&reply)
                .and_then(|t| serde_json::from_str(&t))
                .unwrap_or(Value::Null);
            json!({
                "content": [{ "type": "text", "text": text(&reply) }],
                "structuredContent": structured,
                "isError": false,
            })
        }
        Err(e) => tool_error(e.to_string()),
    })
}

/// A tool result that says why there is no answer.
fn tool_error(text: String) -> Value {
    json!({
        "content": [{ "type": "text", "text": text }],
        "isError": true,
    })
}

/// The answers as an assistant reads them.
fn text(reply: &Reply<'_>) -> String {
    let a = reply.answers;
    if a.results.is_empty() {
        return "No answer found: the corpus (or the filter's part of it) is empty.".into();
    }
    let mut out = String::new();
    if !a.answered {
        out.push_str(&format!(
            "No confident answer (best score {:.3}, below {:.3}). The closest pairs, which do not answer the question:\n",
            a.best, a.min_score
        ));
    }
    for r in &a.results {
        let heading = match r.kind {
            "passage" => "From the document's passage".to_string(),
            _ => format!("Q: {}", r.question),
        };
        // Below the threshold while the best is above it: for reference.
        let below = if a.answered && !r.confident {
            ", below the threshold: may not answer the question"
        } else {
            ""
        };
        out.push_str(&format!(
            "\n{}. {heading}\n   A: {}\n   Matched: {}\n   Source: {}:{} (score {:.3}{below})\n",
            r.rank, r.answer, r.passage, r.doc, r.line, r.score
        ));
        if !r.meta.is_empty() {
            out.push_str(&format!("   Metadata: {}\n", Value::Object(r.meta.clone())));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::{corpus, hash};

    fn engine(dir: &std::path::Path) -> Arc<Loading> {
        Loading::ready(Engine::open(&corpus(dir), hash).unwrap())
    }

    /// The replies of a session whose input is `lines`, one message a line.
    fn session(engine: &Loading, lines: &[Value]) -> Vec<Value> {
        let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
        raw_session(engine, input.as_bytes())
    }

    /// The replies of a session fed `input` as it is.
    fn raw_session(engine: &Loading, input: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        serve(engine, &SearchConfig::default(), input, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn a_session_initializes_lists_and_calls() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let replies = session(
            &engine,
            &[
                json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
                json!({"jsonrpc": "2.0", "id": "c", "method": "tools/call", "params": {"name": "ask", "arguments": {"question": "day pass price", "k": 1}}}),
            ],
        );
        assert_eq!(replies.len(), 3, "the notification gets no reply");
        assert_eq!(replies[0]["result"]["protocolVersion"], "2025-03-26");
        assert_eq!(replies[1]["result"]["tools"][0]["name"], "ask");
        assert_eq!(replies[2]["id"], "c");
        let s = &replies[2]["result"]["structuredContent"];
        assert_eq!(s["results"][0]["question"], "How much is a day pass?");
        assert_eq!(s["results"].as_array().unwrap().len(), 1);
        let text = replies[2]["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("A day pass costs five euros."), "{text}");
    }

    #[test]
    fn bad_messages_get_json_rpc_errors_and_the_session_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let input = concat!(
            "{not json\n",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}\n",
            "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"ask\",\"arguments\":{}}}\n",
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"ask\",\"arguments\":{\"question\":\"x\",\"k\":0}}}\n",
            "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"ask\",\"arguments\":{\"question\":\"   \"}}}\n",
            "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}\n",
        );
        let replies = raw_session(&engine, input.as_bytes());
        assert_eq!(replies[0]["error"]["code"], code::PARSE);
        assert_eq!(replies[1]["error"]["code"], code::METHOD_NOT_FOUND);
        assert_eq!(replies[2]["error"]["code"], code::INVALID_PARAMS);
        assert_eq!(replies[3]["error"]["code"], code::INVALID_PARAMS);
        assert_eq!(replies[4]["result"]["isError"], true, "{}", replies[4]);
        assert_eq!(replies[5]["result"], json!({}));
    }

    #[test]
    fn batches_scalars_bad_bytes_and_long_lines_get_errors_with_id_null() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path());
        let mut input = Vec::new();
        input.extend_from_slice(b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]\n");
        input.extend_from_slice(b"42\nnull\n\"x\"\n");
        input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"ping\"}\n");
        input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}\n");
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        input.extend_from_slice(b"\r\n{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\r\n");
        let long = "why ".repeat(400);
        input.extend_from_slice(
            format!("{}\n", json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "ask", "arguments": {"question": long}}})).as_bytes(),
        );
        // The last line has no newline.
        input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}");
        let replies = raw_session(&engine, &input);
        let codes: Vec<&Value> = replies.iter().map(|r| &r["error"]["code"]).collect();
        assert_eq!(replies.len(), 10, "{replies:#?}");
        for (r, code) in replies[..7].iter().zip([
            code::INVALID_REQUEST,
            code::INVALID_REQUEST,
            code::INVALID_REQUEST,
            code::INVALID_REQUEST,
            code::PARSE,
            code::INVALID_REQUEST,
            code::INVALID_REQUEST,
        ]) {
            assert_eq!(r["error"]["code"], code, "{codes:?}");
            assert_eq!(r["id"], Value::Null, "{r}");
        }
        assert_eq!(replies[7]["result"], json!({}), "{}", replies[7]);
        assert_eq!(replies[8]["error"]["code"], code::INVALID_PARAMS);
        assert!(replies[8]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1000"));
        assert_eq!(replies[9]["id"], 9);
    }

    #[test]
    fn initialize_is_answered_while_the_index_is_built_and_calls_wait_for_it() {
        let loading = Loading::new();
        let init = handle(
            &loading,
            &SearchConfig::default(),
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
        )
        .unwrap();
        assert!(init["result"]["instructions"]
            .as_str()
            .unwrap()
            .contains("being opened"));
        let waiting = loading.get(Duration::from_millis(50)).err().unwrap();
        assert!(waiting.contains("being built"), "{waiting}");
        let dir = tempfile::tempdir().unwrap();
        let options = corpus(dir.path());
        let setter = loading.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            setter.set(Engine::open(&options, hash));
        });
        assert!(loading.get(Duration::from_secs(30)).is_ok());
        t.join().unwrap();
        let failed = Loading::new();
        failed.set(Err(crate::Error::Usage("no data".into())));
        let call = handle(
            &failed,
            &SearchConfig::default(),
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask","arguments":{"question":"x"}}}"#,
        )
        .unwrap();
        assert_eq!(call["result"]["isError"], true, "{call}");
        assert!(call["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("no data"));
    }
}
