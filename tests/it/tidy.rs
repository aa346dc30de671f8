//! The codebase's own rules (docs/architecture.md), checked on every run as
//! rust-analyzer's tidy tests do: no import runs up the pipeline, no function
//! over 100 lines, no file over 800.

use std::path::{Path, PathBuf};

/// The library's folders, lowest first; a folder imports only lower ones.
const LAYERS: &[(&str, usize)] = &[
    ("error", 0),
    ("safe_fs", 0),
    ("progress", 0),
    ("corpus", 1),
    ("model", 2),
    ("index", 3),
    ("store", 4),
    ("search", 5),
    ("indexer", 6),
    ("engine", 7),
    ("eval", 8),
    ("serve", 8),
];

fn layer(name: &str) -> Option<usize> {
    LAYERS.iter().find(|(n, _)| *n == name).map(|&(_, l)| l)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> (PathBuf, Vec<PathBuf>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    (root, files)
}

/// The code before a file's test module (tests may reach up for fixtures).
fn code_of(path: &Path) -> Option<String> {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    Some(text[..end].to_string())
}

#[test]
fn no_import_runs_up_the_pipeline() {
    let (root, files) = src();
    let mut upward = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&root).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let Some(own) = layer(top.trim_end_matches(".rs")) else {
            continue; // lib.rs, main.rs, cli/: the binary may use anything
        };
        let Some(code) = code_of(path) else { continue };
        for (n, line) in code.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (at, _) in code.match_indices("crate::") {
                let name: String = code[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if layer(&name).is_some_and(|l| l > own) {
                    upward.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports up the pipeline:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_function_or_file_is_too_long() {
    let (root, files) = src();
    let mut long = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > 800 {
            long.push(format!("{rel}: {} lines", lines.len()));
        }
        for (i, line) in lines.iter().enumerate() {
            let body = line.trim_start();
            let indent = &line[..line.len() - body.len()];
            let body = ["pub(crate) ", "pub(super) ", "pub ", "async ", "unsafe "]
                .iter()
                .fold(body, |b, p| b.strip_prefix(p).unwrap_or(b));
            if !body.starts_with("fn ") || line.trim_end().ends_with(';') {
                continue;
            }
            let close = format!("{indent}}}");
            if let Some(end) = lines[i + 1..].iter().position(|l| *l == close) {
                if end + 2 > 100 {
                    long.push(format!("{rel}:{}: a function of {} lines", i + 1, end + 2));
                }
            }
        }
    }
    assert!(long.is_empty(), "too long:\n{}", long.join("\n"));
}
