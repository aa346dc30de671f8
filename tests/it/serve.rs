//! `qasearch serve` and `qasearch mcp` end to end, with the real model: the
//! API against `ask --json`, bad requests, reloads under load, MCP over stdio.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{self, Work};

/// A running `qasearch serve`, stopped (SIGTERM) when dropped.
pub struct Served {
    child: Child,
    pub addr: SocketAddr,
    pub url: String,
}

impl Served {
    pub fn start(w: &Work, extra: &[&str]) -> Served {
        let mut child = w
            .cmd()
            .args(["--quiet", "serve", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("serve printed its URL");
        let url = line.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        Served { child, addr, url }
    }

    /// A request with `Host` set to the bound address (unless given).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("Host: {}\r\n", self.addr));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut raw = head.into_bytes();
        raw.extend_from_slice(body);
        raw_request(self.addr, &raw)
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    pub fn ask(&self, body: &Value) -> Response {
        self.request(
            "POST",
            "/api/ask",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // SAFETY: sending a signal to our own child has no preconditions.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a JSON error of this status and kind.
    pub fn error(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "{self:#?}");
        assert_eq!(self.json()["error"]["kind"], kind, "{self:#?}");
        assert!(self.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}

/// Sends raw bytes, reads the response to the end (the request says close).
pub fn raw_request(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(raw).unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

#[test]
fn the_api_answers_like_ask_and_refuses_bad_requests() {
    let w = Work::seeded();
    w.index_ok();
    let mut questions = util::seed_questions();
    questions.extend(util::rewordings().into_iter().map(|(q, _)| q));
    let unrelated = "How many moons does Neptune have?";
    questions.push(unrelated.to_string());
    let refs: Vec<&str> = questions.iter().map(String::as_str).collect();
    // The CLI's answers, all in one process.
    let cli = w.run_stdin(&["ask", "-k", "1", "--json", "-"], &refs.join("\n"));
    let cli = cli.json_lines();
    assert_eq!(cli.len(), questions.len());

    let s = Served::start(&w, &[]);
    let health = s.get("/api/health");
    assert_eq!(health.status, 200, "{health:#?}");
    let h = health.json();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["documents"], 1);
    assert_eq!(h["pairs"], 6);
    assert!(h["generation"].as_u64().is_some() && h["model"].as_str().is_some());

    for (q, want) in questions.iter().zip(&cli) {
        let r = s.ask(&json!({"question": q, "k": 1}));
        assert_eq!(r.status, 200, "{r:#?}");
        let got = r.json();
        let top = &got["results"][0];
        let cli_top = &want["results"][0];
        for field in ["question", "doc", "line", "passage", "answer", "score"] {
            assert_eq!(top[field], cli_top[field], "{q}: {field}");
        }
        assert_eq!(got["answered"], want["answered"], "{q}");
        // The same fields as `ask --json`, nothing more or less.
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&got), keys(want), "{q}");
        assert!(r
            .header("server-timing")
            .is_some_and(|t| t.starts_with("engine;dur=")));
    }
    let off = s.ask(&json!({"question": unrelated})).json();
    assert_eq!(off["answered"], false, "{off}");

    // GET with a query string, and --explain's data.
    let r = s.get(
        "/api/ask?q=What+is+the+main+goal+of+the+Coalition+of+the+Willing%3F&k=2&explain=true",
    );
    assert_eq!(r.status, 200, "{r:#?}");
    let v = r.json();
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    assert!(v["results"][0]["views"].is_array(), "{v}");

    // Status: what `status --json` says.
    let status = s.get("/api/status").json();
    let cli_status = w.run(&["status", "--json"]).json();
    for field in ["exists", "fresh", "generation", "model", "indexed"] {
        assert_eq!(status[field], cli_status[field], "{field}");
    }

    // Bad requests: each gets its documented error, and the server goes on.
    let json_ct = [("Content-Type", "application/json")];
    let cases: Vec<(Response, u16, &str)> = vec![
        (
            s.request("POST", "/api/ask", &json_ct, b"{\"question\": "),
            400,
            "bad_request",
        ),
        (
            s.request("POST", "/api/ask", &json_ct, b"[1, 2]"),
            400,
            "bad_request",
        ),
        (s.ask(&json!({"question": "   "})), 400, "bad_request"),
        (s.ask(&json!({"question": "x", "k": 0})), 400, "bad_request"),
        (
            s.ask(&json!({"question": "x", "k": 51})),
            400,
            "bad_request",
        ),
        (
            s.ask(&json!({"question": "x", "top_k": 2})),
            400,
            "bad_request",
        ),
        (
            s.ask(&json!({"question": "a ".repeat(800)})),
            400,
            "bad_request",
        ),
        (s.get("/api/ask"), 400, "bad_request"),
        (s.get("/api/ask?q=x&k=many"), 400, "bad_request"),
        (
            s.request("POST", "/api/ask", &json_ct, "x".repeat(100_000).as_bytes()),
            413,
            "payload_too_large",
        ),
        (
            s.request(
                "POST",
                "/api/ask",
                &[("Content-Type", "text/plain")],
                b"{\"question\":\"x\"}",
            ),
            415,
            "unsupported_media_type",
        ),
        (s.get("/api/nothing"), 404, "not_found"),
        (s.get("/index.html"), 404, "not_found"),
        (s.get("/../Cargo.toml"), 404, "not_found"),
        (
            s.request("DELETE", "/api/ask", &[], b""),
            405,
            "method_not_allowed",
        ),
        (
            s.request("POST", "/api/health", &json_ct, b"{}"),
            405,
            "method_not_allowed",
        ),
        (
            s.request("GET", "/api/health", &[("Host", "attacker.example")], b""),
            403,
            "forbidden_host",
        ),
        (
            s.request(
                "GET",
                "/",
                &[("Host", &format!("evil.example:{}", s.addr.port()))],
                b"",
            ),
            403,
            "forbidden_host",
        ),
        (
            s.request(
                "POST",
                "/api/ask",
                &[
                    ("Content-Type", "application/json"),
                    ("Origin", "http://attacker.example"),
                ],
                b"{\"question\":\"x\"}",
            ),
            403,
            "cross_origin",
        ),
        (
            s.request(
                "POST",
                "/api/ask",
                &[
                    ("Content-Type", "application/json"),
                    ("Sec-Fetch-Site", "cross-site"),
                ],
                b"{\"question\":\"x\"}",
            ),
            403,
            "cross_origin",
        ),
    ];
    for (r, status, kind) in &cases {
        r.error(*status, kind);
        assert_eq!(s.get("/api/health").status, 200);
    }
    // The library names each limit as a setting; this binary spells it as
    // the flag that changes it (cli::flag_of).
    for (r, flag) in [
        (s.ask(&json!({"question": "x", "k": 51})), "(--max-k)"),
        (
            s.ask(&json!({"question": "a ".repeat(800)})),
            "(--max-question-chars)",
        ),
        (
            s.request("POST", "/api/ask", &json_ct, "x".repeat(100_000).as_bytes()),
            "(--max-body-bytes)",
        ),
        (
            s.request("GET", "/api/health", &[("Host", "attacker.example")], b""),
            "--allow-host",
        ),
    ] {
        assert!(r.body.contains(flag), "{flag} in {}", r.body);
    }
    // Garbage instead of HTTP, and a client that goes away mid-request.
    let r = raw_request(s.addr, b"\x00\x01NOT HTTP AT ALL\r\n\r\n");
    assert!(r.status == 400 || r.status == 0, "{r:#?}");
    {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.write_all(b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"qu")
            .unwrap();
    }
    // The same origin is fine.
    let same = s.request(
        "POST",
        "/api/ask",
        &[
            ("Content-Type", "application/json"),
            ("Origin", &format!("http://localhost:{}", s.addr.port())),
        ],
        b"{\"question\":\"What is the main goal of the Coalition of the Willing?\"}",
    );
    assert_eq!(same.status, 200, "{same:#?}");
    // The page, with a policy that allows nothing from elsewhere.
    let page = s.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<form id=\"ask\""));
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
}

#[test]
fn requests_over_the_limit_of_concurrency_get_503() {
    let w = Work::seeded();
    w.index_ok();
    let s = Served::start(&w, &["--max-concurrent", "1", "--max-k", "5"]);
    assert_eq!(s.ask(&json!({"question": "x", "k": 6})).status, 400);
    // Eight clients at once against one slot: some are turned away with
    // 503 and Retry-After, none fails otherwise, and all of them end.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    (0..10)
                        .map(|j| {
                            let r = s.ask(&json!({"question": format!("What does the coalition aim for, {i} {j}?")}));
                            if r.status == 503 {
                                assert_eq!(r.header("retry-after"), Some("1"), "{r:#?}");
                                r.error(503, "overloaded");
                            }
                            r.status
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        statuses.iter().all(|&c| c == 200 || c == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200));
    assert_eq!(s.get("/api/health").status, 200);
}

#[test]
fn a_rebuilt_index_answers_within_a_second_and_no_request_fails() {
    let w = Work::seeded();
    w.index_ok();
    let s = Served::start(&w, &[]);
    let generation = s.get("/api/health").json()["generation"].as_u64().unwrap();
    let stop = AtomicBool::new(false);
    let (sent, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let new_question = "Which ferry leaves Lindau harbour before dawn?";
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let r = s.ask(&json!({"question": "What is the main goal of the Coalition of the Willing?"}));
                    sent.fetch_add(1, Ordering::Relaxed);
                    if r.status != 200 || r.json()["results"].as_array().is_none_or(Vec::is_empty) {
                        eprintln!("failed: {r:#?}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        w.write(
            "ferries.txt",
            "Lake ferries.\nWhich ferry leaves Lindau harbour before dawn?\nThe mail boat Hohentwiel leaves Lindau at 5:40 every weekday.\n",
        );
        w.index_ok();
        let switched = Instant::now();
        let mut found = None;
        while switched.elapsed() < Duration::from_secs(5) {
            let r = s.ask(&json!({"question": new_question, "k": 1}));
            if r.json()["results"][0]["doc"] == "ferries.txt" {
                found = Some(switched.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // A damaged next generation: the server keeps answering from this one.
        let index = w.index();
        let current = util::generation_dir(&index);
        let next_gen = s.get("/api/health").json()["generation"].as_u64().unwrap() + 1;
        let damaged = index.join(format!("gen-{next_gen:06}"));
        util::copy_dir(&current, &damaged);
        std::fs::write(damaged.join("vectors.f32"), b"short").unwrap();
        let manifest = std::fs::read(damaged.join("manifest.json")).unwrap();
        let mut m: Value = serde_json::from_slice(&manifest).unwrap();
        m["generation"] = json!(next_gen);
        let bytes = serde_json::to_vec_pretty(&m).unwrap();
        std::fs::write(damaged.join("manifest.json"), &bytes).unwrap();
        std::fs::write(
            index.join("CURRENT"),
            format!("gen-{next_gen:06} {:08x}\n", crc32fast::hash(&bytes)),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(800));
        stop.store(true, Ordering::Relaxed);
        let found = found.expect("the new document was found within 5 s");
        assert!(
            found < Duration::from_secs(1),
            "the new generation answered {found:?} after the index switched"
        );
    });
    assert!(sent.load(Ordering::Relaxed) > 10, "requests were in flight");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed");
    let h = s.get("/api/health").json();
    assert_eq!(h["generation"].as_u64().unwrap(), generation + 1, "{h}");
    let r = s.ask(&json!({"question": new_question, "k": 1})).json();
    assert_eq!(r["results"][0]["doc"], "ferries.txt");
}

#[test]
fn watch_updates_the_index_from_the_data_folder() {
    let w = Work::seeded();
    w.index_ok();
    let s = Served::start(&w, &["--watch", "--watch-interval-ms", "200"]);
    w.write(
        "ferries.txt",
        "Lake ferries.\nWhich ferry leaves Lindau harbour before dawn?\nThe mail boat Hohentwiel leaves Lindau at 5:40 every weekday.\n",
    );
    let t = Instant::now();
    let mut found = false;
    while t.elapsed() < Duration::from_secs(60) && !found {
        let r = s.ask(&json!({"question": "Which ferry leaves Lindau before dawn?", "k": 1}));
        assert_eq!(r.status, 200, "{r:#?}");
        found = r.json()["results"][0]["doc"] == "ferries.txt";
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(found, "--watch indexed the new document");
    assert!(
        w.run(&["status"]).code == 0,
        "the index is fresh after the update"
    );
}

#[test]
fn mcp_over_stdio_answers_like_ask() {
    let w = Work::seeded();
    w.index_ok();
    let question = "What does the coalition aim to provide?";
    let cli = w.run(&["ask", "--json", "-k", "2", question]).json();
    let mut child = w
        .cmd()
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut roundtrip = |message: Value| -> Value {
        writeln!(input, "{message}").unwrap();
        input.flush().unwrap();
        if message.get("id").is_none() {
            return Value::Null; // a notification: no reply
        }
        let mut line = String::new();
        output.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    };
    let init = roundtrip(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}}),
    );
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "qasearch");
    assert!(init["result"]["capabilities"]["tools"].is_object());
    // A notification: no reply (the next line read is tools/list's).
    roundtrip(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let list = roundtrip(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    assert_eq!(list["id"], 2);
    let tool = &list["result"]["tools"][0];
    assert_eq!(tool["name"], "ask");
    assert_eq!(tool["inputSchema"]["required"], json!(["question"]));
    let call = roundtrip(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "ask", "arguments": {"question": question, "k": 2}}}),
    );
    let result = &call["result"];
    assert_eq!(result["isError"], false, "{call}");
    assert_eq!(result["structuredContent"]["results"], cli["results"]);
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains(cli["results"][0]["answer"].as_str().unwrap()),
        "{text}"
    );
    let bad = roundtrip(
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "delete_everything"}}),
    );
    assert_eq!(bad["error"]["code"], -32602);
    drop(input);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "mcp ends cleanly when stdin closes: {status:?}"
    );
}

#[test]
fn bad_serve_flags_are_usage_errors() {
    let w = Work::seeded();
    for (args, needle) in [
        (&["serve", "--max-k", "0"][..], "--max-k"),
        (&["serve", "--max-k", "20000"][..], "--max-k"),
        (
            &["serve", "--request-timeout-ms", "0"][..],
            "--request-timeout-ms",
        ),
        (&["serve", "--max-body-bytes", "0"][..], "--max-body-bytes"),
        (&["serve", "--sessions", "0"][..], "--sessions"),
        (&["serve", "--watch", "--no-update"][..], "--no-update"),
    ] {
        let r = w.run(args);
        assert_eq!(r.code, 2, "{args:?}: {r:#?}");
        assert!(r.stderr.contains(needle), "{args:?}: {r:#?}");
    }
    // A port in use: refused with the port named, the index untouched.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    w.index_ok();
    let before = crate::util::files_under(&w.index());
    w.run(&["serve", "--port", &port]).fails(2, "cannot listen");
    assert_eq!(crate::util::files_under(&w.index()), before);
}
