//! The index loader on damaged files: never a panic, never a wrong answer.
//!
//! Input: byte 0 picks the file to replace (CURRENT, manifest.json, meta.bin,
//! vectors.f32, graph.bin, lexical.bin) and the mode; the rest is the file's
//! new content. Mode "raw" leaves the checksums alone (what damage on disk
//! looks like: it must be reported). Mode "resealed" rewrites the checksums so
//! that the bytes reach qasearch's own parsers behind them (CURRENT, manifest
//! JSON, bincode metadata, vector matrix, graph, lexical postings); a load may
//! then succeed, but must not panic, and neither may a search on what loads
//! nor reading the graph back as a rebuild does.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use qasearch::embed::HashEmbedder;
use qasearch::indexer::{self, IndexConfig, NoProgress};
use qasearch::search::{self, SearchConfig};
use qasearch::store;

const FILES: [&str; 6] = [
    "CURRENT",
    "manifest.json",
    "meta.bin",
    "vectors.f32",
    "graph.bin",
    "lexical.bin",
];

struct Fixture {
    _dir: tempfile::TempDir,
    index: PathBuf,
    gen: String,
    good: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // Panics inside the loader are caught and become errors, as in the binary.
        std::panic::set_hook(Box::new(|_| {}));
        let dir = tempfile::tempdir_in(if Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        })
        .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        for i in 0..6 {
            std::fs::write(
                data.join(format!("d{i}.txt")),
                format!(
                    "Doc {i}.\nWhat is topic{i}?\nTopic{i} means word{i}. It also means more{i}.\n"
                ),
            )
            .unwrap();
        }
        let index = dir.path().join("index");
        let mut e = HashEmbedder::new(8);
        let config = IndexConfig {
            hnsw: qasearch::ann::HnswParams {
                m: 4,
                ef_construction: 8,
                max_layer: 16,
            },
            ..IndexConfig::default()
        };
        indexer::build(&data, &index, &mut e, &config, &mut NoProgress).unwrap();
        let current = std::fs::read_to_string(index.join("CURRENT")).unwrap();
        let gen = current.split(' ').next().unwrap().to_string();
        let good: Vec<Vec<u8>> = FILES
            .iter()
            .map(|f| std::fs::read(path_of(&index, &gen, f)).unwrap())
            .collect();
        // Seed inputs for a new corpus: every file, raw and resealed.
        if let Some(seeds) = std::env::var_os("QASEARCH_FUZZ_SEEDS") {
            std::fs::create_dir_all(&seeds).unwrap();
            for (i, bytes) in good.iter().enumerate() {
                for mode in 0..2 {
                    let mut input = vec![(i + mode * FILES.len()) as u8];
                    input.extend_from_slice(bytes);
                    std::fs::write(
                        Path::new(&seeds).join(format!("{}-{mode}", FILES[i])),
                        input,
                    )
                    .unwrap();
                }
            }
        }
        Fixture {
            _dir: dir,
            index,
            gen,
            good,
        }
    })
}

fn path_of(index: &Path, gen: &str, file: &str) -> PathBuf {
    if file == "CURRENT" {
        index.join(file)
    } else {
        index.join(gen).join(file)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, content)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let which = pick as usize % FILES.len();
    let resealed = pick as usize / FILES.len() % 2 == 1;
    // Start from the good files.
    for (name, bytes) in FILES.iter().zip(&f.good) {
        std::fs::write(path_of(&f.index, &f.gen, name), bytes).unwrap();
    }
    std::fs::write(path_of(&f.index, &f.gen, FILES[which]), content).unwrap();
    let damaged = content != f.good[which].as_slice();
    if resealed && which >= 2 {
        // New length and CRC of the file in the manifest, new CRC of the manifest in CURRENT.
        let mpath = path_of(&f.index, &f.gen, "manifest.json");
        let mut m: serde_json::Value = serde_json::from_slice(&f.good[1]).unwrap();
        m["files"][FILES[which]] =
            serde_json::json!({"len": content.len(), "crc32": crc32fast::hash(content)});
        let bytes = serde_json::to_vec(&m).unwrap();
        std::fs::write(&mpath, &bytes).unwrap();
        std::fs::write(
            f.index.join("CURRENT"),
            format!("{} {:08x}\n", f.gen, crc32fast::hash(&bytes)),
        )
        .unwrap();
    } else if resealed && which == 1 {
        std::fs::write(
            f.index.join("CURRENT"),
            format!("{} {:08x}\n", f.gen, crc32fast::hash(content)),
        )
        .unwrap();
    }
    let opened = store::open(&f.index).inspect(|s| {
        // What a rebuild reads to extend the graph.
        let _ = s.graph.links();
    });
    match opened {
        Ok(snapshot) => {
            // Raw damage must always be caught.
            assert!(
                resealed || !damaged,
                "damage to {} was not detected",
                FILES[which]
            );
            let mut e = HashEmbedder::new(snapshot.dimension().max(1));
            let cfg = SearchConfig {
                top_k: 3,
                ..SearchConfig::default()
            };
            if snapshot.dimension() == 8 {
                let _ = search::ask(&snapshot, &mut e, "What is topic3?", &cfg);
                let _ = search::ask(
                    &snapshot,
                    &mut e,
                    "topic1",
                    &SearchConfig { exact: true, ..cfg },
                );
            }
        }
        Err(e) => assert_eq!(e.kind(), qasearch::error::ErrorKind::Index, "{e}"),
    }
});
