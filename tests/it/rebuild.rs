//! Rebuilding after data changes: incremental, crash-safe, concurrency-safe.

use std::path::Path;

use qasearch::indexer::{self, IndexConfig};
use qasearch::model::embed::HashEmbedder;
use qasearch::progress::NoProgress;
use qasearch::search::{self, SearchConfig};
use qasearch::store;

use crate::util::*;

/// The answers as JSON; an unrelated question may find no confident answer
/// (exit 10), and its best guesses are still listed.
fn top(w: &Work, question: &str, k: &str) -> serde_json::Value {
    let r = w.run(&["ask", "--json", "-k", k, question]);
    assert!(r.code == 0 || r.code == 10, "{r:#?}");
    r.json()
}

#[test]
fn change_add_remove_embeds_only_new_sentences() {
    let w = Work::seeded();
    w.write(
        "a.txt",
        "About bread.\nWhy does sourdough rise slowly?\nWild yeast ferments the dough slowly. Bakers wait for hours.\nHow is the crust made crisp?\nSteam in a hot oven makes the crust crisp.\n",
    );
    w.write(
        "b.txt",
        "About trains.\nHow long is the night train to Rome?\nThe night train from Vienna to Rome takes fourteen hours.\n",
    );
    let first = w.index_ok();
    assert_eq!(first["documents"], 3);
    let seed_q = FRANCE;
    let before = top(&w, seed_q, "3");

    // Change a.txt (one sentence replaced, one pair untouched), add c.txt, remove b.txt.
    w.write(
        "a.txt",
        "About bread.\nWhy does sourdough rise slowly?\nWild yeast ferments the dough slowly. Rye flour feeds the starter.\nHow is the crust made crisp?\nSteam in a hot oven makes the crust crisp.\n",
    );
    w.write(
        "c.txt",
        "About chess.\nHow was the chess final decided?\nThe final was decided in a rapid tiebreak. The champion kept the title.\n",
    );
    std::fs::remove_file(w.data().join("b.txt")).unwrap();
    let st = w.run(&["status", "--json"]);
    assert_eq!(st.code, 8);
    let docs = &st.json()["documents"];
    assert_eq!(
        (
            docs["added"].as_u64(),
            docs["changed"].as_u64(),
            docs["removed"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );

    let v = w.index_ok();
    // New texts: a.txt's changed answer and its two sentences (read in its
    // context); c.txt's two sentences, its whole answer, its question and
    // its passage ("About chess.").
    assert_eq!(v["embedded"], 8, "{v}");
    assert_eq!(
        v["reused"].as_u64().unwrap() + 8,
        v["vectors"].as_u64().unwrap()
    );
    assert_eq!(v["documents"], 3);
    assert_eq!(v["graph"], "extended");

    let c = top(&w, "Who kept the chess title?", "1");
    assert_eq!(c["results"][0]["doc"], "c.txt");
    assert_eq!(c["results"][0]["passage"], "The champion kept the title.");
    let a = top(&w, "What feeds a sourdough starter?", "1");
    assert_eq!(a["results"][0]["passage"], "Rye flour feeds the starter.");
    // The removed document is gone from every answer.
    let gone = top(&w, "How long is the night train to Rome?", "10");
    assert!(
        gone["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["doc"] != "b.txt"),
        "{gone}"
    );
    // The untouched seed document answers exactly as before.
    let after = top(&w, seed_q, "3");
    for (x, y) in before["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(after["results"].as_array().unwrap())
    {
        assert_eq!(
            (&x["question"], &x["passage"]),
            (&y["question"], &y["passage"])
        );
        assert!((x["score"].as_f64().unwrap() - y["score"].as_f64().unwrap()).abs() < 1e-5);
    }
    w.run(&["status"]).ok();
    w.run(&["index", "--check"]).ok();
}

#[test]
fn a_model_change_re_embeds_everything_and_says_why() {
    let w = Work::seeded();
    w.index_ok();
    // Pretend the index came from another model.
    rewrite_manifest(&w.index(), |m| {
        m["model"]["onnx_sha256"] = serde_json::json!("cd".repeat(32))
    });
    let r = w.run(&["index", "--json"]);
    r.ok();
    let v = r.json();
    assert_eq!(v["embedded"], v["vectors"]);
    assert_eq!(v["reused"], 0);
    assert!(
        v["full_reason"]
            .as_str()
            .unwrap()
            .contains("the model changed"),
        "{v}"
    );
    assert!(
        r.stderr
            .contains("re-embedded everything: the model changed"),
        "{}",
        r.stderr
    );
}

/// A corpus of `n` one-pair documents for the hash embedder.
fn write_docs(data: &Path, range: std::ops::Range<usize>) {
    for i in range {
        std::fs::write(
            data.join(format!("d{i:03}.txt")),
            format!("What about topic{i}?\nTopic{i} is about word{i} and thing{i}. It also covers extra{i}.\n"),
        )
        .unwrap();
    }
}

fn build(data: &Path, index: &Path) -> indexer::IndexSummary {
    let mut e = HashEmbedder::new(64);
    indexer::build(
        data,
        index,
        &mut e,
        &IndexConfig::default(),
        &mut NoProgress,
    )
    .unwrap()
    .0
}

#[test]
fn hidden_rows_never_answer_and_many_removals_compact_the_graph() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, index) = (tmp.path().join("data"), tmp.path().join("index"));
    std::fs::create_dir(&data).unwrap();
    write_docs(&data, 0..40);
    let s = build(&data, &index);
    assert_eq!((s.graph, s.hidden, s.documents), ("rebuilt", 0, 40));
    // Remove two documents: few hidden rows, the graph is extended.
    for i in [3, 7] {
        std::fs::remove_file(data.join(format!("d{i:03}.txt"))).unwrap();
    }
    let s = build(&data, &index);
    assert_eq!(s.graph, "extended");
    assert_eq!(
        s.hidden, 8,
        "two documents of 4 vectors each (2 sentences, the whole answer, the question)"
    );
    assert_eq!(s.embedded, 0);
    let snap = store::open(&index).unwrap();
    let mut e = HashEmbedder::new(64);
    for exact in [false, true] {
        let cfg = SearchConfig {
            top_k: 50,
            exact,
            ..SearchConfig::default()
        };
        let answers = search::ask(
            &snap,
            &mut e,
            "What about topic3? word3 thing3 extra3",
            &cfg,
        )
        .unwrap();
        assert_eq!(answers.len(), 38);
        assert!(answers
            .iter()
            .all(|a| a.doc != "d003.txt" && a.doc != "d007.txt"));
    }
    // Remove a third of the rest: too many hidden rows, the graph is rebuilt.
    for i in 10..24 {
        std::fs::remove_file(data.join(format!("d{i:03}.txt"))).unwrap();
    }
    let s = build(&data, &index);
    assert_eq!(
        (s.graph, s.hidden, s.embedded, s.documents),
        ("rebuilt", 0, 0, 24)
    );
    let snap = store::open(&index).unwrap();
    assert_eq!(snap.manifest.counts.rows, snap.manifest.counts.vectors);
}

/// splitmix64, seeded: reproducible "random" positions.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn damage_to_any_index_file_is_always_detected() {
    const SEED: u64 = 20261126;
    let tmp = tempfile::tempdir().unwrap();
    let (data, index) = (tmp.path().join("data"), tmp.path().join("index"));
    std::fs::create_dir(&data).unwrap();
    write_docs(&data, 0..12);
    std::fs::write(
        data.join("story.txt"),
        "The town flooded in May. Boats came.\nWhat happened?\nThe town flooded.\n",
    )
    .unwrap();
    build(&data, &index);
    let gen = std::fs::read_to_string(index.join("CURRENT")).unwrap();
    let gen_dir = index.join(gen.split(' ').next().unwrap());
    let mut files: Vec<_> = std::fs::read_dir(&gen_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.push(index.join("CURRENT"));
    // Five files, the stored questions' and the passages' graphs, the
    // probes of each, and CURRENT.
    assert_eq!(files.len(), 10, "{files:?}");
    // Questions read every file (a rebuild reads the same ones).
    let check = |_: &Path| -> qasearch::Result<()> { store::open(&index).map(drop) };
    let mut rng = Rng(SEED);
    let mut checked = 0;
    for path in &files {
        let good = std::fs::read(path).unwrap();
        let mut damaged: Vec<Vec<u8>> = Vec::new();
        let mut lengths = vec![0, 1, 2, 7, good.len() / 4, good.len() / 2, good.len() - 1];
        lengths.extend((0..12).map(|_| rng.below(good.len())));
        damaged.extend(lengths.into_iter().map(|n| good[..n].to_vec()));
        for _ in 0..40 {
            let mut b = good.clone();
            let at = rng.below(b.len());
            b[at] ^= 1 + rng.below(255) as u8;
            damaged.push(b);
        }
        let mut longer = good.clone();
        longer.push(b'\n');
        damaged.push(longer);
        for bytes in damaged {
            std::fs::write(path, &bytes).unwrap();
            let got = check(path);
            assert!(
                got.is_err(),
                "damage to {} not detected (seed {SEED}, {} bytes)",
                path.display(),
                bytes.len()
            );
            let e = got.unwrap_err();
            assert_eq!(e.kind(), qasearch::error::ErrorKind::Index, "{e}");
            checked += 1;
        }
        std::fs::write(path, &good).unwrap();
        check(path).unwrap();
    }
    // 10 files × (19 truncations + 40 flips + 1 extension), less the
    // truncations that leave a file as it was.
    assert!(checked > 540, "{checked}");
    // A missing file is damage too (every file of the generation).
    for path in &files[..files.len() - 1] {
        let good = std::fs::read(path).unwrap();
        std::fs::remove_file(path).unwrap();
        assert_eq!(
            check(path).unwrap_err().kind(),
            qasearch::error::ErrorKind::Index,
            "{}",
            path.display()
        );
        std::fs::write(path, good).unwrap();
    }
}

#[test]
fn asking_during_rebuilds_never_fails() {
    let w = Work::seeded();
    w.index_ok();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asker = {
        let stop = stop.clone();
        let mut cmd = w.cmd();
        cmd.args(["ask", "--no-update", "--json", "-k", "1", FRANCE]);
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || runs < 3 {
                let r = Run::from(cmd.output().unwrap());
                assert_eq!(r.code, 0, "ask failed during a rebuild: {r:#?}");
                let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
                assert_eq!(v["results"][0]["doc"], SEED);
                runs += 1;
            }
            runs
        })
    };
    for round in 0..6 {
        w.write(
            "churn.txt",
            &format!("Churn.\nWhat is churn {round}?\nChurn number {round} is here. It changes.\n"),
        );
        let r = w.run(&["index", if round % 2 == 0 { "--full" } else { "--json" }]);
        r.ok();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let runs = asker.join().unwrap();
    assert!(runs >= 3);
    let gens = files_under(&w.index())
        .into_iter()
        .filter(|f| f.starts_with("gen-") && !f.contains('/'))
        .count();
    assert_eq!(gens, 1, "old generations are removed");
}

#[test]
fn random_kills_leave_the_previous_index_answering() {
    const SEED: u64 = 7;
    let w = Work::seeded();
    w.index_ok();
    for i in 0..40 {
        w.write(
            &format!("bulk/{i:02}.txt"),
            &format!(
                "Bulk passage {i}.\nWhat is fact number {i}?\nFact {i} says the sky over town {i} was clear. It rained {i} times. Farmers in region {i} were glad.\n"
            ),
        );
    }
    let mut rng = Rng(SEED);
    for _ in 0..8 {
        let delay_ms = 50 + rng.below(1800) as u64;
        let mut child = w
            .cmd()
            .args(["index", "--full"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let r = w.run(&["ask", "--no-update", "--json", "-k", "1", FRANCE]);
        assert_eq!(
            r.code, 0,
            "after a kill at {delay_ms} ms (seed {SEED}): {r:#?}"
        );
        assert_eq!(r.json()["results"][0]["doc"], SEED_DOC);
    }
    w.run(&["index"]).ok();
    let left = files_under(&w.index());
    assert!(
        left.iter()
            .all(|f| !f.starts_with("tmp-") && f != "CURRENT.tmp"),
        "{left:?}"
    );
    let r = w.run(&["ask", "--json", "-k", "1", "What is fact number 7?"]);
    assert_eq!(r.json()["results"][0]["doc"], "bulk/07.txt");
}

const SEED_DOC: &str = SEED;
const FRANCE: &str = "How has France contributed to the coalition's efforts?";

/// A full disk: the build fails with exit 7 and the previous index answers.
/// Runs in a private mount namespace with a small tmpfs as the index folder.
#[test]
fn a_full_disk_keeps_the_previous_index() {
    let w = Work::seeded();
    let probe = std::process::Command::new("unshare")
        .args(["--mount", "--map-root-user", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "SKIPPED a_full_disk_keeps_the_previous_index: cannot create a mount namespace here"
        );
        return;
    }
    std::fs::create_dir(w.index()).unwrap();
    let bin = env!("CARGO_BIN_EXE_qasearch");
    let script = format!(
        r#"set -u
mount -t tmpfs -o size=400k tmpfs "$QASEARCH_INDEX" || exit 90
"{bin}" -q index >/dev/null || exit 91
"{bin}" -q ask --json -k 1 "How has France contributed?" > before.json || exit 92
# Fill the disk, leaving too little for a new generation.
head -c 330000 /dev/zero > "$QASEARCH_INDEX/filler" 2>/dev/null
printf 'More.\nWhat is new?\nSomething new happened today. It was big.\n' > "$QASEARCH_DATA/new.txt"
"{bin}" index --full > full.out 2> full.err
echo "index_exit=$?"
"{bin}" -q ask --no-update --json -k 1 "How has France contributed?" > after.json
echo "ask_exit=$?"
# Without --no-update, ask tries to update, cannot, and answers from the old index.
"{bin}" ask --json -k 1 "How has France contributed?" > stale.json 2> stale.err
echo "stale_exit=$?"
ls "$QASEARCH_INDEX" > listing.txt
rm -f "$QASEARCH_INDEX/filler"
"{bin}" -q index >/dev/null
echo "retry_exit=$?"
"{bin}" -q ask --json -k 1 "What happened today?" > new.json
echo "new_exit=$?"
"#
    );
    let out = w
        .cmd()
        .env("HOME", w.dir.path())
        .args(["--version"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--map-root-user", "sh", "-c", &script]);
    for (k, v) in w.cmd().get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.current_dir(w.dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let read = |f: &str| std::fs::read_to_string(w.dir.path().join(f)).unwrap_or_default();
    assert!(
        stdout.contains("index_exit=7"),
        "{stdout}\n{}",
        read("full.err")
    );
    assert!(
        read("full.err").contains("disk is full"),
        "{}",
        read("full.err")
    );
    assert!(!read("full.err").contains("panicked"));
    assert!(stdout.contains("ask_exit=0"), "{stdout}");
    assert_eq!(read("before.json"), read("after.json"));
    assert!(
        stdout.contains("stale_exit=0"),
        "{stdout}\n{}",
        read("stale.err")
    );
    assert!(
        read("stale.err").contains("cannot update the index"),
        "{}",
        read("stale.err")
    );
    assert_eq!(read("before.json"), read("stale.json"));
    assert!(
        !read("listing.txt").contains("tmp-"),
        "leftovers: {}",
        read("listing.txt")
    );
    assert!(stdout.contains("retry_exit=0"), "{stdout}");
    assert!(
        stdout.contains("new_exit=0") && read("new.json").contains("new.txt"),
        "{stdout}"
    );
}

/// An update reads only the files that changed, and a file rewritten with
/// its size kept and its modification time set back is still a change:
/// `ask` sees it (its status change time moved), updates, and answers
/// from the new text; the next `index` keeps that generation, reading at
/// most the file written just before the last build (by design: its times
/// may not have settled, `corpus::SETTLE_NS`).
#[cfg(unix)]
#[test]
fn unchanged_files_are_not_read_and_a_disguised_rewrite_is_seen() {
    let w = Work::seeded();
    let bread = "About bread.\nHow does sourdough rise?\nWild yeast ferments the dough slowly. Bakers wait for hours.\n";
    w.write("a.txt", bread);
    std::thread::sleep(std::time::Duration::from_nanos(
        qasearch::corpus::SETTLE_NS + 200_000_000,
    ));
    let first = w.index_ok();
    let files: u64 = (first["formats"].as_object().unwrap().values())
        .map(|f| f["files"].as_u64().unwrap())
        .sum();
    assert!(files > 1, "{first}");
    assert_eq!(first["files_unread"], 0, "the first build reads every file");

    let path = w.data().join("a.txt");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    std::fs::write(&path, bread.replace("slowly", "gently")).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(mtime).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), bread.len() as u64);

    // What the answers say, not their order: the new text, never the old.
    let v = top(&w, "How does wild yeast ferment the dough?", "5");
    let said: Vec<&str> = (v["results"].as_array().unwrap().iter())
        .filter_map(|r| r["passage"].as_str())
        .collect();
    assert!(
        said.contains(&"Wild yeast ferments the dough gently."),
        "{v}"
    );
    assert!(!said.iter().any(|p| p.contains("slowly")), "{v}");
    let again = w.index_ok();
    assert_eq!(again["graph"], "unchanged", "{again}");
    // Every file but a.txt was settled; a.txt is read again unless the
    // update inside `ask` began more than SETTLE_NS after it was written
    // (a slow machine).
    let unread = again["files_unread"].as_u64().unwrap();
    assert!(unread == files - 1 || unread == files, "{again}");
}
