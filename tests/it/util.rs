//! Helpers for running the real binary against temporary folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const SEED: &str = "000_f4b32acec74ceaab.txt";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch workspace: its own data and index folders, the repo's models.
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    /// A workspace whose data folder holds the seed document.
    pub fn seeded() -> Work {
        let w = Work::empty();
        std::fs::copy(repo().join("data").join(SEED), w.data().join(SEED)).unwrap();
        w
    }

    /// A workspace with an empty data folder.
    pub fn empty() -> Work {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        Work { dir }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn index(&self) -> PathBuf {
        self.dir.path().join("index")
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.data().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// The qasearch command with this workspace's folders and a clean environment.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_qasearch"));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if k.starts_with("QASEARCH_") || k == "ORT_DYLIB_PATH" || k == "RUST_LOG" {
                c.env_remove(&k);
            }
        }
        c.env("QASEARCH_DATA", self.data())
            .env("QASEARCH_INDEX", self.index())
            .env("QASEARCH_MODELS", repo().join("models"))
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).output().unwrap())
    }

    /// Runs with extra environment variables.
    pub fn run_env(&self, env: &[(&str, &std::ffi::OsStr)], args: &[&str]) -> Run {
        let mut cmd = self.cmd();
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.args(args).output().unwrap())
    }

    /// The document of the best answer, from the index as it is (no update).
    pub fn top_doc_as_is(&self, question: &str) -> String {
        let r = self.run(&["ask", "--no-update", "--json", "-k", "1", question]);
        // 10: no confident answer; the best guess is still in the JSON.
        assert!(r.code == 0 || r.code == 10, "{r:#?}");
        r.json()["results"][0]["doc"].as_str().unwrap().to_string()
    }

    pub fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    /// Builds the index and checks it worked.
    pub fn index_ok(&self) -> serde_json::Value {
        let r = self.run(&["index", "--json"]);
        r.ok();
        r.json()
    }
}

/// What a run gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    /// Asserts the exit code, that nothing panicked, and that stderr says `needle`.
    pub fn fails(&self, code: i32, needle: &str) -> &Self {
        assert_eq!(self.code, code, "wrong exit code: {self:#?}");
        assert!(!self.stderr.contains("panicked"), "panic: {self:#?}");
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {self:#?}"
        );
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.contains("error"))
            .collect();
        assert!(!errors.is_empty(), "no error line: {self:#?}");
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {self:#?}"))
    }

    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// The seed document's questions, in order.
pub fn seed_questions() -> Vec<String> {
    std::fs::read_to_string(repo().join("data").join(SEED))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with('?'))
        .map(String::from)
        .collect()
}

/// Top question answered for each line of `questions` (one process).
/// The least lead, in fused score, that a top-1 assertion on the real model
/// rests on. The default model's vectors differ between CPUs with and without
/// AVX-512 VNNI by at most 1e-7 a coordinate (scores by less than 1e-6;
/// docs/arithmetic.md): 0.002 is far above what arithmetic can move, and
/// below the smallest lead of a question these tests ask (0.005, "How
/// important is the coalition to Ukraine's president?"; the older int8
/// model moved vectors by up to cosine 0.03 between CPUs, which flipped the
/// Slovak president's question, whose lead is 0.0099).
pub const TOP1_MARGIN: f64 = 0.002;

/// Asserts that `v`'s first result has `field` equal to `want`, by at least
/// [`TOP1_MARGIN`] over the next result of another pair (when there is one).
/// Returns the lead.
pub fn assert_top(v: &serde_json::Value, field: &str, want: &str) -> f64 {
    let results = v["results"].as_array().expect("results");
    assert_eq!(results[0][field], want, "{v}");
    let lead = top1_lead(v);
    assert!(
        lead >= TOP1_MARGIN,
        "{want:?} leads by only {lead:.4} (< {TOP1_MARGIN}): too close for a top-1 assertion: {v}"
    );
    lead
}

/// How far the first result's score is above the second's (1.0 when there
/// is no second).
pub fn top1_lead(v: &serde_json::Value) -> f64 {
    let results = v["results"].as_array().expect("results");
    match (results.first(), results.get(1)) {
        (Some(a), Some(b)) => a["score"].as_f64().unwrap() - b["score"].as_f64().unwrap(),
        _ => 1.0,
    }
}

/// Asserts that every seed question and every rewording of
/// `eval/questions.tsv` gets its own pair first in `w` (each by the top-1
/// margin [`top_questions`] checks).
pub fn assert_seed_and_rewordings_first(w: &Work) {
    let questions = seed_questions();
    let asked: Vec<&str> = questions.iter().map(String::as_str).collect();
    assert_eq!(top_questions(w, &asked), questions);
    let reworded = rewordings();
    let asked: Vec<&str> = reworded.iter().map(|(q, _)| q.as_str()).collect();
    let want: Vec<String> = reworded.iter().map(|(_, s)| s.clone()).collect();
    assert_eq!(top_questions(w, &asked), want);
}

/// The stored question of each question's best answer ("(passage of DOC)"
/// for a document's passage), each one's lead over the second best at least
/// [`TOP1_MARGIN`].
pub fn top_questions(w: &Work, questions: &[&str]) -> Vec<String> {
    let r = w.run_stdin(&["ask", "-k", "2", "--json", "-"], &questions.join("\n"));
    r.ok();
    r.json_lines()
        .iter()
        .map(|o| {
            let first = &o["results"][0];
            let top = match first["kind"].as_str() {
                Some("passage") => format!("(passage of {})", first["doc"].as_str().unwrap()),
                _ => first["question"].as_str().unwrap().to_string(),
            };
            let lead = top1_lead(o);
            assert!(
                lead >= TOP1_MARGIN,
                "{:?}: the best answer leads by only {lead:.4}: {o}",
                o["question"]
            );
            top
        })
        .collect()
}

pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

/// The reworded questions of `eval/questions.tsv`: (question, seed question it asks for).
pub fn rewordings() -> Vec<(String, String)> {
    eval_questions()
        .into_iter()
        .filter(|(_, q)| q != "(passage)")
        .collect()
}

/// The questions of `eval/questions.tsv` that only the seed's news paragraph answers.
pub fn passage_questions() -> Vec<String> {
    eval_questions()
        .into_iter()
        .filter(|(_, q)| q == "(passage)")
        .map(|(q, _)| q)
        .collect()
}

/// Every line of `eval/questions.tsv`: (question, seed question or `(passage)`).
fn eval_questions() -> Vec<(String, String)> {
    std::fs::read_to_string(repo().join("eval/questions.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols[1], SEED);
            (cols[0].to_string(), cols[2].to_string())
        })
        .collect()
}

/// The folder of the generation CURRENT points at.
pub fn generation_dir(index: &Path) -> PathBuf {
    let current = std::fs::read_to_string(index.join("CURRENT")).unwrap();
    index.join(current.split(' ').next().unwrap())
}

/// Edits the current manifest and reseals CURRENT with its new checksum, as
/// another version or model would have written it.
pub fn rewrite_manifest(index: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let dir = generation_dir(index);
    let path = dir.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    let bytes = serde_json::to_vec_pretty(&v).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    std::fs::write(
        index.join("CURRENT"),
        format!("{name} {:08x}\n", crc32fast::hash(&bytes)),
    )
    .unwrap();
}

/// Copies a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A real PostgreSQL 16 with pgvector for the tests that need one: started
/// once per test run from the PyPI package `pgserver` (pip-installed by
/// package name into `target/pgserver-py` the first time), on a temporary
/// folder that it removes when the tests exit. Returns its URL (a Unix
/// socket). `QASEARCH_TEST_PG_URL` names another server instead.
pub fn postgres() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| match std::env::var("QASEARCH_TEST_PG_URL") {
        Ok(url) => url,
        Err(_) => pg_start::start(&repo()),
    })
}

#[path = "../pg/start.rs"]
mod pg_start;

/// A connection to the tests' server as its superuser (database `db`).
pub fn pg_client(db: &str) -> postgres::Client {
    postgres::Client::connect(&pg_url(db), postgres::NoTls).unwrap()
}

/// The URL of database `db` on the tests' server.
pub fn pg_url(db: &str) -> String {
    let base = postgres();
    let (head, query) = base.split_once('?').unwrap();
    let head = head.rsplit_once('/').unwrap().0;
    format!("{head}/{db}?{query}")
}

/// A new, empty database on the tests' server (dropped first if a previous
/// run left it), and its URL.
pub fn pg_database(name: &str) -> String {
    let mut c = pg_client("postgres");
    c.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[])
        .unwrap();
    c.execute(&format!("CREATE DATABASE {name}"), &[]).unwrap();
    pg_url(name)
}
