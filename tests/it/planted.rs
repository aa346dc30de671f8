//! Every file qasearch opens, with something planted at its name: a link to
//! a file outside, a FIFO, a folder, a link to `/dev/zero`. Whatever is
//! planted, a command ends (no hang, no unbounded read), with a documented
//! exit code, and never writes through a link to what it points at.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{repo, Work};

/// The exit codes README documents.
const DOCUMENTED: [i32; 9] = [0, 2, 3, 4, 5, 6, 7, 10, 11];

#[derive(Debug, Clone, Copy)]
enum Plant {
    LinkOutside,
    Fifo,
    Folder,
    DevZero,
}

fn plant(path: &Path, kind: Plant, outside: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => std::fs::remove_dir_all(path).unwrap(),
        Ok(_) => std::fs::remove_file(path).unwrap(),
        Err(_) => {}
    }
    match kind {
        Plant::LinkOutside => std::os::unix::fs::symlink(outside, path).unwrap(),
        Plant::DevZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        Plant::Folder => std::fs::create_dir(path).unwrap(),
        Plant::Fifo => {
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: a valid C string.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        }
    }
}

/// Runs `cmd`, killing it after `limit`: returns its exit code.
fn run_within(mut cmd: Command, limit: Duration, what: &str) -> (i32, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(out.reopen().unwrap())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::fs::read_to_string(out.path()).unwrap_or_default();
            assert!(
                status.signal().is_none(),
                "{what}: killed by signal {:?}: {stderr}",
                status.signal()
            );
            return (status.code().unwrap(), stderr);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?} (blocked on what was planted?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A models folder of the test's own: hard links to the fetched files.
fn own_models(root: &Path) -> PathBuf {
    let models = root.join("models");
    let fetched = models.join("fetched");
    std::fs::create_dir_all(&fetched).unwrap();
    for entry in std::fs::read_dir(repo().join("models/fetched")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        // Temporaries of other tests' fetches come and go: not ours to copy.
        let temporary = name.ends_with(".part") || name.contains(".json.");
        if temporary || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let to = fetched.join(&name);
        let copied = std::fs::hard_link(entry.path(), &to)
            .or_else(|_| std::fs::copy(entry.path(), &to).map(drop));
        if let Err(e) = copied {
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{name}: {e}");
        }
    }
    models
}

#[test]
fn whatever_is_planted_at_any_name_qasearch_opens_it_ends_cleanly_and_writes_nothing_through() {
    let w = Work::seeded();
    w.index_ok();
    let outside_dir = tempfile::tempdir().unwrap();
    let outside = outside_dir.path().join("precious.txt");
    let runtime = std::fs::read_dir(repo().join("models/fetched"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("libonnxruntime"))
        .expect("a fetched runtime");
    let index_names = [
        "CURRENT",
        "CURRENT.tmp",
        ".lock",
        ".qasearch-index",
        "gen-000001/manifest.json",
        "gen-000001/meta.bin",
        "gen-000001/vectors.f32",
        "gen-000001/graph.bin",
        "gen-000001/lexical.bin",
    ];
    let model_names = [
        "fetched/verified.json".to_string(),
        "fetched/.fetch.lock".to_string(),
        "fetched/model.onnx".to_string(),
        "fetched/tokenizer.json".to_string(),
        "fetched/config.json".to_string(),
        format!("fetched/{runtime}"),
    ];
    let kinds = [
        Plant::LinkOutside,
        Plant::Fifo,
        Plant::Folder,
        Plant::DevZero,
    ];
    let mut cases = 0;
    for (in_models, name) in index_names
        .iter()
        .map(|n| (false, n.to_string()))
        .chain(model_names.iter().map(|n| (true, n.clone())))
    {
        for kind in kinds {
            let case = tempfile::tempdir().unwrap();
            let index = case.path().join("index");
            crate::util::copy_dir(&w.index(), &index);
            let models = own_models(case.path());
            std::fs::write(&outside, b"precious").unwrap();
            let at = if in_models {
                models.join(&name)
            } else {
                index.join(&name)
            };
            plant(&at, kind, &outside);
            for args in [
                &["ask", "--no-update", "What is the coalition?"][..],
                &["index", "--full"],
            ] {
                let mut cmd = w.cmd();
                cmd.env("QASEARCH_INDEX", &index)
                    .env("QASEARCH_MODELS", &models)
                    .arg("--no-fetch")
                    .args(args);
                let what = format!("{name} as {kind:?}, {args:?}");
                let (code, stderr) = run_within(cmd, Duration::from_secs(60), &what);
                assert!(DOCUMENTED.contains(&code), "{what}: exit {code}: {stderr}");
                assert!(!stderr.contains("panicked"), "{what}: {stderr}");
                assert_eq!(
                    std::fs::read(&outside).unwrap(),
                    b"precious",
                    "{what} wrote through the link: {stderr}"
                );
                cases += 1;
            }
        }
    }
    assert_eq!(
        cases,
        (index_names.len() + model_names.len()) * kinds.len() * 2
    );
}

/// A folder that holds a user's own file named `CURRENT` is not an index:
/// it is refused, and the file is left as it was.
#[test]
fn a_users_own_file_named_current_is_never_replaced() {
    let w = Work::seeded();
    std::fs::create_dir_all(w.index()).unwrap();
    std::fs::write(w.index().join("CURRENT"), "my notes\n").unwrap();
    let r = w.run(&["index"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("CURRENT"), "{r:#?}");
    assert_eq!(
        std::fs::read_to_string(w.index().join("CURRENT")).unwrap(),
        "my notes\n"
    );
}
