//! Regression tests from hostile testing (one group per class of defect):
//! qasearch never deletes what it did not make, never answers wrong in
//! silence, never reads outside the data folder, never lets corpus text drive
//! the terminal, keeps document keys unique, never blocks or reads without
//! bound on special files, and fails the small cases with clear errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

const GOAL: &str = "What is the main goal of the Coalition of the Willing?";

/// Runs a command, killing it (and failing the test) if it outlives `limit`.
fn run_within(mut cmd: Command, limit: Duration) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return Run::from(child.wait_with_output().unwrap());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?} (hung): {:#?}",
                Run::from(out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The documents of the top `k` answers to `question`.
fn result_docs(w: &Work, k: &str, question: &str) -> Vec<String> {
    let r = w.run(&["ask", "--json", "-k", k, question]);
    r.ok();
    r.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["doc"].as_str().unwrap().to_string())
        .collect()
}

fn tree(dir: &Path) -> Vec<String> {
    files_under(dir)
}

// 1. Cleanup deletes only what qasearch made.

#[test]
fn a_folder_that_is_not_an_index_is_refused_and_left_alone() {
    let w = Work::seeded();
    let proj = w.dir.path().join("proj");
    std::fs::create_dir_all(proj.join("tmp-drafts")).unwrap();
    std::fs::create_dir_all(proj.join("gen-ai-notes")).unwrap();
    std::fs::write(proj.join("tmp-drafts/ch1.md"), "chapter one").unwrap();
    std::fs::write(proj.join("gen-ai-notes/n.md"), "notes").unwrap();
    let before = tree(&proj);
    let mut cmd = w.cmd();
    cmd.current_dir(&proj)
        .env("QASEARCH_DATA", w.data())
        .args(["--index", ".", "ask", GOAL]);
    let r = Run::from(cmd.output().unwrap());
    r.fails(2, "cannot hold a qasearch index");
    assert!(r.stderr.contains("did not make"), "{r:#?}");
    assert_eq!(tree(&proj), before, "files changed in a foreign folder");
    assert_eq!(
        std::fs::read_to_string(proj.join("tmp-drafts/ch1.md")).unwrap(),
        "chapter one"
    );
}

#[test]
fn overlapping_data_and_index_folders_are_refused() {
    let w = Work::seeded();
    let before = tree(&w.data());
    for index in [w.data(), w.data().join("idx"), w.dir.path().to_path_buf()] {
        let r = w.run(&["--index", index.to_str().unwrap(), "index"]);
        r.fails(2, "overlaps the data folder");
        assert_eq!(tree(&w.data()), before, "{}", index.display());
    }
}

#[test]
fn cleanup_removes_only_the_files_it_wrote() {
    let w = Work::seeded();
    w.index_ok();
    let index = w.index();
    // A user's things in the index folder, some named like ours.
    std::fs::create_dir_all(index.join("tmp-drafts")).unwrap();
    std::fs::write(index.join("tmp-drafts/ch1.md"), "mine").unwrap();
    std::fs::create_dir_all(index.join("gen-ai-notes")).unwrap();
    std::fs::write(index.join("gen-ai-notes/n.md"), "mine").unwrap();
    std::fs::write(index.join("notes.txt"), "mine").unwrap();
    // A stale generation and a dead build, each also holding a user's file.
    for stale in ["gen-000000", "tmp-000099-4242"] {
        std::fs::create_dir_all(index.join(stale)).unwrap();
        std::fs::write(index.join(stale).join("meta.bin"), "old").unwrap();
        std::fs::write(index.join(stale).join("keep.md"), "mine").unwrap();
    }
    std::fs::create_dir_all(index.join("tmp-000098-4243")).unwrap();
    std::fs::write(index.join("tmp-000098-4243/vectors.f32"), "old").unwrap();
    w.write("new.txt", "P.\nIs this new?\nYes, it is new.\n");
    w.index_ok();
    for mine in [
        "tmp-drafts/ch1.md",
        "gen-ai-notes/n.md",
        "notes.txt",
        "gen-000000/keep.md",
        "tmp-000099-4242/keep.md",
    ] {
        assert_eq!(
            std::fs::read_to_string(index.join(mine)).unwrap(),
            "mine",
            "{mine}"
        );
    }
    assert!(!index.join("gen-000000/meta.bin").exists());
    assert!(!index.join("tmp-000099-4242/meta.bin").exists());
    assert!(
        !index.join("tmp-000098-4243").exists(),
        "our own leftover stays"
    );
    assert!(
        !index.join("gen-000001").exists(),
        "the old generation stays"
    );
}

#[test]
fn an_index_of_an_earlier_version_without_marker_is_adopted() {
    let w = Work::seeded();
    w.index_ok();
    std::fs::remove_file(w.index().join(".qasearch-index")).unwrap();
    w.write("new.txt", "P.\nIs this new?\nYes, it is new.\n");
    w.index_ok();
    assert!(w.index().join(".qasearch-index").is_file());
}

// 2. Identical answers do not hide new ones.

#[test]
fn many_identical_answers_do_not_hide_a_new_one() {
    let w = Work::seeded();
    w.index_ok();
    // As reported: 500 documents answering "Yes.", and one distinct answer.
    for i in 0..500 {
        w.write(
            &format!("y{i:03}.txt"),
            &format!("Is item {i} in stock?\nYes.\n"),
        );
    }
    w.write(
        "key.txt",
        "Where do we keep it?\nThe spare key is kept in the blue safe behind the painting.\n",
    );
    let s = w.index_ok();
    // One vector for 500 "Yes.", plus the 500 distinct questions and the key pair.
    assert_eq!(s["embedded"], 503, "{s}");
    assert_eq!(
        s["vectors"].as_u64().unwrap() - s["reused"].as_u64().unwrap(),
        503
    );
    assert_eq!(s["graph"], "extended", "{s}");
    for extra in [&[][..], &["--ef", "10"][..], &["--exact"][..]] {
        let mut args = vec!["ask", "--json", "-k", "1"];
        args.extend_from_slice(extra);
        args.push("Where is the spare key?");
        let r = w.run(&args);
        r.ok();
        let top = &r.json()["results"][0];
        assert_eq!(top["doc"], "key.txt", "{extra:?}: {top}");
        assert!(top["score"].as_f64().unwrap() > 0.5, "{top}");
    }
    // A shared answer still answers for each of its questions.
    let docs = result_docs(&w, "5", "Yes.");
    assert_eq!(docs.len(), 5);
    assert!(docs.iter().all(|d| d.starts_with('y')), "{docs:?}");
}

// 3. Nothing outside the data folder reaches the index, even in a race.

#[cfg(unix)]
#[test]
fn a_link_swapped_during_a_build_never_lets_an_outside_file_in() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "P.\nWhat is the secret?\nSECRET-OUTSIDE-TEXT.\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let inside = data.join("inside.md");
    std::fs::write(&inside, "P.\nWhat is inside?\nInside text.\n").unwrap();
    std::fs::write(data.join("a.txt"), "P.\nWhat is a?\nA.\n").unwrap();
    let fifo = data.join("pipe.md");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (stop, data, inside, secret, fifo) = (
            stop.clone(),
            data.clone(),
            inside.clone(),
            secret.clone(),
            fifo.clone(),
        );
        std::thread::spawn(move || {
            let (link, tmp) = (data.join("flip.txt"), data.join("flip.tmp"));
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let target = match n % 3 {
                    0 => &inside,
                    1 => &secret,
                    _ => &fifo,
                };
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(target, &tmp).unwrap();
                std::fs::rename(&tmp, &link).unwrap();
                n += 1;
            }
        })
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = {
        let data = data.clone();
        std::thread::spawn(move || {
            for _ in 0..400 {
                let corpus = qasearch::corpus::load(&data).unwrap();
                let leaked = corpus
                    .documents
                    .iter()
                    .flat_map(|d| &d.pairs)
                    .any(|p| p.answer.contains("SECRET-OUTSIDE-TEXT"));
                tx.send(leaked).unwrap();
            }
        })
    };
    let mut leaks = 0;
    for i in 0..400 {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(leaked) => leaks += leaked as usize,
            Err(e) => panic!("load {i} hung or failed ({e}): a FIFO blocked the reader?"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().unwrap();
    reader.join().unwrap();
    assert_eq!(leaks, 0, "an outside file was read in {leaks} of 400 loads");
}

// 4. Corpus text and file names never reach the terminal raw.

#[test]
fn control_characters_from_the_corpus_are_escaped_on_the_terminal() {
    let w = Work::empty();
    w.write(
        "evil\nname\u{1b}[31m.txt",
        "P.\nWhat does the \u{1b}]0;pwned\u{7} title say?\nIt clears \u{1b}[2J the screen\roverwrites and \u{9b}31m more.\nDangling \u{1b}[5m question?\n",
    );
    let r = w.run(&["ask", "-k", "1", "What does the title say?"]);
    r.ok();
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        for bad in ['\u{1b}', '\u{7}', '\r', '\u{9b}'] {
            assert!(!text.contains(bad), "{name} holds {bad:?}: {r:#?}");
        }
    }
    assert!(r.stdout.contains("evil\\nname\\u{1b}[31m.txt"), "{r:#?}");
    assert!(r.stdout.contains("\\u{1b}]0;pwned\\u{7}"), "{r:#?}");
    assert!(
        r.stderr.contains("Dangling"),
        "the warning is shown: {r:#?}"
    );
    // Every result line starts as a result line: the file name did not split it.
    assert_eq!(r.stdout.lines().filter(|l| l.starts_with("1. ")).count(), 1);
    // --json carries the text as it is (JSON escapes it).
    let r = w.run(&["ask", "--json", "-k", "1", "What does the title say?"]);
    let v = r.json();
    assert!(v["results"][0]["question"]
        .as_str()
        .unwrap()
        .contains("\u{1b}]0;pwned\u{7}"));
}

// 5. Document keys are unique, counts never wrap, a fresh index stays fresh.

#[cfg(unix)]
#[test]
fn colliding_document_keys_are_made_unique_and_status_settles() {
    use std::os::unix::ffi::OsStrExt;
    let w = Work::seeded();
    // Names that differ only in bytes that are not UTF-8.
    for b in [0xe9u8, 0xe8] {
        let bytes = [b'c', b'a', b'f', b, b'.', b't', b'x', b't'];
        let name = std::ffi::OsStr::from_bytes(&bytes);
        std::fs::write(
            w.data().join(name),
            format!("P.\nWhich byte is it {b}?\nIt is byte {b}.\n"),
        )
        .unwrap();
    }
    // A .txt named like a .jsonl#id key, and the duplicate-id fallback
    // colliding with a real id.
    w.write("x.jsonl#y.txt", "P.\nWho am I?\nA text file.\n");
    w.write(
        "x.jsonl",
        concat!(
            "{\"id\": \"y.txt\", \"qa\": [{\"question\": \"And who am I?\", \"answer\": \"A JSON line.\"}]}\n",
            "{\"id\": \"d\", \"qa\": [{\"question\": \"First d?\", \"answer\": \"One.\"}]}\n",
            "{\"id\": \"d\", \"qa\": [{\"question\": \"Second d?\", \"answer\": \"Two.\"}]}\n",
            "{\"id\": \"L3\", \"qa\": [{\"question\": \"Real L3?\", \"answer\": \"Three.\"}]}\n",
        ),
    );
    let s = w.index_ok();
    assert_eq!(s["documents"], 8, "{s}");
    let generation = s["generation"].clone();
    let r = w.run(&["status", "--json"]);
    r.ok();
    let v = r.json();
    assert_eq!(v["fresh"], true, "{v}");
    assert_eq!(v["documents"]["removed"], 0, "{v}");
    // Asking does not rebuild a fresh index.
    for _ in 0..2 {
        w.run(&["ask", "-k", "1", "Who am I?"]).ok();
    }
    let r = w.run(&["status", "--json"]);
    assert_eq!(
        r.json()["generation"],
        generation,
        "ask wrote a new generation"
    );
    let docs = result_docs(&w, "10", "Which byte is it?");
    assert!(docs.contains(&"caf\\xe9.txt".to_string()), "{docs:?}");
    assert!(docs.contains(&"caf\\xe8.txt".to_string()), "{docs:?}");
}

// 6. Special files in the index folder: no blocking, no unbounded reads, no links.

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[cfg(unix)]
#[test]
fn special_files_in_the_index_never_block_or_read_forever() {
    let built = Work::seeded();
    built.index_ok();
    type Damage = fn(&Path);
    let cases: &[(&str, Damage, &str)] = &[
        (
            "CURRENT -> /dev/zero",
            |i| {
                std::fs::remove_file(i.join("CURRENT")).unwrap();
                std::os::unix::fs::symlink("/dev/zero", i.join("CURRENT")).unwrap();
            },
            "CURRENT",
        ),
        ("CURRENT a FIFO", |i| mkfifo(&i.join("CURRENT")), "CURRENT"),
        (
            "manifest a FIFO",
            |i| mkfifo(&generation_dir(i).join("manifest.json")),
            "manifest.json",
        ),
        (
            "meta a FIFO",
            |i| mkfifo(&generation_dir(i).join("meta.bin")),
            "meta.bin",
        ),
        (
            "vectors a FIFO",
            |i| mkfifo(&generation_dir(i).join("vectors.f32")),
            "vectors.f32",
        ),
        (
            "meta -> /dev/zero",
            |i| {
                let p = generation_dir(i).join("meta.bin");
                std::fs::remove_file(&p).unwrap();
                std::os::unix::fs::symlink("/dev/zero", p).unwrap();
            },
            "meta.bin",
        ),
    ];
    for (name, damage, says) in cases {
        for args in [&["ask", GOAL][..], &["status"][..], &["index"][..]] {
            let w = Work::seeded();
            copy_dir(&built.index(), &w.index());
            damage(&w.index());
            let mut cmd = w.cmd();
            cmd.args(args);
            let r = run_within(cmd, Duration::from_secs(60));
            // `index` replaces a damaged generation; the others report it.
            let expect = if args[0] == "index" { 0 } else { 4 };
            assert_eq!(r.code, expect, "{name} {args:?}: {r:#?}");
            if expect == 0 {
                assert!(r.stderr.contains(says), "says why it rebuilt: {r:#?}");
                continue;
            }
            assert!(r.stderr.contains(says), "{name} {args:?}: {r:#?}");
            assert!(!r.stderr.contains("panicked"), "{name}: {r:#?}");
        }
    }
}

#[cfg(unix)]
#[test]
fn the_lock_file_is_never_opened_through_a_link() {
    let w = Work::seeded();
    w.index_ok();
    let elsewhere = w.dir.path().join("elsewhere.lock");
    std::fs::remove_file(w.index().join(".lock")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, w.index().join(".lock")).unwrap();
    w.write("new.txt", "P.\nIs this new?\nYes, it is new.\n");
    let r = w.run(&["index"]);
    r.fails(2, ".lock is a symbolic link");
    assert!(!elsewhere.exists(), "a file was created through the link");
}

// 7. The smaller ones.

#[test]
fn a_folder_as_current_fails_before_embedding_and_keeps_the_generation() {
    let w = Work::seeded();
    w.index_ok();
    let gen = generation_dir(&w.index());
    std::fs::remove_file(w.index().join("CURRENT")).unwrap();
    std::fs::create_dir(w.index().join("CURRENT")).unwrap();
    for args in [&["index", "--full"][..], &["index"][..]] {
        let r = w.run(args);
        r.fails(2, "CURRENT is a folder");
        assert!(!r.stderr.contains("embedding"), "{r:#?}");
        assert!(gen.join("meta.bin").is_file(), "the generation was removed");
    }
}

#[test]
fn a_damaged_index_is_never_called_missing() {
    let w = Work::seeded();
    w.index_ok();
    let gen = generation_dir(&w.index());
    std::fs::remove_file(gen.join("manifest.json")).unwrap();
    for args in [&["ask", GOAL][..], &["status"][..]] {
        let r = w.run(args);
        r.fails(4, "manifest.json");
        assert!(r.stderr.contains("damaged"), "{r:#?}");
        assert!(!r.stderr.contains("no index"), "{r:#?}");
    }
}

#[test]
fn status_checks_every_file_a_question_needs() {
    for damage in ["truncate", "remove"] {
        let w = Work::seeded();
        w.index_ok();
        let meta = generation_dir(&w.index()).join("meta.bin");
        if damage == "truncate" {
            let b = std::fs::read(&meta).unwrap();
            std::fs::write(&meta, &b[..b.len() / 2]).unwrap();
        } else {
            std::fs::remove_file(&meta).unwrap();
        }
        w.run(&["status"]).fails(4, "meta.bin");
    }
}

#[test]
fn thread_counts_are_bounded() {
    let w = Work::seeded();
    for t in ["0", "100000"] {
        let mut cmd = w.cmd();
        cmd.args(["--threads", t, "ask", GOAL]);
        run_within(cmd, Duration::from_secs(30)).fails(2, "--threads must be in");
    }
}

#[test]
fn stdin_that_is_a_folder_is_a_data_error() {
    let w = Work::seeded();
    w.index_ok();
    let mut cmd = w.cmd();
    cmd.args(["ask", "-"])
        .stdin(std::fs::File::open("/").unwrap());
    run_within(cmd, Duration::from_secs(60)).fails(3, "<stdin>");
}

#[cfg(unix)]
#[test]
fn a_file_size_limit_fails_the_write_and_keeps_the_index() {
    let w = Work::seeded();
    w.index_ok();
    let before = generation_dir(&w.index());
    w.write(
        "more.txt",
        &"P.\nWhat is more?\nMore and more and more.\n".repeat(3),
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -f 16 && exec \"$0\" index --full")
        .arg(env!("CARGO_BIN_EXE_qasearch"));
    for (k, v) in w.cmd().get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.current_dir(w.dir.path()).stdin(Stdio::null());
    let r = run_within(cmd, Duration::from_secs(120));
    r.fails(7, "ulimit -f");
    assert_eq!(generation_dir(&w.index()), before);
    assert_eq!(w.top_doc_as_is(GOAL), SEED);
}

#[test]
fn huge_texts_are_cut_before_the_model() {
    let w = Work::seeded();
    let answer = "word ".repeat(4_000_000); // 20 MB on one line
    w.write("huge.txt", &format!("P.\nWhat is huge?\n{answer}\n"));
    let mut cmd = w.cmd();
    cmd.args(["index", "--json"]);
    let (r, peak_mb) = run_measuring_peak(cmd);
    r.ok();
    assert!(
        peak_mb < 1200,
        "indexing a 20 MB answer peaked at {peak_mb} MB"
    );
    let question = format!("{}?", "why ".repeat(2_500_000)); // 10 MB
    let mut cmd = w.cmd();
    cmd.args(["ask", "-k", "1", "--json", "-"]);
    let (r, peak_mb) = run_stdin_measuring_peak(cmd, question.into_bytes());
    r.ok();
    assert!(peak_mb < 800, "a 10 MB question peaked at {peak_mb} MB");
}

/// Runs a command while sampling its peak resident memory (VmHWM), in MB.
fn run_measuring_peak(cmd: Command) -> (Run, u64) {
    run_stdin_measuring_peak(cmd, Vec::new())
}

fn run_stdin_measuring_peak(mut cmd: Command, input: Vec<u8>) -> (Run, u64) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    // Output is drained while the child runs (it may print megabytes).
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    let mut peak = 0;
    while !waiter.is_finished() {
        if let Ok(s) = std::fs::read_to_string(&status) {
            if let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
            {
                peak = peak.max(kb / 1024);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    writer.join().unwrap();
    (Run::from(waiter.join().unwrap()), peak)
}

/// A command run as user `nobody` (to make files unreadable even for root),
/// or None where that is not possible here.
#[cfg(unix)]
fn as_nobody(w: &Work, args: &[&str]) -> Option<Run> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        if Command::new("setpriv").arg("--version").output().is_err() {
            return None;
        }
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            env!("CARGO_BIN_EXE_qasearch"),
        ]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_qasearch"))
    };
    for (k, v) in w.cmd().get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.current_dir(w.dir.path())
        .stdin(Stdio::null())
        .args(args);
    Some(Run::from(cmd.output().unwrap()))
}

#[cfg(unix)]
fn open_up(w: &Work) {
    use std::os::unix::fs::PermissionsExt;
    for p in [w.dir.path().to_path_buf(), w.data()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    for e in walkdir::WalkDir::new(w.data()).into_iter().flatten() {
        let mode = if e.file_type().is_dir() { 0o777 } else { 0o666 };
        std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn an_unreadable_file_does_not_rebuild_on_every_ask() {
    use std::os::unix::fs::PermissionsExt;
    let w = Work::seeded();
    w.write("locked.txt", "P.\nIs this locked?\nYes, locked.\n");
    open_up(&w);
    std::fs::set_permissions(
        w.data().join("locked.txt"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let Some(r) = as_nobody(&w, &["index", "--json"]) else {
        eprintln!("SKIPPED: cannot run as another user here");
        return;
    };
    r.ok();
    assert!(r.stderr.contains("locked.txt"), "{r:#?}");
    let generation = r.json()["generation"].clone();
    as_nobody(&w, &["status"]).unwrap().ok();
    for _ in 0..2 {
        let r = as_nobody(&w, &["ask", "-k", "1", GOAL]).unwrap();
        r.ok();
        assert!(!r.stderr.contains("changed since"), "{r:#?}");
    }
    let r = as_nobody(&w, &["status", "--json"]).unwrap();
    assert_eq!(r.json()["generation"], generation);
    // Readable again: now it is a change, and it is indexed.
    std::fs::set_permissions(
        w.data().join("locked.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let r = as_nobody(&w, &["status"]).unwrap();
    assert_eq!(r.code, 8, "{r:#?}");
    let r = as_nobody(&w, &["ask", "--json", "-k", "1", "Is this locked?"]).unwrap();
    assert_eq!(r.json()["results"][0]["doc"], "locked.txt");
}

#[cfg(unix)]
#[test]
fn an_unreadable_data_folder_says_why() {
    use std::os::unix::fs::PermissionsExt;
    let w = Work::seeded();
    open_up(&w);
    std::fs::set_permissions(w.data(), std::fs::Permissions::from_mode(0o000)).unwrap();
    let Some(r) = as_nobody(&w, &["index"]) else {
        eprintln!("SKIPPED: cannot run as another user here");
        return;
    };
    std::fs::set_permissions(w.data(), std::fs::Permissions::from_mode(0o755)).unwrap();
    r.fails(3, "cannot read the data folder");
    assert!(r.stderr.contains("ermission denied"), "{r:#?}");
}

/// `ask -` maps the vectors of the generation it answers from: written to
/// in place while it runs (here with the very bytes it held, so that only
/// the file's modification time tells), its next answer is refused as
/// damage naming the file (exit 4), never given from rows that may differ
/// from those its check read.
#[cfg(unix)]
#[test]
fn ask_from_stdin_answers_nothing_from_vectors_written_to_under_it() {
    ask_from_stdin_answers_nothing_from_a_file_written_to_under_it("vectors.f32");
}

/// `ask -` searches its graph where the file lies: written to in place
/// after the first answer (the very bytes it held, so only its time tells),
/// the next question is refused naming it.
#[cfg(unix)]
#[test]
fn ask_from_stdin_answers_nothing_from_a_graph_written_to_under_it() {
    ask_from_stdin_answers_nothing_from_a_file_written_to_under_it("graph.bin");
}

/// `ask -` answers a first line; the generation's file `name` is then
/// written to in place with the bytes it held; the next line exits 4
/// naming it, with no second answer.
#[cfg(unix)]
fn ask_from_stdin_answers_nothing_from_a_file_written_to_under_it(name: &str) {
    use std::io::{BufRead, Write};
    use std::os::unix::fs::FileExt;
    let w = Work::seeded();
    w.index_ok();
    let written = generation_dir(&w.index()).join(name);
    let file = std::fs::File::options().write(true).open(&written).unwrap();
    // Set back, so that the write below moves it whatever the clock's tick.
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    file.set_modified(old).unwrap();
    let mut child = w
        .cmd()
        .args(["ask", "--json", "-k", "1", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = std::io::BufReader::new(child.stdout.take().unwrap());
    writeln!(input, "{GOAL}").unwrap();
    input.flush().unwrap();
    let mut first = String::new();
    output.read_line(&mut first).unwrap();
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["answered"], true, "{first}");

    let head = std::fs::read(&written).unwrap()[..4].to_vec();
    file.write_all_at(&head, 0).unwrap();
    writeln!(input, "{GOAL}").unwrap();
    drop(input);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut output, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(stderr.contains(name), "{stderr}");
    assert!(rest.is_empty(), "no second answer: {rest}");
}
