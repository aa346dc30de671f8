//! Where the time of a small update goes as the corpus grows: a synthetic
//! corpus of N pairs (a question and a two-sentence answer each, ten pairs to
//! a document) is built once, then one pair's answer is changed, and one
//! document added and one removed; each update is timed phase by phase
//! (the build's own laps, `qasearch::indexer::LAP_TARGET`).
//!
//! The model is left out (the issue's "excluding the model load"): texts are
//! embedded by the hash embedder (384 dimensions), which costs microseconds,
//! so what is measured is everything else an update does. The real model
//! adds about 15 ms for the three to five texts of one pair.
//!
//! ```sh
//! cargo bench --bench update                       # 10,000 pairs
//! cargo bench --bench update -- --pairs 10000,100000
//! ```

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use qasearch::indexer::{self, IndexConfig};
use qasearch::model::embed::HashEmbedder;
use qasearch::progress::NoProgress;

mod common;

/// The laps the build said, in order.
static LAPS: Mutex<Vec<(String, f64)>> = Mutex::new(Vec::new());

struct Laps;
impl log::Log for Laps {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == indexer::LAP_TARGET
    }
    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let text = r.args().to_string();
        if let Some((phase, ms)) = text.rsplit_once(": ") {
            let ms: f64 = ms.trim_end_matches(" ms").parse().unwrap_or(f64::NAN);
            LAPS.lock().unwrap().push((phase.to_string(), ms));
        }
    }
    fn flush(&self) {}
}

const WORDS: [&str; 48] = [
    "harbour",
    "library",
    "orchard",
    "bakery",
    "museum",
    "railway",
    "vineyard",
    "bridge",
    "market",
    "school",
    "river",
    "forest",
    "garden",
    "tower",
    "castle",
    "village",
    "ferry",
    "telescope",
    "statue",
    "oven",
    "train",
    "harvest",
    "map",
    "lamp",
    "opened",
    "closed",
    "renewed",
    "moved",
    "painted",
    "repaired",
    "sold",
    "built",
    "north",
    "south",
    "east",
    "west",
    "winter",
    "spring",
    "summer",
    "autumn",
    "early",
    "late",
    "quietly",
    "slowly",
    "twice",
    "again",
    "often",
    "rarely",
];

fn sentence(rng: &mut common::Rng, n: usize) -> String {
    let words: Vec<&str> = (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect();
    let mut s = words.join(" ");
    s[..1].make_ascii_uppercase();
    s
}

fn document(d: usize, rng: &mut common::Rng) -> String {
    let mut text = format!("Record book {d}. {}.\n", sentence(rng, 12));
    for p in 0..10 {
        text.push_str(&format!(
            "What does record {d}-{p} say about the {}?\n{}. {} in year {}.\n",
            WORDS[rng.below(24)],
            sentence(rng, 10),
            sentence(rng, 8),
            1900 + rng.below(120)
        ));
    }
    text
}

fn update(data: &Path, index: &Path, embedder: &mut HashEmbedder) -> (f64, Vec<(String, f64)>) {
    LAPS.lock().unwrap().clear();
    let t = Instant::now();
    let config = IndexConfig::default();
    indexer::build(data, index, embedder, &config, &mut NoProgress).unwrap();
    let total = t.elapsed().as_secs_f64() * 1e3;
    (total, std::mem::take(&mut *LAPS.lock().unwrap()))
}

fn main() {
    log::set_logger(&Laps).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .iter()
        .position(|a| a == "--pairs")
        .and_then(|i| args.get(i + 1))
        .map_or(vec![10_000], |v| {
            v.split(',').filter_map(|n| n.parse().ok()).collect()
        });
    let mut embedder = HashEmbedder::new(384);
    for pairs in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let (data, index) = (tmp.path().join("data"), tmp.path().join("index"));
        std::fs::create_dir(&data).unwrap();
        let mut rng = common::Rng(7);
        let docs = pairs.div_ceil(10);
        for d in 0..docs {
            std::fs::write(data.join(format!("doc{d:06}.txt")), document(d, &mut rng)).unwrap();
        }
        let (full, _) = update(&data, &index, &mut embedder);
        let disk: u64 = walkdir::WalkDir::new(&index)
            .into_iter()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
        println!(
            "\n{pairs} pairs ({docs} documents): full build {:.1} s, index {:.0} MB",
            full / 1e3,
            disk as f64 / 1e6
        );
        // One pair's answer changed.
        let victim = data.join(format!("doc{:06}.txt", docs / 2));
        let text = std::fs::read_to_string(&victim).unwrap();
        std::fs::write(
            &victim,
            text.replacen("?\n", "?\nChanged by the bench. ", 1),
        )
        .unwrap();
        let one = update(&data, &index, &mut embedder);
        // One document added, one removed.
        std::fs::write(data.join("added.txt"), document(docs, &mut rng)).unwrap();
        std::fs::remove_file(data.join("doc000000.txt")).unwrap();
        let add_remove = update(&data, &index, &mut embedder);
        let nothing = update(&data, &index, &mut embedder);
        println!("| phase | 1 pair changed (ms) | 1 document added, 1 removed (ms) |");
        println!("|---|---|---|");
        for (phase, ms) in &one.1 {
            let other = add_remove
                .1
                .iter()
                .find(|(p, _)| p == phase)
                .map_or(f64::NAN, |l| l.1);
            println!("| {phase} | {ms:.1} | {other:.1} |");
        }
        println!(
            "| **total** | **{:.1}** | **{:.1}** |\nnothing changed: {:.1} ms",
            one.0, add_remove.0, nothing.0
        );
    }
}
