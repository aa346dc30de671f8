//! Load on `qasearch serve`, loopback only, bounded in time and count:
//! 1, 8 and 32 clients on keep-alive connections asking the bundled corpus's
//! questions (and rewordings, and one it cannot answer) over HTTP; requests/s,
//! p50, p99 and errors for each, the server's RSS after its first 100 and
//! after 10,000 requests, and the cold CLI `ask` beside them.
//!
//! cargo bench --bench serve -- [--seconds 5] [--data DIR] [--sessions N] [--threads N] [--bin FILE]
//!
//! The binary is copied first, so a build during the run cannot change it;
//! `--bin` benches another build of qasearch instead (an earlier commit's,
//! to compare in one sitting).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn opt(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// One keep-alive HTTP/1.1 connection.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
}

impl Client {
    fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
            host: addr.to_string(),
        })
    }

    /// POSTs a question; the status and body.
    fn ask(&mut self, question: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let body = serde_json::json!({"question": question, "k": 3}).to_string();
        write!(
            self.writer,
            "POST /api/ask HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        )?;
        let mut status = 0;
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if status == 0 {
                status = l
                    .split(' ')
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
            } else if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, body))
    }
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn pick(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p / 100.0 * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

fn questions(data: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(data).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "txt") {
            let text = std::fs::read_to_string(&p).unwrap();
            out.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| l.ends_with('?'))
                    .map(String::from),
            );
        }
    }
    if let Ok(tsv) = std::fs::read_to_string(data.join("../eval/questions.tsv")) {
        out.extend(
            tsv.lines()
                .skip(1)
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .filter_map(|l| l.split('\t').next())
                .map(String::from),
        );
    }
    out.push("How many moons does Neptune have?".into());
    out
}

struct Round {
    clients: usize,
    requests: usize,
    errors: usize,
    seconds: f64,
    ms: Vec<f64>,
}

/// `clients` threads, each on its own connection, for `seconds` (or `cap` requests in all).
fn round(addr: SocketAddr, clients: usize, seconds: f64, cap: usize, qs: &[String]) -> Round {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let per_client = cap.div_ceil(clients);
    let results: Vec<(Vec<f64>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                s.spawn(move || {
                    let mut ms = Vec::new();
                    let mut errors = 0;
                    let mut client = Client::connect(addr).ok();
                    let mut i = c;
                    while Instant::now() < deadline && ms.len() + errors < per_client {
                        let q = &qs[i % qs.len()];
                        i += clients;
                        let t = Instant::now();
                        let ok = match client.as_mut().map(|cl| cl.ask(q)) {
                            Some(Ok((200, _))) => true,
                            Some(Ok(_)) => false,
                            _ => {
                                client = Client::connect(addr).ok();
                                false
                            }
                        };
                        if ok {
                            ms.push(t.elapsed().as_secs_f64() * 1e3);
                        } else {
                            errors += 1;
                        }
                    }
                    (ms, errors)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let mut ms: Vec<f64> = results
        .iter()
        .flat_map(|(m, _)| m.iter().copied())
        .collect();
    ms.sort_by(f64::total_cmp);
    Round {
        clients,
        requests: ms.len(),
        errors: results.iter().map(|(_, e)| e).sum(),
        seconds,
        ms,
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let seconds: f64 = opt(&args, "--seconds").map_or(5.0, |s| s.parse().unwrap());
    let data = opt(&args, "--data").map_or_else(|| repo().join("data"), PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("qasearch");
    let source = opt(&args, "--bin").unwrap_or_else(|| env!("CARGO_BIN_EXE_qasearch").into());
    std::fs::copy(&source, &bin).unwrap();
    let index = tmp.path().join("index");
    let cmd = || {
        let mut c = Command::new(&bin);
        c.env("QASEARCH_DATA", &data)
            .env("QASEARCH_INDEX", &index)
            .env(
                "QASEARCH_MODELS",
                std::env::var_os("QASEARCH_MODELS")
                    .unwrap_or_else(|| repo().join("models").into_os_string()),
            )
            .arg("--quiet");
        c
    };
    let built = cmd().args(["index", "--json"]).output().unwrap();
    assert!(built.status.success(), "{built:?}");
    let qs = questions(&data);

    // The cold CLI: a process per question (the median of 5).
    let mut cold: Vec<f64> = (0..5)
        .map(|i| {
            let t = Instant::now();
            let o = cmd()
                .args(["ask", "--json", &qs[i % qs.len()]])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(o.code() == Some(0) || o.code() == Some(10));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    cold.sort_by(f64::total_cmp);

    // --sessions N / --threads N go to the server.
    let mut serve_args = vec!["serve", "--port", "0", "--no-update"];
    let sessions = opt(&args, "--sessions");
    if let Some(n) = &sessions {
        serve_args.extend(["--sessions", n.as_str()]);
    }
    let threads = opt(&args, "--threads");
    if let Some(n) = &threads {
        serve_args.extend(["--threads", n.as_str()]);
    }
    let mut child = cmd()
        .args(&serve_args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid = child.id();
    let _server = Server(child);
    let addr: SocketAddr = line
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let first = round(addr, 1, 60.0, 100, &qs);
    assert_eq!(first.errors, 0, "warm-up failed");
    let rss_100 = rss_mb(pid);
    let mut total = first.requests;
    let mut rounds = Vec::new();
    for clients in [1, 8, 32] {
        let r = round(addr, clients, seconds, usize::MAX, &qs);
        total += r.requests + r.errors;
        rounds.push(r);
    }
    while total < 10_000 {
        let r = round(addr, 8, 60.0, 10_000 - total, &qs);
        total += r.requests + r.errors;
    }
    let rss_10k = rss_mb(pid);

    println!(
        "cold CLI ask (process per question): median {:.0} ms (min {:.0})",
        cold[2], cold[0]
    );
    println!("| clients | requests | errors | requests/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    for r in &rounds {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} |",
            r.clients,
            r.requests,
            r.errors,
            r.requests as f64 / r.seconds,
            pick(&r.ms, 50.0),
            pick(&r.ms, 99.0)
        );
    }
    println!(
        "server RSS: {rss_100:.1} MB after 100 requests, {rss_10k:.1} MB after {total} ({:+.1}%)",
        (rss_10k / rss_100 - 1.0) * 100.0
    );
    println!(
        "{}",
        serde_json::json!({
            "cold_ask_ms_median": cold[2],
            "rounds": rounds.iter().map(|r| serde_json::json!({
                "clients": r.clients,
                "requests": r.requests,
                "errors": r.errors,
                "requests_per_s": r.requests as f64 / r.seconds,
                "p50_ms": pick(&r.ms, 50.0),
                "p99_ms": pick(&r.ms, 99.0),
            })).collect::<Vec<_>>(),
            "rss_mb_after_100": rss_100,
            "rss_mb_after_10k": rss_10k,
            "requests": total,
        })
    );
}
