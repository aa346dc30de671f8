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

use serde_json::{json, Value};

use crate::engine::Engine;
use crate::search::{Reply, SearchConfig};

/// Protocol revisions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];

/// Most results one call may ask for.
pub const MAX_K: u64 = 50;

/// JSON-RPC error codes.
mod code {
    pub const PARSE: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
}

/// Answers requests from `input` on `output` until `input` ends.
pub fn serve(
    engine: &Engine,
    search: &SearchConfig,
    input: impl BufRead,
    mut output: impl Write,
) -> io::Result<()> {
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(reply) = handle(engine, search, &line) {
            serde_json::to_writer(&mut output, &reply)?;
            output.write_all(b"\n")?;
            output.flush()?;
        }
    }
    Ok(())
}

/// One message in, at most one reply out (notifications get none).
pub fn handle(engine: &Engine, search: &SearchConfig, line: &str) -> Option<Value> {
    let message: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Some(error(Value::Null, code::PARSE, format!("not JSON: {e}"))),
    };
    let id = message.get("id").cloned();
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
        other => Err((code::METHOD_NOT_FOUND, format!("unknown method {other:?}"))),
    };
    Some(match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => error(id, code, message),
    })
}

fn error(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn initialize(engine: &Engine, params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(PROTOCOL_VERSIONS[0]);
    let h = engine.health();
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "qasearch", "version": env!("CARGO_PKG_VERSION") },
        "instructions": format!(
            "Searches a local corpus of questions and answers ({} documents, {} Q&A pairs). \
             Call `ask` with a question; when `answered` is false the corpus has no confident answer: say so rather than use the closest pairs.",
            h.documents, h.pairs
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
                "k": { "type": "integer", "minimum": 1, "maximum": MAX_K, "default": 3, "description": "How many pairs to return." }
            },
            "required": ["question"],
            "additionalProperties": false
        }
    })
}

/// `tools/call`: protocol errors for a malformed call, a tool result with
/// `isError` for a question the engine cannot answer.
fn call(engine: &Engine, search: &SearchConfig, params: &Value) -> Result<Value, (i64, String)> {
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
    let config = SearchConfig {
        top_k: k as usize,
        ..*search
    };
    let question = question.trim();
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
        Err(e) => json!({
            "content": [{ "type": "text", "text": e.to_string() }],
            "isError": true,
        }),
    })
}

/// The answers as an assistant reads them.
fn text(reply: &Reply<'_>) -> String {
    let a = reply.answers;
    if a.results.is_empty() {
        return "No answer found: the corpus is empty.".into();
    }
    let mut out = String::new();
    if !a.answered {
        out.push_str(&format!(
            "No confident answer (best score {:.3}, below {:.3}). The closest pairs, which do not answer the question:\n",
            a.best, a.min_score
        ));
    }
    for r in &a.results {
        out.push_str(&format!(
            "\n{}. Q: {}\n   A: {}\n   Matched: {}\n   Source: {}:{} (score {:.3})\n",
            r.rank, r.question, r.answer, r.passage, r.doc, r.line, r.score
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::{corpus, hash};

    fn engine(dir: &std::path::Path) -> Engine {
        Engine::open(&corpus(dir), hash).unwrap()
    }

    fn session(engine: &Engine, lines: &[Value]) -> Vec<Value> {
        let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let mut out = Vec::new();
        serve(engine, &SearchConfig::default(), input.as_bytes(), &mut out).unwrap();
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
        let mut out = Vec::new();
        serve(
            &engine,
            &SearchConfig::default(),
            input.as_bytes(),
            &mut out,
        )
        .unwrap();
        let replies: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(replies[0]["error"]["code"], code::PARSE);
        assert_eq!(replies[1]["error"]["code"], code::METHOD_NOT_FOUND);
        assert_eq!(replies[2]["error"]["code"], code::INVALID_PARAMS);
        assert_eq!(replies[3]["error"]["code"], code::INVALID_PARAMS);
        assert_eq!(replies[4]["result"]["isError"], true, "{}", replies[4]);
        assert_eq!(replies[5]["result"], json!({}));
    }
}
