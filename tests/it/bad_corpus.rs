//! A corpus of bad inputs — files, folders, indexes, flags and questions —
//! each with its documented exit code and message, and never a panic.

use std::path::Path;
use std::process::Stdio;

use crate::util::*;

/// How a case prepares its workspace.
enum Setup {
    /// The seed document only.
    Seed,
    /// No corpus file at all.
    Empty,
    /// These files (relative path, bytes) and nothing else.
    Files(&'static [(&'static str, &'static [u8])]),
    /// The seed document plus these files.
    SeedPlus(&'static [(&'static str, &'static [u8])]),
    /// The seed document indexed, then the index changed by a function.
    Index(fn(&Path)),
}

struct Case {
    name: &'static str,
    setup: Setup,
    args: &'static [&'static str],
    stdin: Option<&'static [u8]>,
    code: i32,
    /// Expected in stderr (errors) or stdout (successes).
    says: &'static str,
}

fn truncate(path: &Path) {
    let b = std::fs::read(path).unwrap();
    std::fs::write(path, &b[..b.len() / 2]).unwrap();
}

const Q: &str = "What is France doing?";

fn cases() -> Vec<Case> {
    use Setup::*;
    let c = |name, setup, args, code, says| Case {
        name,
        setup,
        args,
        stdin: None,
        code,
        says,
    };
    vec![
        // Questions and flags.
        c("empty question", Seed, &["ask", ""], 2, "the question is empty"),
        c("blank question", Seed, &["ask", "   "], 2, "the question is empty"),
        c("tabs and newlines", Seed, &["ask", "\t\n \r\n"], 2, "the question is empty"),
        c("control characters", Seed, &["ask", "\x01\x02"], 2, "only control or invisible"),
        c("zero-width characters", Seed, &["ask", "\u{200B}\u{200D}\u{FEFF}"], 2, "only control or invisible"),
        c("direction marks and combining accents", Seed, &["ask", "\u{202E}\u{301}"], 2, "only control or invisible"),
        c("k zero", Seed, &["ask", "-k", "0", Q], 2, "-k must be"),
        c("k not a number", Seed, &["ask", "-k", "abc", Q], 2, "invalid value"),
        c("answer vectors without a BEIR set", Seed, &["eval", "--answer-vectors", "pooled"], 2, "--beir"),
        c("k negative", Seed, &["ask", "-k", "-5", Q], 2, "error"),
        c("k huge", Seed, &["ask", "-k", "99999999", Q], 2, "-k must be"),
        c("ef zero", Seed, &["ask", "--ef", "0", Q], 2, "--ef must be"),
        c("min score not a number", Seed, &["ask", "--min-score", "NaN", Q], 2, "--min-score must be"),
        c("min score infinite", Seed, &["ask", "--min-score", "inf", Q], 2, "--min-score must be"),
        c("threads zero", Seed, &["--threads", "0", "ask", Q], 2, "--threads must be"),
        c("threads huge", Seed, &["--threads", "100000", "ask", Q], 2, "--threads must be"),
        c("no question", Seed, &["ask"], 2, "required"),
        c("two questions", Seed, &["ask", Q, "another?"], 2, "unexpected argument"),
        c("unknown command", Seed, &["frobnicate"], 2, "unrecognized subcommand"),
        c("no command", Seed, &[], 2, "Usage"),
        c("unknown flag", Seed, &["index", "--turbo"], 2, "unexpected argument"),
        c("hnsw m too big", Seed, &["index", "--hnsw-m", "300"], 2, "HNSW M must be"),
        c("beir and questions together", Seed, &["eval", "--beir", "x", "--questions", "y"], 2, "cannot be used with"),
        c("punctuation-only question finds no confident answer", Seed, &["ask", "-k", "1", "???"], 10, "no confident answer"),
        c("control characters are answered", Seed, &["ask", "-k", "1", "\u{7}France\u{1b}?"], 0, "France"),
        c("emoji and right-to-left text find no confident answer", Seed, &["ask", "-k", "1", "🇫🇷 ما هو دور فرنسا؟"], 10, "no confident answer"),
        Case { name: "stdin not UTF-8", setup: Seed, args: &["ask", "-"], stdin: Some(b"What is France doing?\n\xff\xfe\n"), code: 3, says: "<stdin>:2: not UTF-8" },
        Case { name: "stdin blank lines only", setup: Seed, args: &["ask", "--json", "-"], stdin: Some(b"\n  \n\t\n"), code: 0, says: "" },
        // Data folders and files.
        c("data folder missing", Empty, &["--data", "no-such-folder", "index"], 3, "no-such-folder"),
        c("data is a file", Files(&[("x.txt", b"P.\nQ?\nA.\n")]), &["--data", "data/x.txt", "index"], 3, "data/x.txt"),
        c("empty data folder", Empty, &["index"], 3, "no question-and-answer pairs"),
        c("only other file types", Files(&[("notes.md", b"What?\nThat.\n"), ("x.csv", b"a,b\n")]), &["index"], 3, "no question-and-answer pairs"),
        c("txt without questions", Files(&[("p.txt", b"Just a paragraph.\nAnd more.\n")]), &["index"], 3, "no question-and-answer pairs"),
        c("txt not UTF-8", Files(&[("l1.txt", b"P.\nCaf\xe9?\nYes.\n")]), &["index"], 3, "no question-and-answer pairs"),
        c("empty txt", Files(&[("e.txt", b"")]), &["index"], 3, "no question-and-answer pairs"),
        c("questions only", Files(&[("q.txt", b"P.\nOne?\nTwo?\nThree?\n")]), &["index"], 3, "no question-and-answer pairs"),
        c("binary junk", Files(&[("junk.txt", b"\x00\x01\x02\xff\xfe\x80\x81")]), &["index"], 3, "no question-and-answer pairs"),
        c("jsonl all invalid", Files(&[("d.jsonl", b"{oops\n[1,2]\n\"str\"\n")]), &["index"], 3, "no question-and-answer pairs"),
        c("jsonl qa not a list", Files(&[("d.jsonl", b"{\"id\": 1, \"qa\": \"nope\"}\n")]), &["index"], 3, "no question-and-answer pairs"),
        c("jsonl answer a number", Files(&[("d.jsonl", b"{\"id\": 1, \"qa\": [{\"question\": \"Q?\", \"answer\": 5}]}\n")]), &["index"], 3, "no question-and-answer pairs"),
        c("jsonl empty answers", Files(&[("d.jsonl", b"{\"id\": 1, \"qa\": [{\"question\": \"Q?\", \"answer\": \"  \"}]}\n")]), &["index"], 3, "no question-and-answer pairs"),
        c("warnings name file and line", SeedPlus(&[("bad.jsonl", b"{\"id\": 1, \"qa\": []}\n{broken\n")]), &["index"], 0, "indexed 1 document,"),
        c("directory named like a document", SeedPlus(&[("dir.txt/inner.md", b"x")]), &["index"], 0, "indexed 1 document,"),
        c("lone carriage returns", Files(&[("mac.txt", b"P.\rWhat is it?\rIt is fine.\r")]), &["index"], 0, "indexed 1 document,"),
        c("arabic question mark", Files(&[("ar.txt", b"P.\n\xd9\x85\xd8\xa7 \xd9\x87\xd8\xb0\xd8\xa7\xd8\x9f\n\xd9\x87\xd8\xb0\xd8\xa7 \xd9\x83\xd8\xaa\xd8\xa7\xd8\xa8.\n")]), &["index"], 0, "indexed 1 document,"),
        c("bom and crlf", Files(&[("w.txt", b"\xef\xbb\xbfP.\r\nWhat is it?\r\nIt is fine.\r\n")]), &["index"], 0, "indexed 1 document,"),
        c("deeply nested", Files(&[("a/b/c/d/e/f/g.txt", b"P.\nWhat is deep?\nThis is deep.\n")]), &["index"], 0, "indexed 1 document,"),
        c("jsonl with bom and crlf", Files(&[("d.jsonl", b"\xef\xbb\xbf{\"id\": \"x\", \"qa\": [{\"question\": \"Q?\", \"answer\": \"A.\"}]}\r\n")]), &["index"], 0, "indexed 1 document,"),
        c("answer of 200 kB on one line", Files(&[("big.txt", BIG)]), &["index"], 0, "indexed 1 document,"),
        // Indexes.
        c("index folder is a file", Seed, &["--index", "data/000_f4b32acec74ceaab.txt", "index"], 2, "is a file"),
        c("index folder not writable", Seed, &["--index", "/proc/qasearch-idx", "index"], 7, "/proc/qasearch-idx"),
        c("CURRENT garbage", Index(|i| std::fs::write(i.join("CURRENT"), "garbage").unwrap()), &["ask", Q], 4, "CURRENT"),
        c("CURRENT empty", Index(|i| std::fs::write(i.join("CURRENT"), "").unwrap()), &["ask", Q], 4, "CURRENT"),
        c("CURRENT points nowhere", Index(|i| std::fs::write(i.join("CURRENT"), "gen-000042 00000000\n").unwrap()), &["ask", Q], 4, "gen-000042"),
        c("manifest not JSON", Index(|i| {
            let dir = generation_dir(i);
            std::fs::write(dir.join("manifest.json"), b"{not json").unwrap();
            let name = dir.file_name().unwrap().to_string_lossy().to_string();
            std::fs::write(i.join("CURRENT"), format!("{name} {:08x}\n", crc32fast::hash(b"{not json"))).unwrap();
        }), &["ask", Q], 4, "manifest.json"),
        c("meta truncated", Index(|i| truncate(&generation_dir(i).join("meta.bin"))), &["ask", Q], 4, "meta.bin"),
        c("vectors one byte longer", Index(|i| {
            let p = generation_dir(i).join("vectors.f32");
            let mut b = std::fs::read(&p).unwrap();
            b.push(0);
            std::fs::write(p, b).unwrap();
        }), &["ask", Q], 4, "vectors.f32"),
        c("graph file deleted", Index(|i| std::fs::remove_file(generation_dir(i).join("graph.bin")).unwrap()), &["ask", Q], 4, "graph.bin"),
        c("graph file truncated", Index(|i| truncate(&generation_dir(i).join("graph.bin"))), &["ask", Q], 4, "graph.bin"),
        c("newer format version", Index(|i| rewrite_manifest(i, |v| v["format_version"] = serde_json::json!(99))), &["ask", Q], 4, "format version 99"),
        c("other model", Index(|i| rewrite_manifest(i, |v| v["model"]["tokenizer_sha256"] = serde_json::json!("ef".repeat(32)))), &["ask", Q], 4, "model"),
        c("manifest counts lie", Index(|i| rewrite_manifest(i, |v| v["counts"]["rows"] = serde_json::json!(5))), &["ask", Q], 4, "vectors.f32"),
        c("manifest lists no meta", Index(|i| rewrite_manifest(i, |v| { v["files"].as_object_mut().unwrap().remove("meta.bin"); })), &["ask", Q], 4, "meta.bin"),
        c("manifest names a path outside", Index(|i| rewrite_manifest(i, |v| { v["files"]["../../etc/passwd"] = serde_json::json!({"len": 1, "crc32": 0}); })), &["ask", Q], 4, "bad file name"),
        c("status on damaged index", Index(|i| std::fs::write(i.join("CURRENT"), "x").unwrap()), &["status"], 4, "CURRENT"),
        c("status on truncated meta", Index(|i| truncate(&generation_dir(i).join("meta.bin"))), &["status"], 4, "meta.bin"),
        c("CURRENT is a folder", Index(|i| { std::fs::remove_file(i.join("CURRENT")).unwrap(); std::fs::create_dir(i.join("CURRENT")).unwrap(); }), &["index"], 2, "CURRENT is a folder"),
        c("index folder holds other files", SeedPlus(&[("../idx/notes.md", b"mine")]), &["--index", "idx", "index"], 2, "did not make"),
        c("index folder inside data", Seed, &["--index", "data/idx", "index"], 2, "overlaps the data folder"),
        c("data folder inside index", Seed, &["--index", ".", "index"], 2, "overlaps the data folder"),
        // Model and runtime.
        c("runtime is not a library", Seed, &["--runtime", "data/000_f4b32acec74ceaab.txt", "ask", Q], 5, "cannot load ONNX Runtime"),
        c("runtime missing", Seed, &["--runtime", "/nope/libonnxruntime.so", "ask", Q], 5, "/nope/libonnxruntime.so"),
        c("runtime is a folder", Seed, &["--runtime", "data", "ask", Q], 5, "not a readable file"),
        c("model file missing", Seed, &["--model-file", "/nope/model.onnx", "ask", Q], 5, "/nope/model.onnx"),
        c("model file not ONNX", Seed, &["--model-file", "data/000_f4b32acec74ceaab.txt", "ask", Q], 5, "cannot load the model"),
        c("tokenizer folder empty", Seed, &["--tokenizer-dir", "data", "ask", Q], 5, "tokenizer.json"),
        c("no fetch and no files", Seed, &["--models", "empty-models", "--no-fetch", "ask", Q], 5, "model files missing"),
        c("no fetch, converted model: one message names every file", Seed, &["--models", "empty-models", "--model", "e5-small", "--no-fetch", "ask", Q], 5, "libonnxruntime.so.1.24.4, e5-small/model.onnx, e5-small/tokenizer.json"),
        c("files by hand with a converted model, before any fetch", Seed, &["--models", "empty-models", "--model", "e5-small", "--model-file", "/nope/model.onnx", "ask", Q], 5, "drop --model, or drop --model-file"),
        // Evaluation inputs.
        c("beir folder missing", Seed, &["eval", "--beir", "no-such-set"], 3, "no-such-set"),
        c("beir corpus without text", Files(&[
            ("set/corpus.jsonl", b"{\"_id\": \"a\"}\n"),
            ("set/queries.jsonl", b"{\"_id\": \"q\", \"text\": \"t\"}\n"),
            ("set/qrels/test.tsv", b"q\ta\t1\n"),
        ]), &["eval", "--beir", "data/set"], 3, "corpus.jsonl:1"),
        c("beir score not a number", Files(&[
            ("set/corpus.jsonl", b"{\"_id\": \"a\", \"text\": \"x\"}\n"),
            ("set/queries.jsonl", b"{\"_id\": \"q\", \"text\": \"t\"}\n"),
            ("set/qrels/test.tsv", b"q\ta\thigh\n"),
        ]), &["eval", "--beir", "data/set"], 3, "test.tsv:1: score \"high\""),
        c("questions file missing", Seed, &["eval", "--questions", "nope.tsv"], 3, "nope.tsv"),
        c("questions file two columns", SeedPlus(&[("q.tsv", b"Why?\tx.txt\n")]), &["eval", "--questions", "data/q.tsv"], 3, "q.tsv:1: expected 3"),
    ]
}

const BIG: &[u8] = {
    const N: usize = 200_000;
    const fn make() -> [u8; N] {
        let mut b = [b'a'; N];
        let head = b"P.\nWhat is long?\n";
        let mut i = 0;
        while i < head.len() {
            b[i] = head[i];
            i += 1;
        }
        let mut j = head.len();
        while j < N {
            if j.is_multiple_of(10) {
                b[j] = b' ';
            }
            j += 1;
        }
        b[N - 2] = b'.';
        b[N - 1] = b'\n';
        b
    }
    &make()
};

#[test]
fn every_bad_input_gets_its_documented_exit_code() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    // One index to copy for the index cases.
    let built = Work::seeded();
    built.index_ok();
    let mut failures = Vec::new();
    for case in &cases {
        let w = match &case.setup {
            Setup::Seed | Setup::Index(_) => Work::seeded(),
            Setup::Empty => Work::empty(),
            Setup::Files(files) | Setup::SeedPlus(files) => {
                let w = if matches!(case.setup, Setup::SeedPlus(_)) {
                    Work::seeded()
                } else {
                    Work::empty()
                };
                for (rel, bytes) in *files {
                    let p = w.data().join(rel);
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(p, bytes).unwrap();
                }
                w
            }
        };
        if let Setup::Index(damage) = &case.setup {
            copy_dir(&built.index(), &w.index());
            damage(&w.index());
        }
        std::fs::create_dir_all(w.dir.path().join("empty-models")).unwrap();
        let mut cmd = w.cmd();
        cmd.args(case.args);
        let r = match case.stdin {
            None => Run::from(cmd.output().unwrap()),
            Some(input) => {
                use std::io::Write;
                let mut child = cmd
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(input).unwrap();
                Run::from(child.wait_with_output().unwrap())
            }
        };
        // 0 and 10 ("no confident answer") are not errors: they answer on stdout.
        let answered = case.code == 0 || case.code == 10;
        let text = if answered { &r.stdout } else { &r.stderr };
        let ok = r.code == case.code
            && !r.stderr.contains("panicked")
            && text.contains(case.says)
            && (answered
                || r.stderr
                    .lines()
                    .any(|l| l.starts_with("qasearch: error") || l.starts_with("error:")));
        if !ok {
            failures.push(format!(
                "{}: expected exit {} saying {:?}, got {r:#?}",
                case.name, case.code, case.says
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
