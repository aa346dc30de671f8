//! The PostgreSQL store when the database misbehaves: a listener that never
//! speaks, a server that freezes mid-session, text it cannot hold, tables
//! emptied or dropped behind our back, an update it refuses.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::util::{pg_client, pg_database, Work};

/// The Unix socket the tests' server listens on.
fn socket_of(url: &str) -> std::path::PathBuf {
    let dir = url.split("host=").nth(1).unwrap();
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(".s.PGSQL.") && !n.ends_with(".lock")
        })
        .expect("the server's socket")
}

/// A TCP proxy to the tests' server that can freeze: while frozen it
/// forwards nothing either way and keeps every connection open, as a
/// server stopped with SIGSTOP (or a wedged network) does.
struct Proxy {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    fn start(url: &str) -> Proxy {
        let socket = socket_of(url);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let f = frozen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::os::unix::net::UnixStream::connect(&socket) else {
                    continue;
                };
                let pump = |mut from: Box<dyn Read + Send>,
                            mut to: Box<dyn Write + Send>,
                            f: Arc<AtomicBool>| {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            while f.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    while f.load(Ordering::SeqCst) {
                                        std::thread::sleep(Duration::from_millis(20));
                                    }
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                    });
                };
                pump(
                    Box::new(client.try_clone().unwrap()),
                    Box::new(server.try_clone().unwrap()),
                    f.clone(),
                );
                pump(Box::new(server), Box::new(client), f.clone());
            }
        });
        Proxy { port, frozen }
    }

    fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn freeze(&self, on: bool) {
        self.frozen.store(on, Ordering::SeqCst);
    }
}

#[test]
fn a_server_that_never_answers_fails_within_the_deadline() {
    let w = Work::seeded();
    // Connections are accepted by the kernel and never answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    for (url, within) in [
        (format!("postgresql://u:pw@127.0.0.1:{port}/db"), 9),
        (
            format!("postgresql://u:pw@127.0.0.1:{port}/db?connect_timeout=2"),
            5,
        ),
    ] {
        let t = Instant::now();
        let r = w.run(&["--store", &url, "status"]);
        assert_eq!(r.code, 11, "{r:#?}");
        assert!(r.stderr.contains("no reply from the server"), "{r:#?}");
        assert!(
            t.elapsed() < Duration::from_secs(within),
            "{:?}",
            t.elapsed()
        );
    }
    drop(silent);

    // A server that freezes after answering: a new command fails in time;
    // a running server answers 503 in time, and again once it thaws.
    let base = pg_database("qa_frozen");
    let proxy = Proxy::start(&base);
    let url = proxy.url("qa_frozen");
    w.run(&["--store", &url, "index"]).ok();
    let served = super::serve::Served::start(&w, &["--store", &url, "--no-update"]);
    let ask = json!({"question": "What is the main goal of the coalition?"});
    assert_eq!(served.ask(&ask).status, 200);
    proxy.freeze(true);
    let t = Instant::now();
    let r = w.run_env(
        &[("QASEARCH_STORE_TIMEOUT", std::ffi::OsStr::new("2"))],
        &["--store", &url, "ask", "--no-update", "x"],
    );
    assert_eq!(r.code, 11, "{r:#?}");
    assert!(t.elapsed() < Duration::from_secs(12), "{:?}", t.elapsed());
    let t = Instant::now();
    let frozen = served.ask(&ask);
    assert!(frozen.status == 503 || frozen.status == 504, "{frozen:#?}");
    assert!(t.elapsed() < Duration::from_secs(40), "{:?}", t.elapsed());
    proxy.freeze(false);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = served.ask(&ask);
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never answered again: {r:#?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn text_the_database_cannot_hold_and_tables_gone_behind_our_back() {
    let w = Work::seeded();
    let url = pg_database("qa_nul");
    w.write(
        "nul.txt",
        "Bytes.\nWhat does a zero byte look like?\nIt looks like \u{0} in the file.\n",
    );
    let r = w.run(&["--store", &url, "index", "--json"]);
    r.ok();
    let a = w.run(&[
        "--store",
        &url,
        "ask",
        "--no-update",
        "--json",
        "-k",
        "1",
        "What does a zero byte look like?",
    ]);
    a.ok();
    assert_eq!(
        a.json()["results"][0]["answer"],
        "It looks like \u{0} in the file."
    );
    let mut c = pg_client("qa_nul");
    let shown: String = c
        .query_one(
            "SELECT answer FROM qasearch_pairs WHERE question = 'What does a zero byte look like?'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(shown, "It looks like \u{FFFD} in the file.");
    w.run(&["--store", &url, "status"]).ok();

    // Rows deleted behind our back: status says damaged, not fresh.
    c.batch_execute("DELETE FROM qasearch_rows WHERE id IN (SELECT id FROM qasearch_rows LIMIT 3)")
        .unwrap();
    let s = w.run(&["--store", &url, "status"]);
    assert_eq!(s.code, 4, "{s:#?}");
    assert!(s.stderr.contains("qasearch_rows holds"), "{s:#?}");
    c.batch_execute("DROP TABLE qasearch_rows").unwrap();
    let s = w.run(&["--store", &url, "status", "--json"]);
    assert_eq!(s.code, 4, "{s:#?}");
    assert!(s.stderr.contains("qasearch_rows is gone"), "{s:#?}");
    // The fix it names works.
    w.run(&["--store", &url, "index", "--full"]).ok();
    w.run(&["--store", &url, "status"]).ok();
}

#[test]
fn an_update_the_database_refuses_answers_from_the_current_generation() {
    let w = Work::seeded();
    let url = pg_database("qa_readonly");
    w.run(&["--store", &url, "index"]).ok();
    let mut c = pg_client("qa_readonly");
    c.batch_execute(
        "DROP ROLE IF EXISTS qa_reader; CREATE ROLE qa_reader LOGIN; \
         GRANT USAGE ON SCHEMA public TO qa_reader; \
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO qa_reader",
    )
    .unwrap();
    let reader = url.replacen("postgres:@", "qa_reader@", 1);
    w.write(
        "bikes.txt",
        "Bikes.\nHow much is a day pass?\nA day pass costs five euros.\n",
    );
    let r = w.run(&[
        "--store",
        &reader,
        "ask",
        "--json",
        "What is the main goal of the coalition?",
    ]);
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(
        r.stderr.contains("answering from the current one"),
        "{r:#?}"
    );
    assert!(r.json()["results"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    drop(c);
}
