use super::*;
use crate::error::Error;
use std::collections::HashSet;

const SEED_LIKE: &str = "A news paragraph about things.\nWhat happened?\nThings happened. Then more.\nWhy did it happen?\nBecause of reasons.\n";

fn questions(p: &Parsed) -> Vec<&str> {
    p.documents
        .iter()
        .flat_map(|d| d.pairs.iter().map(|p| p.question.as_str()))
        .collect()
}

#[test]
fn parses_passage_and_pairs() {
    let p = parse_txt("a.txt", SEED_LIKE);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let d = &p.documents[0];
    assert_eq!(d.passage, "A news paragraph about things.");
    assert_eq!(questions(&p), ["What happened?", "Why did it happen?"]);
    assert_eq!(d.pairs[0].answer, "Things happened. Then more.");
    assert_eq!(d.pairs[0].line, 2);
    assert_eq!(d.pairs[1].line, 4);
}

#[test]
fn tolerates_crlf_blank_lines_trailing_spaces_and_bom() {
    let messy = "\u{FEFF}A news paragraph about things.  \r\n\r\n  What happened?   \r\n\r\nThings happened. Then more.\t\r\n\r\n\r\nWhy did it happen?\r\nBecause of reasons.   ";
    let clean = parse_txt("a.txt", SEED_LIKE);
    let p = parse_txt("a.txt", messy);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(p.documents[0].passage, clean.documents[0].passage);
    assert_eq!(
        p.documents[0].fingerprint(),
        clean.documents[0].fingerprint()
    );
    // A BOM as raw bytes is stripped by decode.
    let bytes = [b"\xEF\xBB\xBF".as_slice(), SEED_LIKE.as_bytes()].concat();
    assert_eq!(decode(&bytes).unwrap(), SEED_LIKE);
}

#[test]
fn question_without_answer_is_warned_and_skipped() {
    let p = parse_txt(
        "a.txt",
        "Passage.\nFirst?\nSecond?\nAnswer two.\nDangling?\n",
    );
    assert_eq!(questions(&p), ["Second?"]);
    assert_eq!(p.skipped.pairs, 2);
    let lines: Vec<_> = p.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [Some(2), Some(5)]);
    assert!(p.warnings[0]
        .to_string()
        .starts_with("a.txt:2: question without an answer"));
}

#[test]
fn multi_line_answer_continues() {
    let p = parse_txt("a.txt", "P.\nQ?\nLine one.\nLine two.\nQ2?\nA2.");
    assert_eq!(p.documents[0].pairs[0].answer, "Line one.\nLine two.");
    assert_eq!(p.documents[0].pairs.len(), 2);
}

#[test]
fn file_without_pairs_warns() {
    let p = parse_txt("a.txt", "Just a paragraph.\nAnd another.");
    assert!(p.documents.is_empty());
    assert_eq!(p.warnings.len(), 1);
    let p = parse_txt("e.txt", "");
    assert!(p.documents.is_empty());
}

#[test]
fn not_utf8_reports_line() {
    assert_eq!(decode(b"ok\nfine\n\xff\xfe bad"), Err(3));
    assert_eq!(decode(b"\xEF\xBB\xBFok"), Ok("ok"));
}

#[test]
fn jsonl_documents_and_bad_lines() {
    let text = concat!(
        r#"{"id": "d1", "passage": "P one.", "qa": [{"question": "Q1?", "answer": "A1."}, {"question": "Q2?"}]}"#,
        "\n\n",
        "{not json\n",
        r#"{"id": 7, "qa": [{"question": "Q3?", "answer": "A3."}]}"#,
        "\r\n",
        r#"{"id": "d1", "qa": [{"question": "Q4?", "answer": "A4."}]}"#,
        "\n",
        r#"{"id": "empty", "qa": []}"#,
    );
    let p = parse_jsonl("x.jsonl", text);
    let keys: Vec<_> = p.documents.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["x.jsonl#d1", "x.jsonl#7", "x.jsonl#L5"]);
    assert_eq!(questions(&p), ["Q1?", "Q3?", "Q4?"]);
    assert_eq!(p.skipped.lines, 2);
    assert_eq!(p.skipped.pairs, 1);
    let at: Vec<_> = p.warnings.iter().map(|w| w.line.unwrap()).collect();
    assert_eq!(at, [1, 3, 5, 6]);
    assert_eq!(p.documents[0].passage, "P one.");
}

#[test]
fn load_walks_recursively_and_skips_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(root.join(".hidden")).unwrap();
    std::fs::write(root.join("a.txt"), SEED_LIKE).unwrap();
    std::fs::write(root.join("sub/deeper/b.TXT"), SEED_LIKE).unwrap();
    std::fs::write(root.join(".hidden/c.txt"), SEED_LIKE).unwrap();
    std::fs::write(root.join("notes.pdf"), SEED_LIKE).unwrap();
    std::fs::write(root.join("bad.txt"), b"P.\nQ?\n\xff\n").unwrap();
    let c = load(root).unwrap();
    let keys: Vec<_> = c.documents.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["a.txt", "sub/deeper/b.TXT"]);
    assert_eq!(c.skipped.files, 1);
    assert_eq!(c.unsupported, ["notes.pdf"]);
    assert_eq!(c.warnings[0].file, "notes.pdf");
    assert!(
        c.warnings[0]
            .message
            .contains("1 file of a type qasearch does not read (notes.pdf)")
            && c.warnings[0].message.contains(".csv"),
        "{}",
        c.warnings[0]
    );
    assert_eq!(c.warnings[1].file, "bad.txt");
    assert_eq!(c.warnings[1].line, Some(3));
    assert_eq!(c.formats["txt"].files, 2, "bad.txt is not read");
    assert_eq!(c.formats["txt"].pairs, 4);
    assert_eq!(c.files.len(), 3);
    assert_eq!(c.pair_count(), 4);
}

#[cfg(unix)]
#[test]
fn symlinks_outside_are_skipped_inside_are_read_once() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), SEED_LIKE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.txt"), SEED_LIKE).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("linkdir")).unwrap();
    std::os::unix::fs::symlink(root.join("a.txt"), root.join("z_same.txt")).unwrap();
    let c = load(root).unwrap();
    let keys: Vec<_> = c.documents.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["a.txt"]);
    assert_eq!(c.skipped.files, 2, "{:?}", c.warnings);
}

#[test]
fn lone_carriage_returns_end_lines() {
    let p = parse_txt("mac.txt", "P.\rWhat is one?\rOne.\rWhat is two?\rTwo.\r");
    assert_eq!(questions(&p), ["What is one?", "What is two?"]);
    assert_eq!(p.documents[0].pairs[1].answer, "Two.");
    assert_eq!(p.documents[0].pairs[1].line, 4);
    let mixed: Vec<_> = lines("a\r\nb\rc\nd").collect();
    assert_eq!(mixed, [(1, "a"), (2, "b"), (3, "c"), (4, "d")]);
    let p = parse_jsonl(
        "d.jsonl",
        "{\"id\": 1, \"qa\": [{\"question\": \"Q?\", \"answer\": \"A.\"}]}\r{\"id\": 2, \"qa\": [{\"question\": \"Q2?\", \"answer\": \"B.\"}]}",
    );
    assert_eq!(p.documents.len(), 2, "{:?}", p.warnings);
}

#[test]
fn question_marks_of_other_scripts_end_questions() {
    let p = parse_txt(
        "ar.txt",
        "فقرة.\nما هو الهدف؟\nالهدف هو السلام.\n这是什么？\n这是一本书。\n",
    );
    assert_eq!(questions(&p), ["ما هو الهدف؟", "这是什么？"]);
    assert_eq!(p.documents[0].pairs[1].answer, "这是一本书。");
}

#[test]
fn warnings_quote_at_most_an_excerpt() {
    let long = format!("{}?", "why ".repeat(250_000));
    let p = parse_txt("a.txt", &format!("P.\n{long}\n"));
    let w = p.warnings[0].to_string();
    assert!(w.len() < 400, "{} bytes", w.len());
    assert!(w.contains("bytes in all"), "{w}");
}

#[test]
fn keys_are_made_unique_deterministically() {
    let mut keys: Vec<String> = ["a", "b", "a", "a~2", "a"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    make_unique(&mut keys);
    assert_eq!(keys, ["a", "b", "a~3", "a~2", "a~4"]);
    let set: HashSet<_> = keys.iter().collect();
    assert_eq!(set.len(), keys.len());
}

#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_keep_apart() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    for b in [0xe9u8, 0xe8] {
        let bytes = [b'c', b, b'.', b't', b'x', b't'];
        std::fs::write(
            dir.path().join(std::ffi::OsStr::from_bytes(&bytes)),
            SEED_LIKE,
        )
        .unwrap();
    }
    let c = load(dir.path()).unwrap();
    let keys: Vec<_> = c.documents.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["c\\xe8.txt", "c\\xe9.txt"]);
}

#[test]
fn missing_folder_is_an_error() {
    let err = load(Path::new("/definitely/not/here")).unwrap_err();
    assert!(matches!(err, Error::DataMissing { .. }));
}

#[test]
fn a_numbered_heading_without_a_question_mark_is_read_as_a_question_and_reported() {
    // The zlib FAQ's shape: numbered entries, one a statement.
    let text = "zlib FAQ\n\n1. Is zlib Y2K-compliant?\n\nYes. zlib doesn't handle dates.\n\n2. Where can I get a Windows DLL?\n\nSee the contrib folder.\nSteps:\n\n3. compress() returns Z_BUF_ERROR.\n\nMake sure that before the call of compress(),\nthe length of the output buffer is large enough.\n";
    let p = parse_txt("zlib.txt", text);
    assert_eq!(
        questions(&p),
        [
            "1. Is zlib Y2K-compliant?",
            "2. Where can I get a Windows DLL?",
            "3. compress() returns Z_BUF_ERROR."
        ]
    );
    let d = &p.documents[0];
    assert_eq!(d.pairs[1].answer, "See the contrib folder.\nSteps:");
    assert_eq!(d.pairs[2].line, 12);
    assert_eq!(
        d.pairs[2].answer,
        "Make sure that before the call of compress(),\nthe length of the output buffer is large enough."
    );
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert_eq!(p.warnings[0].line, Some(12));
    assert!(p.warnings[0].message.contains("does not end with '?'"));
    // Wrapped lines are one sentence; the line break stays in the answer.
    assert_eq!(split::sentence_strs(&d.pairs[2].answer).len(), 1);
    // A numbered step inside an answer that does not continue the
    // questions' numbering stays in the answer, as do `Q:` lines only when marked.
    let steps = parse_txt(
        "s.txt",
        "1. How do I start?\n1. Plug it in.\n2. Press the button.\n2. Why?\nBecause.\n",
    );
    assert_eq!(questions(&steps), ["1. How do I start?", "2. Why?"]);
    assert!(steps.warnings.is_empty(), "{:?}", steps.warnings);
    let marked = parse_txt("m.txt", "Q: How do I reset it\nHold the button.\n");
    assert_eq!(questions(&marked), ["Q: How do I reset it"]);
    assert_eq!(marked.warnings.len(), 1);
}

#[test]
fn the_passage_keeps_its_first_line_and_paragraphs() {
    let p = parse_txt(
        "a.txt",
        "\n\nFirst paragraph,\nwrapped.\n\nSecond one.\nWhat?\nThat.\n\nMore.\n",
    );
    let d = &p.documents[0];
    assert_eq!(d.passage_line, 3);
    assert_eq!(d.passage, "First paragraph,\nwrapped.\n\nSecond one.");
    assert_eq!(d.pairs[0].answer, "That.\n\nMore.");
}

#[test]
fn jsonl_pairs_a_line_each_at_its_line_with_metadata() {
    let text = "{\"question\": \"Why?\", \"answer\": \"Because.\", \"category\": \"billing\", \"tags\": [\"a\", \"b\"]}\n\n{\"question\": \"How?\", \"answer\": \"So.\"}\n{\"question\": \"Half?\"}\n{\"id\": \"d\", \"product\": \"x\", \"passage\": \"P.\", \"qa\": [{\"question\": \"Q?\", \"answer\": \"A.\", \"url\": \"u\"}]}\n";
    let p = parse_jsonl("f.jsonl", text);
    assert_eq!(p.skipped.pairs, 1);
    assert_eq!(p.warnings[0].line, Some(4));
    let loose = p.documents.iter().find(|d| d.key == "f.jsonl").unwrap();
    let lines: Vec<usize> = loose.pairs.iter().map(|p| p.line).collect();
    assert_eq!(lines, [1, 3]);
    let meta = |p: &QaPair| -> Vec<(String, String)> { p.meta.clone() };
    assert_eq!(
        meta(&loose.pairs[0]),
        [
            ("category".into(), "billing".into()),
            ("tags".into(), "a".into()),
            ("tags".into(), "b".into())
        ]
    );
    let doc = p.documents.iter().find(|d| d.key == "f.jsonl#d").unwrap();
    assert_eq!(
        meta(&doc.pairs[0]),
        [("product".into(), "x".into()), ("url".into(), "u".into())],
        "the document's fields, then the pair's"
    );
    // Metadata is content: changing it changes the fingerprint.
    let other = parse_jsonl("f.jsonl", &text.replace("billing", "sales"));
    let fp = |p: &Parsed| {
        p.documents
            .iter()
            .find(|d| d.key == "f.jsonl")
            .unwrap()
            .fingerprint()
    };
    assert_ne!(fp(&p), fp(&other));
}
