//! Starts a throwaway PostgreSQL 16 with pgvector for the tests and the
//! store bench (both include this file): the PyPI package `pgserver`,
//! pip-installed by package name (pinned) into `target/pgserver-py` the
//! first time, run by `tests/pg/server.py` on a temporary folder that it
//! removes when this process exits.

use std::path::Path;
use std::process::{Command, Stdio};

/// The packages installed, pinned.
pub const PGSERVER_PACKAGES: &[&str] = &[
    "pgserver==0.1.4",
    "fasteners==0.20",
    "platformdirs==4.14.8",
    "psutil==7.2.2",
];

/// Starts the server (installing it first if needed) and returns its URL
/// (a Unix socket). It stops when this process exits.
#[allow(dead_code)] // The store bench starts it with its own cache size.
pub fn start(repo: &Path) -> String {
    start_with(repo, None)
}

/// [`start`] with the server's `shared_buffers` set (e.g. "1GB") instead of
/// `pgserver`'s 128 MB.
pub fn start_with(repo: &Path, shared_buffers: Option<&str>) -> String {
    let python = std::env::var("QASEARCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let site = repo.join("target").join("pgserver-py");
    if !site.join("pgserver").is_dir() {
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--root-user-action=ignore", "--target"])
            .arg(&site)
            .args(PGSERVER_PACKAGES)
            .status()
            .expect("python3 with pip, to install pgserver");
        assert!(
            status.success(),
            "pip could not install {PGSERVER_PACKAGES:?}"
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("qa-pg")
        .tempdir_in("/tmp")
        .unwrap()
        .keep();
    let mut child = Command::new(&python)
        .arg(repo.join("tests/pg/server.py"))
        .arg(&dir)
        .args(shared_buffers)
        .env("PYTHONPATH", &site)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting tests/pg/server.py");
    let stdout = child.stdout.take().unwrap();
    // Kept, its standard input open, until this process exits; then the
    // server stops and removes its folder.
    static SERVER: std::sync::Mutex<Option<std::process::Child>> = std::sync::Mutex::new(None);
    *SERVER.lock().unwrap() = Some(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let url = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("PostgreSQL did not start within 120 s");
    assert!(url.starts_with("postgresql://"), "server.py said {url:?}");
    url.trim().to_string()
}
