//! Where the time of a small update goes as the corpus grows: a synthetic
//! corpus of N pairs (a question and a two-sentence answer each, ten pairs to
//! a document) is built once, then one pair's answer is changed, and one
//! document added and one removed; each update is timed phase by phase
//! (the build's own laps, `qasearch::indexer::LAP_TARGET`).
//!
//! The corpus's words are drawn from the unigram distribution of the shared
//! English sets' text (`words.rs`); `--vocabulary 48` draws them from the 48
//! words of the runs before 2026-12-06's 21st session (and of the indexes
//! they kept), where each question word is in a fifth of the answers.
//!
//! The model is left out (the issue's "excluding the model load"): texts are
//! embedded at the cost of a hash, so what is measured is everything else
//! an update does (the real model adds about 15 ms for the three to five
//! texts of one pair). Their vectors are drawn around the default model's
//! vectors of the shared sets' texts (`cloud.rs`: a real model's geometry,
//! so that the graphs' recall and walks are those of real vectors);
//! `--vectors hash` embeds with the hash embedder, as the runs before the
//! 21st session did (an index kept by one kind is rebuilt by the other).
//!
//! ```sh
//! cargo bench --bench update                       # 10,000 pairs
//! cargo bench --bench update -- --pairs 10000,100000
//! # warm questions only, against an index kept in DIR (built by the first
//! # run; later runs, of this build or another, only ask):
//! cargo bench --bench update -- --pairs 300000 --keep DIR
//! # the same, then the updates timed on a copy of the kept index:
//! cargo bench --bench update -- --pairs 300000 --keep DIR --update
//! # each update from a cold page cache (as the morning after; needs root
//! # to write /proc/sys/vm/drop_caches, else says so and runs warm):
//! cargo bench --bench update -- --pairs 300000 --keep DIR --update --cold
//! # the updates alone (no questions first: the runs to profile or repeat):
//! cargo bench --bench update -- --pairs 300000 --keep DIR --update --no-questions
//! # the same updates again on other documents, N rounds in one process
//! # (the later rounds with the page cache as the earlier left it):
//! cargo bench --bench update -- --pairs 300000 --keep DIR --update --no-questions --rounds 3
//! # each of those updates in a process of its own, as `qasearch index`
//! # runs one (this bench again, `--one-update`; the embedder's load left out):
//! cargo bench --bench update -- --pairs 300000 --keep DIR --update --no-questions --own-process
//! # questions of the kept index, then of the updated one (graphs patched):
//! cargo bench --bench update -- --pairs 300000 --keep DIR --update --questions-after
//! # recall@10 of the answers' graph for questions from outside, at the
//! # build check's breadth and at `ask`'s:
//! cargo bench --bench update -- --pairs 1000000 --keep DIR --no-questions --recall
//! # what the default model adds to each warm question:
//! cargo bench --bench update -- --pairs 10000 --keep DIR --no-questions --model-time
//! # a question as `ask` asks it (the engine opened, the data folder checked
//! # for changes, one question, the process's end), vectors mapped as `ask`
//! # maps them and read as `serve` reads them, alternated R rounds (`--ask
//! # mapped`: the first way alone, for a new process each time):
//! cargo bench --bench update -- --pairs 1000000 --keep DIR --no-questions --ask --rounds 3
//! ```

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use qasearch::indexer::{self, IndexConfig};
use qasearch::model::embed::Embedder;
use qasearch::progress::NoProgress;
use qasearch::search::views::View;
use qasearch::search::{self, SearchConfig};

mod cloud;
mod common;
mod words;

/// Drop the page cache before each timed update (`--cold`).
static COLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Run each timed update in a process of its own (`--own-process`), as
/// `qasearch index` runs one: this bench again, told `--one-update`.
static OWN_PROCESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Empties the page cache (root only); says so once when it cannot.
fn drop_caches() {
    let _ = std::process::Command::new("sync").status();
    if let Err(e) = std::fs::write("/proc/sys/vm/drop_caches", "3") {
        eprintln!("  --cold: cannot drop the page cache ({e}): this update runs warm");
    }
}

/// The laps the build said, in order.
static LAPS: Mutex<Vec<(String, f64)>> = Mutex::new(Vec::new());

struct Laps;
impl log::Log for Laps {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == indexer::LAP_TARGET
            || (m.level() <= log::Level::Info && m.target().starts_with("qasearch"))
            || m.target() == "qasearch::indexer::generation"
            || m.target() == "qasearch::store::segments"
    }
    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        if r.target() != indexer::LAP_TARGET {
            // What the build decided (a graph rebuilt, calibration refitted).
            eprintln!("  {}: {}", r.level(), r.args());
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

fn sentence(rng: &mut common::Rng, n: usize) -> String {
    let words: Vec<&str> = (0..n).map(|_| words::word(rng)).collect();
    let mut s = words.join(" ");
    s[..1].make_ascii_uppercase();
    s
}

fn document(d: usize, rng: &mut common::Rng) -> String {
    let mut text = format!("Record book {d}. {}.\n", sentence(rng, 12));
    for p in 0..10 {
        let question = format!(
            "What does record {d}-{p} say about the {}?",
            words::topic(rng)
        );
        let answer = format!(
            "{}. {} in year {}.",
            sentence(rng, 10),
            sentence(rng, 8),
            1900 + rng.below(120)
        );
        let (question, answer) = words::some_repeated(rng, question, answer);
        text.push_str(&format!("{question}\n{answer}\n"));
    }
    text
}

/// One build: its time (ms), its laps, how it made the graph, and the
/// process's peak resident memory while it ran (MB; Linux only).
struct Update {
    total: f64,
    laps: Vec<(String, f64)>,
    graph: &'static str,
    peak_mb: Option<f64>,
    /// The most memory of the process's own (`RssAnon`: not the page
    /// cache its mapped files share), sampled every 10 ms, MB.
    private_mb: Option<f64>,
    /// Corpus files read (the others' documents taken from the index).
    read: usize,
}

fn update(data: &Path, index: &Path, embedder: &mut dyn Embedder) -> Update {
    if COLD.load(std::sync::atomic::Ordering::Relaxed) {
        drop_caches();
    }
    if OWN_PROCESS.load(std::sync::atomic::Ordering::Relaxed) {
        return update_in_own_process(data, index);
    }
    LAPS.lock().unwrap().clear();
    // The kernel's high-water mark of resident memory starts again here.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let t = Instant::now();
    let config = IndexConfig::default();
    let sampling = std::sync::atomic::AtomicBool::new(true);
    let (summary, private_mb) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut most = status_mb("RssAnon:");
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                let now = status_mb("RssAnon:");
                most = match (most, now) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            most
        });
        let built = indexer::build(data, index, embedder, &config, &mut NoProgress);
        sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        (built.unwrap().0, sampler.join().unwrap())
    });
    Update {
        total: t.elapsed().as_secs_f64() * 1e3,
        laps: std::mem::take(&mut *LAPS.lock().unwrap()),
        graph: summary.graph,
        peak_mb: status_mb("VmHWM:"),
        private_mb,
        read: (summary.formats.values().map(|f| f.files).sum::<usize>())
            .saturating_sub(summary.files_unread),
    }
}

/// [`update`] in a new process of this bench (`--one-update DATA INDEX`,
/// with the parent's `--vectors`): what `qasearch index` pays that updates
/// following each other in one process do not (memory new to the process,
/// the opening's files mapped afresh). Its time is the child's own, from
/// its build's start to its end (the embedder's load left out).
fn update_in_own_process(data: &Path, index: &Path) -> Update {
    let args: Vec<String> = std::env::args().collect();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child.arg("--one-update").arg(data).arg(index);
    if let Some(i) = args.iter().position(|a| a == "--vectors") {
        child.args(&args[i..(i + 2).min(args.len())]);
    }
    // Its log (what the build decided, an error) goes where this bench's
    // goes, as an update in this process would say it; its stdout is read.
    let out = child
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "--one-update failed ({}): {text}",
        out.status
    );
    let mut done = None;
    let mut laps = Vec::new();
    let number = |s: &str| s.parse::<f64>().ok();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[..] {
            ["lap", phase, ms] => laps.push((phase.to_string(), number(ms).unwrap_or(f64::NAN))),
            ["done", total, graph, peak, private, read] => {
                done = Some(Update {
                    total: number(total).unwrap_or(f64::NAN),
                    laps: Vec::new(),
                    graph: Box::leak(graph.to_string().into_boxed_str()),
                    peak_mb: number(peak),
                    private_mb: number(private),
                    read: read.parse().unwrap_or(0),
                })
            }
            _ => {}
        }
    }
    let mut done = done.unwrap_or_else(|| panic!("--one-update said no result: {text}"));
    done.laps = laps;
    done
}

/// `--one-update DATA INDEX`: one update, told to the parent
/// ([`update_in_own_process`]) a line a lap, then its totals.
fn one_update(data: &Path, index: &Path, embedder: &mut dyn Embedder) {
    let u = update(data, index, embedder);
    for (phase, ms) in &u.laps {
        println!("lap\t{phase}\t{ms}");
    }
    let mb = |v: Option<f64>| v.map_or("-".to_string(), |v| v.to_string());
    println!(
        "done\t{}\t{}\t{}\t{}\t{}",
        u.total,
        u.graph,
        mb(u.peak_mb),
        mb(u.private_mb),
        u.read
    );
}

/// A line of this process's status (`VmHWM:`, `RssAnon:`), MB.
fn status_mb(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1e3)
}

/// What a user of the index meets first: opening it and answering one
/// question (the model left out: its load is the same at any size), ms;
/// and the graphs' recall@10 against exact search as the build measured it.
fn first_question(index: &Path, embedder: &mut dyn Embedder) -> String {
    let t = Instant::now();
    let snapshot = qasearch::store::open(index).unwrap();
    let q = "What does record 7-3 say about the harbour?";
    let v = embedder.embed_batch(&[q]).unwrap().remove(0);
    let m = &snapshot.manifest;
    let config = SearchConfig::default();
    let min = m.abstention.min_score;
    search::retrieve(&snapshot, &v, q, None, &config, &m.fusion, min).unwrap();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let recall = |r: Option<f64>| r.map_or("–".into(), |r| format!("{r:.3}"));
    format!(
        "open + first question {ms:.0} ms; recall@10 as built: main graph {}, stored questions {}, passages {}",
        recall(m.graph_recall),
        recall(m.question_graph_recall),
        recall(m.passage_graph_recall)
    )
}

fn p50_p95(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((p * (ms.len() - 1) as f64).round() as usize).min(ms.len() - 1)];
    (at(0.5), at(0.95))
}

/// Warm questions against the built index, each view timed alone: stored
/// questions reworded (they land in the crowd of questions of one template)
/// and answer sentences (they land among answers).
fn warm_questions(index: &Path, docs: usize, embedder: &mut dyn Embedder) {
    let snapshot = qasearch::store::open(index).unwrap();
    let config = SearchConfig::default();
    let mut rng = common::Rng(99);
    let mut kinds: Vec<(&str, Vec<String>)> =
        vec![("template question", vec![]), ("answer-like", vec![])];
    for _ in 0..200 {
        let (d, p) = (rng.below(docs), rng.below(10));
        kinds[0].1.push(format!(
            "What does record {d}-{p} say about the {}?",
            words::topic(&mut rng)
        ));
        kinds[1].1.push(format!(
            "{} in year {}",
            sentence(&mut rng, 8),
            1900 + rng.below(120)
        ));
    }
    println!("| warm question, p50 / p95 ms | answers view | questions view | passage view | lexical | every view, fused |");
    println!("|---|---|---|---|---|---|");
    for (kind, questions) in kinds {
        let mut ms: [Vec<f64>; 5] = Default::default();
        for q in &questions {
            let v = embedder.embed_batch(&[q.as_str()]).unwrap().remove(0);
            for (i, view) in [View::Answers, View::Questions, View::Passage, View::Lexical]
                .into_iter()
                .enumerate()
            {
                let t = Instant::now();
                search::view(&snapshot, &v, q, view, &config).unwrap();
                ms[i].push(t.elapsed().as_secs_f64() * 1e3);
            }
            let t = Instant::now();
            let m = &snapshot.manifest;
            search::retrieve(
                &snapshot,
                &v,
                q,
                None,
                &config,
                &m.fusion,
                m.abstention.min_score,
            )
            .unwrap();
            ms[4].push(t.elapsed().as_secs_f64() * 1e3);
        }
        let cells: Vec<String> = ms
            .into_iter()
            .map(|m| {
                let (a, b) = p50_p95(m);
                format!("{a:.2} / {b:.2}")
            })
            .collect();
        println!("| {kind} | {} |", cells.join(" | "));
    }
}

/// Recall@10 of the answers' graph for questions from outside the corpus
/// (`--recall`): the first 100 answer-like questions of [`warm_questions`],
/// against an exact scan of the graph's rows, at the breadth the recall
/// check of a build uses (128) and at the one `ask` searches with
/// ([`SearchConfig::ef_for`] the index's rows). The recall "as built"
/// that a build records is that check's, over rows of the graph itself.
fn recall_at_breadth(index: &Path, docs: usize, embedder: &mut dyn Embedder) {
    let snapshot = qasearch::store::open(index).unwrap();
    let dim = snapshot.manifest.model.settings.dimension;
    let vectors = snapshot.vectors();
    let rows = vectors.len() / dim;
    let mut side = vec![false; rows];
    for &r in (snapshot.meta.question_rows().iter()).chain(snapshot.meta.passage_rows()) {
        side[r as usize] = true;
    }
    let mut rng = common::Rng(99);
    let queries: Vec<Vec<f32>> = (0..100)
        .map(|_| {
            let _ = (rng.below(docs), rng.below(10), words::topic(&mut rng));
            let q = format!(
                "{} in year {}",
                sentence(&mut rng, 8),
                1900 + rng.below(120)
            );
            embedder.embed_batch(&[q.as_str()]).unwrap().remove(0)
        })
        .collect();
    let t = Instant::now();
    let exact: Vec<Vec<(f32, usize)>> = std::thread::scope(|s| {
        let halves: Vec<_> = (queries.chunks(queries.len().div_ceil(2)))
            .map(|chunk| {
                let side = &side;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|q| exact_top10(vectors, dim, q, side))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let scanned = t.elapsed().as_secs_f64();
    let asked = SearchConfig::default().ef_for(snapshot.manifest.counts.rows);
    let mut cells = Vec::new();
    for ef in [128, asked, 512, 1024] {
        // Rows found, and hits scoring at least the exact tenth (a tie).
        let (mut found, mut as_good) = (0, 0);
        let mut ms = Vec::new();
        for (q, exact) in queries.iter().zip(&exact) {
            let t = Instant::now();
            let hits = snapshot.graph.search(vectors, dim, q, 10, ef, None);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            found += (hits.iter())
                .filter(|h| exact.iter().any(|e| e.1 == h.row))
                .count();
            let tenth = exact.last().map_or(f32::MIN, |e| e.0);
            as_good += hits.iter().filter(|h| h.score >= tenth - 1e-6).count();
        }
        let total: usize = exact.iter().map(Vec::len).sum();
        let (p50, _) = p50_p95(ms);
        cells.push(format!(
            "ef {ef}: {:.3}, ties as hits {:.3} ({p50:.2} ms p50)",
            found as f64 / total as f64,
            as_good as f64 / total as f64
        ));
    }
    println!(
        "recall@10 of the answers' graph, 100 answer-like questions against an exact scan ({:.0} s): {} (`ask` searches at ef {asked})",
        scanned,
        cells.join(", ")
    );
}

/// The 10 rows nearest `q` by an exact scan of the rows not on `side`,
/// with their scores, best first.
fn exact_top10(vectors: &[f32], dim: usize, q: &[f32], side: &[bool]) -> Vec<(f32, usize)> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(11);
    for (row, v) in vectors.chunks_exact(dim).enumerate() {
        if side[row] {
            continue;
        }
        let score: f32 = v.iter().zip(q).map(|(a, b)| a * b).sum();
        if best.len() < 10 || score > best[best.len() - 1].0 {
            let at = best.partition_point(|b| b.0 >= score);
            best.insert(at, (score, row));
            best.truncate(10);
        }
    }
    best
}

/// What the default model adds to a warm question (`--model-time`): the
/// answer-like questions of [`warm_questions`] embedded one at a time as
/// `ask` embeds them, after ten to warm up.
fn model_question_time(docs: usize) {
    use qasearch::model::embed::{Role, Workload};
    let mut model = common::embedder(Workload::Interactive);
    let mut rng = common::Rng(99);
    let questions: Vec<String> = (0..200)
        .map(|_| {
            let _ = (rng.below(docs), rng.below(10), words::topic(&mut rng));
            format!(
                "{} in year {}",
                sentence(&mut rng, 8),
                1900 + rng.below(120)
            )
        })
        .collect();
    for q in &questions[..10] {
        model.embed_as(&[q.as_str()], Role::Query).unwrap();
    }
    let ms: Vec<f64> = (questions.iter())
        .map(|q| {
            let t = Instant::now();
            model.embed_as(&[q.as_str()], Role::Query).unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let (p50, p95) = p50_p95(ms);
    println!(
        "the default model embeds an answer-like question in {p50:.2} / {p95:.2} ms (p50 / p95)"
    );
}

/// The main graph's walks with its patch and the same graph written whole
/// (searches alone, breadth 64, alternated in rounds): what the lookups in
/// a patch cost a question.
fn patch_overhead(index: &Path, docs: usize, embedder: &mut dyn Embedder) {
    use qasearch::index::mmap_graph::{MmapGraph, Words};
    let snapshot = qasearch::store::open(index).unwrap();
    let graph = &snapshot.graph;
    let Some(patch) = graph.patch_bytes() else {
        println!("the main graph has no patch");
        return;
    };
    let words = |b: &[u8]| -> Vec<u32> {
        (b.chunks_exact(4))
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let whole = MmapGraph::parse(Words::Owned(words(&graph.to_bytes()))).unwrap();
    let mut rng = common::Rng(5);
    let texts: Vec<String> = (0..400)
        .map(|i| match i % 2 {
            0 => format!(
                "What does record {}-{} say?",
                rng.below(docs),
                rng.below(10)
            ),
            _ => sentence(&mut rng, 8),
        })
        .collect();
    let queries: Vec<Vec<f32>> = (texts.iter())
        .map(|q| embedder.embed_batch(&[q.as_str()]).unwrap().remove(0))
        .collect();
    let (vectors, dim) = (snapshot.vectors(), snapshot.dimension());
    let mut ms: [Vec<f64>; 2] = Default::default();
    for _ in 0..3 {
        for (i, g) in [graph, &whole].into_iter().enumerate() {
            for q in &queries {
                let t = Instant::now();
                let hits = g.search(vectors, dim, q, 10, 64, None);
                ms[i].push(t.elapsed().as_secs_f64() * 1e3);
                assert!(!hits.is_empty());
            }
        }
    }
    let [patched, flat] = ms.map(p50_p95);
    println!(
        "main graph walk, p50 / p95 ms: with its patch ({} KB) {:.3} / {:.3}, written whole {:.3} / {:.3}",
        patch.len() / 1024,
        patched.0,
        patched.1,
        flat.0,
        flat.1
    );
    delta_overhead(&snapshot.lexical, &texts);
}

/// The lexical arm's searches with its delta against the same arm merged
/// into one index (the same hits), alternated.
fn delta_overhead(arm: &qasearch::index::lexical_delta::Lexical, texts: &[String]) {
    use qasearch::index::lexical_delta::Lexical;
    let Some(delta) = arm.delta() else {
        println!("the lexical arm has no delta");
        return;
    };
    let merged = Lexical::whole(arm.merged().into_owned());
    let mut ms: [Vec<f64>; 2] = Default::default();
    for round in 0..4 {
        for (i, a) in [arm, &merged].into_iter().enumerate() {
            for q in texts {
                let t = Instant::now();
                let hits = a.search(q, 50);
                // The first round learns each arm's statistics: not counted.
                if round > 0 {
                    ms[i].push(t.elapsed().as_secs_f64() * 1e3);
                }
                assert!(!hits.is_empty());
            }
        }
    }
    for q in texts {
        assert_eq!(arm.search(q, 50), merged.search(q, 50), "{q}");
    }
    let [with, whole] = ms.map(p50_p95);
    println!(
        "lexical arm, p50 / p95 ms: with its delta ({} pairs) {:.3} / {:.3}, merged {:.3} / {:.3}",
        delta.pairs(),
        with.0,
        with.1,
        whole.0,
        whole.1
    );
}

/// Copies the folder `from` to `to` (files and folders only). The kernel
/// is told that the originals' bytes are not read again: a user has one
/// copy of an index in the page cache, not two (at a million pairs, 15 GB
/// of 24, and the updates' own files were read back from the disk).
fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).into_iter().flatten() {
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
            forget_cached(entry.path());
        }
    }
}

/// Asks the kernel to drop the cached pages of the file at `path` (clean
/// ones: it was only read).
fn forget_cached(path: &Path) {
    #[cfg(target_os = "linux")]
    if let Ok(file) = std::fs::File::open(path) {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain call on a descriptor this function owns.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
}

/// Writes the synthetic corpus of `docs` documents into `data`; the
/// generator, for what comes after.
fn write_corpus(data: &Path, docs: usize) -> common::Rng {
    std::fs::create_dir_all(data).unwrap();
    let mut rng = common::Rng(7);
    for d in 0..docs {
        std::fs::write(data.join(format!("doc{d:06}.txt")), document(d, &mut rng)).unwrap();
    }
    rng
}

fn main() {
    log::set_logger(&Laps).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let args: Vec<String> = std::env::args().collect();
    words::choose(&args);
    let vectors = cloud::Vectors::choose(&args);
    let sizes: Vec<usize> = args
        .iter()
        .position(|a| a == "--pairs")
        .and_then(|i| args.get(i + 1))
        .map_or(vec![10_000], |v| {
            v.split(',').filter_map(|n| n.parse().ok()).collect()
        });
    let mut embedder = vectors.make();
    let embedder = &mut *embedder;
    if let Some(i) = args.iter().position(|a| a == "--one-update") {
        let (data, index) = (&args[i + 1], &args[i + 2]);
        return one_update(Path::new(data), Path::new(index), embedder);
    }
    let cold = args.iter().any(|a| a == "--cold");
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    if let Some(dir) = keep {
        let pairs = sizes[0];
        let docs = pairs.div_ceil(10);
        let (data, index) = (dir.join("data"), dir.join("index"));
        if !index.exists() {
            write_corpus(&data, docs);
            let full = update(&data, &index, embedder);
            println!("{pairs} pairs: full build {:.1} s", full.total / 1e3);
            println!("{}", build_line(&index, &full));
        }
        if !args.iter().any(|a| a == "--no-questions") {
            println!("{}", first_question(&index, embedder));
            warm_questions(&index, docs, embedder);
        }
        if args.iter().any(|a| a == "--recall") {
            recall_at_breadth(&index, docs, embedder);
        }
        if args.iter().any(|a| a == "--model-time") {
            model_question_time(docs);
        }
        if let Some(i) = args.iter().position(|a| a == "--ask") {
            let mapped_only = args.get(i + 1).is_some_and(|a| a == "mapped");
            ask_as_the_cli(&data, &index, rounds(&args), mapped_only, &vectors);
        }
        if args.iter().any(|a| a == "--update") {
            // On a copy, so that the kept index stays as it was built.
            let tmp = tempfile::tempdir_in(&dir).unwrap();
            let (data_copy, index_copy) = (tmp.path().join("data"), tmp.path().join("index"));
            copy_tree(&data, &data_copy);
            let copied = Instant::now();
            copy_tree(&index, &index_copy);
            // The copy's write-back (gigabytes at a million pairs) is done
            // before the timed updates, rather than during them.
            let _ = std::process::Command::new("sync").status();
            // Files written within SETTLE_NS of an update's start are read
            // again by the next (by design): the copies settle first, as a
            // user's files have long before they update.
            let settle = std::time::Duration::from_nanos(qasearch::corpus::SETTLE_NS);
            std::thread::sleep(settle.saturating_sub(copied.elapsed()));
            // A copied file has a new ctime, which no one can set back: the
            // first update of the copy reads every file (and, on an index of
            // an earlier format, writes the current one). Untimed, so that
            // the updates below start where a user's would: the corpus's
            // records current, nothing changed since.
            let refresh = update(&data_copy, &index_copy, embedder);
            println!(
                "the copy's records refreshed first (untimed below): {:.0} ms, {} files read",
                refresh.total, refresh.read
            );
            // Its generation's write-back, too, is done before the timed
            // updates.
            let _ = std::process::Command::new("sync").status();
            COLD.store(cold, std::sync::atomic::Ordering::Relaxed);
            let own = args.iter().any(|a| a == "--own-process");
            OWN_PROCESS.store(own, std::sync::atomic::Ordering::Relaxed);
            let mut rng = common::Rng(7 + pairs as u64);
            let rounds = rounds(&args);
            for round in 0..rounds {
                if rounds > 1 {
                    println!("round {} of {rounds}:", round + 1);
                }
                let (data, index) = (&data_copy, &index_copy);
                updates(data, index, (docs, round), &mut rng, None, embedder);
            }
            if args.iter().any(|a| a == "--questions-after") {
                // The same questions of the updated generation (its graphs
                // patched where the updates were small), beside the kept one's.
                println!("after the updates:");
                warm_questions(&index_copy, docs, embedder);
                patch_overhead(&index_copy, docs, embedder);
            }
        }
        return;
    }
    for pairs in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let (data, index) = (tmp.path().join("data"), tmp.path().join("index"));
        let docs = pairs.div_ceil(10);
        let mut rng = write_corpus(&data, docs);
        let full = update(&data, &index, embedder);
        println!(
            "\n{pairs} pairs ({docs} documents): {}",
            build_line(&index, &full)
        );
        println!("{}", first_question(&index, embedder));
        warm_questions(&index, docs, embedder);
        updates(&data, &index, (docs, 0), &mut rng, Some(full), embedder);
    }
}

/// `--rounds R` (1 without).
fn rounds(args: &[String]) -> usize {
    (args.iter().position(|a| a == "--rounds"))
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1)
}

/// One question as `ask` asks it, `rounds` times each way, alternated: the
/// engine opened over `data` and `index` (the folder checked for changes,
/// the model's load left out: the bench's embedder), one question answered,
/// the engine dropped; its vectors mapped (`one_shot`, as `ask` opens) or
/// read (as `serve` and `mcp` open).
fn ask_as_the_cli(
    data: &Path,
    index: &Path,
    rounds: usize,
    mapped_only: bool,
    vectors: &cloud::Vectors,
) {
    use qasearch::engine::{Engine, EngineOptions};
    let q = "What does record 7-3 say about the harbour?";
    println!("| round | vectors | engine opened, ms | answered, ms | in all, ms |");
    println!("|---|---|---|---|---|");
    for round in 1..=rounds {
        for one_shot in [true, false] {
            if mapped_only && !one_shot {
                continue;
            }
            let t = Instant::now();
            let options = EngineOptions {
                one_shot,
                ..EngineOptions::new(data, index)
            };
            let engine = Engine::open(&options, || Ok(vectors.make())).unwrap();
            let opened = t.elapsed().as_secs_f64() * 1e3;
            let answers = engine.ask(q, &SearchConfig::default()).unwrap();
            assert!(!answers.results.is_empty());
            let answered = t.elapsed().as_secs_f64() * 1e3;
            drop(engine);
            let all = t.elapsed().as_secs_f64() * 1e3;
            let how = if one_shot {
                "mapped (ask)"
            } else {
                "read (serve)"
            };
            println!("| {round} | {how} | {opened:.0} | {answered:.0} | {all:.0} |");
        }
    }
}

/// A full build's time, peak memory and the index's size on disk.
fn build_line(index: &Path, full: &Update) -> String {
    let disk: u64 = walkdir::WalkDir::new(index)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    let peak = full.peak_mb.map_or("–".into(), |mb| format!("{mb:.0} MB"));
    let own = full
        .private_mb
        .map_or("–".into(), |mb| format!("{mb:.0} MB"));
    format!(
        "full build {:.1} s, peak RSS of the bench while it ran {peak} (of its own, RssAnon sampled: {own}), index {:.0} MB on disk",
        full.total / 1e3,
        disk as f64 / 1e6
    )
}

/// One pair's answer changed, then one document added and one removed, then
/// nothing: each update timed phase by phase, beside the full build when
/// there was one. Round `round` of them (of `docs` documents at first)
/// changes, adds and removes documents no earlier round did.
fn updates(
    data: &Path,
    index: &Path,
    (docs, round): (usize, usize),
    rng: &mut common::Rng,
    full: Option<Update>,
    embedder: &mut dyn Embedder,
) {
    let full = full.unwrap_or(Update {
        total: f64::NAN,
        laps: Vec::new(),
        graph: "–",
        peak_mb: None,
        private_mb: None,
        read: 0,
    });
    // One pair's answer changed.
    let victim = data.join(format!("doc{:06}.txt", docs / 2 + round));
    let text = std::fs::read_to_string(&victim).unwrap();
    std::fs::write(
        &victim,
        text.replacen("?\n", "?\nChanged by the bench. ", 1),
    )
    .unwrap();
    let one = update(data, index, embedder);
    // One document added, one removed.
    let added = match round {
        0 => "added.txt".to_string(),
        r => format!("added-{r}.txt"),
    };
    std::fs::write(data.join(added), document(docs + round, rng)).unwrap();
    std::fs::remove_file(data.join(format!("doc{round:06}.txt"))).unwrap();
    let add_remove = update(data, index, embedder);
    let nothing = update(data, index, embedder);
    let runs = [&full, &one, &add_remove];
    let mut phases: Vec<&str> = Vec::new();
    for (phase, _) in runs.iter().flat_map(|r| &r.laps) {
        if !phases.contains(&phase.as_str()) {
            phases.push(phase);
        }
    }
    println!("| phase (ms) | full build | 1 pair changed | 1 document added, 1 removed |");
    println!("|---|---|---|---|");
    for phase in phases {
        let cells: Vec<String> = runs
            .iter()
            .map(|r| {
                let ms: f64 = r.laps.iter().filter(|l| l.0 == phase).map(|l| l.1).sum();
                let seen = r.laps.iter().any(|l| l.0 == phase);
                if seen {
                    format!("{ms:.1}")
                } else {
                    "–".into()
                }
            })
            .collect();
        println!("| {phase} | {} |", cells.join(" | "));
    }
    let graphs: Vec<&str> = runs.iter().map(|r| r.graph).collect();
    let peaks: Vec<String> = runs
        .iter()
        .map(|r| r.peak_mb.map_or("–".into(), |mb| format!("{mb:.0}")))
        .collect();
    println!("| peak RSS of the bench, MB | {} |", peaks.join(" | "));
    let private: Vec<String> = runs
        .iter()
        .map(|r| r.private_mb.map_or("–".into(), |mb| format!("{mb:.0}")))
        .collect();
    println!(
        "| peak memory of its own (RssAnon, sampled), MB | {} |",
        private.join(" | ")
    );
    let read: Vec<String> = (runs.iter())
        .map(|r| match r.total.is_nan() {
            true => "–".into(),
            false => r.read.to_string(),
        })
        .collect();
    println!("| corpus files read | {} |", read.join(" | "));
    println!(
        "| **in all** | **{:.1}** | **{:.1}** | **{:.1}** |\n| graph | {} |\nnothing changed: {:.1} ms",
        full.total,
        one.total,
        add_remove.total,
        graphs.join(" | "),
        nothing.total
    );
}
