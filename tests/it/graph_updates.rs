//! Graph updates keep recall: the index is extended in many patterns
//! (duplicates, near-duplicates, churn) and after every step the graph must
//! find what exact search finds. Vectors come from a table embedder (each
//! text maps to a fixed-seed vector) so the shapes are exact; no model.

use std::collections::HashMap;
use std::path::Path;

use qasearch::indexer::{self, IndexConfig};
use qasearch::model::embed::Embedder;
use qasearch::model::{ModelIdentity, ModelSettings};
use qasearch::progress::NoProgress;
use qasearch::search::{self, SearchConfig};

use crate::util;

const DIM: usize = 32;

/// Text → vector: "near-<base>-<i>" is the vector of <base> nudged a little;
/// any other text gets its own random vector (seeded by its hash).
struct TableEmbedder {
    identity: ModelIdentity,
}

impl TableEmbedder {
    fn new() -> Self {
        TableEmbedder {
            identity: ModelIdentity {
                settings: ModelSettings {
                    name: "table".into(),
                    dimension: DIM,
                    pooling: "none".into(),
                    max_length: 0,
                    query_prefix: String::new(),
                    passage_prefix: String::new(),
                },
                onnx_sha256: "1".repeat(64),
                tokenizer_sha256: "1".repeat(64),
                int8_runtime_sha256: String::new(),
                int8_cpu: String::new(),
            },
        }
    }
}

fn seeded(seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e3779b97f4a7c15) ^ 0x1234_5678;
    (0..DIM)
        .map(|_| {
            s = s.wrapping_add(0x9e3779b97f4a7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            ((z ^ (z >> 31)) as f64 / u64::MAX as f64) as f32 - 0.5
        })
        .collect()
}

fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

impl Embedder for TableEmbedder {
    fn embed_batch(&mut self, texts: &[&str]) -> qasearch::Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let t = t.trim_end_matches('.');
                match t.strip_prefix("near-").and_then(|r| r.rsplit_once('-')) {
                    Some((base, i)) => {
                        let mut v = seeded(hash(base));
                        let noise = seeded(hash(i) ^ 0xabc);
                        for (x, n) in v.iter_mut().zip(noise) {
                            *x += 0.002 * n;
                        }
                        unit(v)
                    }
                    None => unit(seeded(hash(t))),
                }
            })
            .collect())
    }
    fn dimension(&self) -> usize {
        DIM
    }
    fn identity(&self) -> &ModelIdentity {
        &self.identity
    }
}

/// One document a file: `n` pairs whose answers are the given texts.
/// `n` answers of their own: "distinct <tag> <i>".
fn distinct(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("distinct {tag} {i}")).collect()
}

fn write_doc(data: &Path, name: &str, answers: &[String]) {
    let mut text = String::new();
    for (i, a) in answers.iter().enumerate() {
        text.push_str(&format!("Question {name} {i}?\n{a}.\n"));
    }
    std::fs::write(data.join(format!("{name}.txt")), text).unwrap();
}

/// Recall@10 of the engine's graph search (default breadth) against exact
/// search, every live row a query; ties at the 10th score count as found.
fn recall(index: &Path) -> f64 {
    let snap = qasearch::store::open(index).unwrap();
    let (found, wanted) = (0..snap.meta.row_count())
        .filter(|&r| snap.meta.is_live(r))
        .map(|r| {
            let q = snap.vector(r).to_vec();
            let cfg = SearchConfig {
                top_k: 10,
                ..SearchConfig::default()
            };
            let exact = search::sentence_hits(
                &snap,
                &q,
                10,
                &SearchConfig {
                    exact: true,
                    ..cfg.clone()
                },
            )
            .unwrap();
            let graph = search::sentence_hits(&snap, &q, 10, &cfg).unwrap();
            let floor = exact.last().map_or(f32::MIN, |h| h.score) - 1e-6;
            let hit = graph
                .iter()
                .filter(|h| h.score >= floor)
                .count()
                .min(exact.len());
            (hit, exact.len())
        })
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    found as f64 / wanted.max(1) as f64
}

#[test]
fn every_graph_update_keeps_recall() {
    updates_keep_recall(false);
}

/// The same with every stored question a vector too: they live in a graph
/// of their own, and a search over every row merges both graphs.
#[test]
fn every_graph_update_keeps_recall_with_stored_questions_in_their_graph() {
    updates_keep_recall(true);
}

fn updates_keep_recall(question_vectors: bool) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let index = dir.path().join("index");
    std::fs::create_dir(&data).unwrap();
    let mut embedder = TableEmbedder::new();
    let config = IndexConfig {
        answer_vectors: qasearch::store::AnswerVectors::Off,
        question_vectors,
        ..IndexConfig::default()
    };
    let mut step = |what: &str, data: &Path| {
        let (summary, _) =
            indexer::build(data, &index, &mut embedder, &config, &mut NoProgress).unwrap();
        let r = recall(&index);
        assert!(
            r >= indexer::MIN_EXTENDED_RECALL,
            "{what}: recall@10 {r:.4} after a graph {} (summary {summary:?})",
            summary.graph
        );
        let snap = qasearch::store::open(&index).unwrap();
        assert_eq!(snap.question_graph.is_some(), question_vectors, "{what}");
        if question_vectors {
            let r = question_recall(&snap);
            assert!(r >= indexer::MIN_EXTENDED_RECALL, "{what}: {r:.4}");
        }
        probes_are_exact(&snap, what);
        summary
    };
    write_doc(&data, "base", &distinct("base", 400));
    assert_eq!(step("first build", &data).graph, "rebuilt");

    // 500 identical answers and one distinct one: one row for all of "Yes".
    write_doc(&data, "yes", &vec!["Yes".to_string(); 500]);
    write_doc(
        &data,
        "key",
        &["The spare key is in the blue safe".to_string()],
    );
    let s = step("identical answers", &data);
    // Each new question is a text of its own (501 of them), the answers two.
    let questions = if question_vectors { 501 } else { 0 };
    assert_eq!(s.embedded, 2 + questions, "{s:?}");
    assert_eq!(
        s.vectors,
        402 + questions + if question_vectors { 400 } else { 0 },
        "one vector per distinct text: {s:?}"
    );

    // Near-duplicates: 300 answers nudged from one vector, then a distinct one.
    let near: Vec<String> = (0..300).map(|i| format!("near-cluster-{i}")).collect();
    write_doc(&data, "near", &near);
    step("near-duplicates", &data);
    write_doc(
        &data,
        "after-near",
        &["something else entirely".to_string()],
    );
    step("a distinct answer after near-duplicates", &data);

    // Churn: remove some, add others, several times (extends while few are hidden).
    for round in 0..6 {
        let _ = std::fs::remove_file(data.join(format!("churn{}.txt", round.max(1) - 1)));
        write_doc(
            &data,
            &format!("churn{round}"),
            &distinct(&format!("churn{round}"), 40),
        );
        let mut near_more: Vec<String> = (0..30)
            .map(|i| format!("near-cluster{round}-{i}"))
            .collect();
        near_more.push("Yes".into());
        write_doc(&data, &format!("nearmore{round}"), &near_more);
        step(&format!("churn round {round}"), &data);
    }
    // And the question that failed in the field still finds its answer.
    let snap = qasearch::store::open(&index).unwrap();
    let answers = search::ask(
        &snap,
        &mut embedder,
        "The spare key is in the blue safe",
        &SearchConfig::default(),
    )
    .unwrap();
    assert_eq!(answers[0].answer, "The spare key is in the blue safe.");
}

/// One document of a passage (its sentences, given) and one pair.
fn write_passage_doc(data: &Path, name: &str, sentences: &[String]) {
    let passage: Vec<String> = sentences.iter().map(|s| format!("{s}.")).collect();
    let text = format!("{}\nQuestion {name}?\nAnswer {name}.\n", passage.join(" "));
    std::fs::write(data.join(format!("{name}.txt")), text).unwrap();
}

/// Passages' sentences live in a graph of their own, kept through updates
/// of distinct, near-duplicate and churned passages like the others: after
/// every step the passage view's walk finds what a scan of the passages
/// finds, the graph's probes are exact, and the main graph holds no
/// passage (and the passage view still answers from its rows).
#[test]
fn passages_have_a_graph_of_their_own_through_updates() {
    use qasearch::search::views::{dense, View};
    use qasearch::store::{Kind, Side};
    let dir = tempfile::tempdir().unwrap();
    let (data, index) = (dir.path().join("data"), dir.path().join("index"));
    std::fs::create_dir(&data).unwrap();
    let mut embedder = TableEmbedder::new();
    let config = IndexConfig::default();
    let sentences = |tag: &str, n: usize| -> Vec<String> {
        (0..n).map(|i| format!("Story {tag} line {i}")).collect()
    };
    for d in 0..100 {
        write_passage_doc(&data, &format!("doc{d}"), &sentences(&format!("d{d}"), 3));
    }
    let mut step = |what: &str| {
        let (summary, _) =
            indexer::build(&data, &index, &mut embedder, &config, &mut NoProgress).unwrap();
        let snap = qasearch::store::open(&index).unwrap();
        assert!(snap.passage_graph.is_some(), "{what}");
        let r = side_recall(&snap, Side::Passages);
        assert!(r >= indexer::MIN_EXTENDED_RECALL, "{what}: {r:.4}");
        probes_are_exact(&snap, what);
        let passage = Kind::Passage.bit();
        let in_main = snap.graph.search(
            snap.vectors(),
            snap.dimension(),
            snap.vector(0),
            50,
            64,
            None,
        );
        assert!(
            in_main.iter().all(|h| !snap.meta.row_has(h.row, passage)
                || snap.meta.row_has(h.row, Side::MAIN_KINDS)),
            "{what}"
        );
        summary.graph
    };
    assert_eq!(step("first build"), "rebuilt");
    // Near-duplicate passages, then churn: documents removed and added.
    for d in 0..40 {
        // One sentence each (the splitter waits for a capital letter).
        write_passage_doc(&data, &format!("near{d}"), &[format!("near-pcluster-{d}")]);
    }
    assert_eq!(step("near-duplicate passages"), "extended");
    for round in 0..4 {
        for d in (round * 10)..(round * 10 + 10) {
            std::fs::remove_file(data.join(format!("doc{d}.txt"))).unwrap();
            write_passage_doc(
                &data,
                &format!("new{round}-{d}"),
                &sentences(&format!("n{round}-{d}"), 2),
            );
        }
        step(&format!("churn round {round}"));
    }
    // The passage view finds each passage first by its own sentences.
    let snap = qasearch::store::open(&index).unwrap();
    let mut asked = 0;
    for (p, pair) in snap.meta.pairs.iter().enumerate() {
        if !pair.passage {
            continue;
        }
        for occ in snap.meta.pair_occurrences(p as u32) {
            let q = snap.vector(occ.row as usize).to_vec();
            let hits = dense(&snap, &q, View::Passage, 1, 1, &SearchConfig::default()).unwrap();
            assert_eq!(hits[0].pair, p as u32, "{}: {hits:?}", pair.answer);
            asked += 1;
        }
    }
    assert_eq!(asked, 60 * 3 + 40 + 40 * 2, "passages' sentences");
}

/// Each probe the generation keeps for the check of the next update (rows
/// with their nearest members, brought up to date by each update from the
/// rows it added) knows the exact top 10 of its graph's members, as a scan
/// finds them now, to the same numbers.
fn probes_are_exact(snap: &qasearch::store::Snapshot, what: &str) {
    let probes = snap.probes.as_ref().expect("a generation keeps its probes");
    let (vectors, dim) = (snap.vectors(), snap.dimension());
    use qasearch::store::{Kind, Side};
    let graphs = [
        (&probes.main, Side::MAIN_KINDS),
        (&probes.questions, Kind::Question.bit()),
        (&probes.passages, Kind::Passage.bit()),
    ];
    for (probes, mask) in graphs {
        let member = |r: usize| snap.meta.row_has(r, mask);
        let members = (0..snap.meta.row_count()).filter(|&r| member(r)).count();
        assert!(
            probes.len() >= members.min(64),
            "{what}: {} probes",
            probes.len()
        );
        for p in probes {
            let q = snap.vector(p.row as usize);
            let scan = qasearch::index::ann::exact_search(vectors, dim, q, 10, Some(&member));
            let known = p.exact_top(10).unwrap_or_else(|| panic!("{what}: {p:?}"));
            let scores = |h: &[qasearch::index::ann::Hit]| -> Vec<u32> {
                h.iter().map(|h| h.score.to_bits()).collect()
            };
            assert_eq!(scores(&known), scores(&scan), "{what}: row {}", p.row);
        }
    }
}

/// Recall@10 of the question view's walk over the graph of the stored
/// questions against exact search over their rows, every stored question a
/// query.
fn question_recall(snap: &qasearch::store::Snapshot) -> f64 {
    side_recall(snap, qasearch::store::Side::Questions)
}

/// Recall@10 of a walk over a side's graph against exact search over its
/// rows, every row of the side a query.
fn side_recall(snap: &qasearch::store::Snapshot, side: qasearch::store::Side) -> f64 {
    let graph = snap.side_graph(side).unwrap();
    let (vectors, dim) = (snap.vectors(), snap.dimension());
    let mask = side.kind().bit();
    let keep = |r: usize| snap.meta.row_has(r, mask);
    let rows: Vec<usize> = (0..snap.meta.row_count()).filter(|&r| keep(r)).collect();
    let (found, wanted) = rows
        .iter()
        .map(|&r| {
            let q = snap.vector(r);
            let exact = qasearch::index::ann::exact_search(vectors, dim, q, 10, Some(&keep));
            let walk = graph.search(vectors, dim, q, 10, 64, Some(&keep));
            let floor = exact.last().map_or(f32::MIN, |h| h.score) - 1e-6;
            let hit = walk.iter().filter(|h| h.score >= floor).count();
            (hit.min(exact.len()), exact.len())
        })
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    found as f64 / wanted.max(1) as f64
}

/// The answer of the question view's best pair for a question.
fn by_question(
    snap: &qasearch::store::Snapshot,
    embedder: &mut TableEmbedder,
    question: &str,
) -> String {
    use qasearch::search::views::{dense, View};
    let q = search::embed_question(embedder, question).unwrap();
    let hits = dense(snap, &q, View::Questions, 1, 1, &SearchConfig::default()).unwrap();
    snap.meta.pairs[hits[0].pair as usize].answer.to_string()
}

/// An index of a qasearch before the graphs of the stored questions and of
/// the passages (one graph over every row, no `questions.graph.bin` nor
/// `passages.graph.bin`) answers as it is, and its next update builds every
/// graph from the kept vectors, embedding only what changed.
#[test]
fn an_index_with_one_graph_for_every_row_gets_its_side_graphs_at_its_next_update() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let index = dir.path().join("index");
    std::fs::create_dir(&data).unwrap();
    write_doc(&data, "base", &distinct("base", 300));
    let story: Vec<String> = (0..20).map(|i| format!("story line {i}")).collect();
    write_passage_doc(&data, "story", &story);
    let mut embedder = TableEmbedder::new();
    let config = IndexConfig::default();
    indexer::build(&data, &index, &mut embedder, &config, &mut NoProgress).unwrap();

    // Made as an earlier qasearch made it: graph.bin over every row.
    let gen = util::generation_dir(&index);
    let snap = qasearch::store::open(&index).unwrap();
    let hnsw = snap.manifest.hnsw;
    let all = qasearch::index::hnsw::build(snap.vectors(), snap.dimension(), &hnsw, &mut |_| {});
    drop(snap);
    std::fs::write(gen.join("graph.bin"), all.base_bytes()).unwrap();
    std::fs::remove_file(gen.join("questions.graph.bin")).unwrap();
    std::fs::remove_file(gen.join("passages.graph.bin")).unwrap();
    std::fs::remove_file(gen.join("passages.probes.bin")).unwrap();
    std::fs::remove_file(gen.join("probes.bin")).unwrap();
    let bytes = all.base_bytes().len() as u64;
    let crc = crc32fast::hash(all.base_bytes());
    util::rewrite_manifest(&index, |m| {
        let files = m["files"].as_object_mut().unwrap();
        files.remove("questions.graph.bin");
        files.remove("passages.graph.bin");
        files.remove("passages.probes.bin");
        files.remove("probes.bin");
        files["graph.bin"] = serde_json::json!({"len": bytes, "crc32": crc});
        m.as_object_mut().unwrap().remove("question_graph_recall");
        m.as_object_mut().unwrap().remove("passage_graph_recall");
    });
    let snap = qasearch::store::open(&index).unwrap();
    assert!(snap.question_graph.is_none() && snap.passage_graph.is_none());
    assert_eq!(
        by_question(&snap, &mut embedder, "Question base 7?"),
        "distinct base 7."
    );
    drop(snap);

    write_doc(&data, "more", &distinct("more", 3));
    let (s, _) = indexer::build(&data, &index, &mut embedder, &config, &mut NoProgress).unwrap();
    assert_eq!(s.graph, "rebuilt", "{s:?}");
    assert_eq!(s.embedded, 6, "the new pairs only: {s:?}");
    let snap = qasearch::store::open(&index).unwrap();
    assert!(snap.question_graph.is_some() && snap.passage_graph.is_some());
    for file in ["questions.graph.bin", "passages.graph.bin"] {
        assert!(util::generation_dir(&index).join(file).is_file(), "{file}");
    }
    assert!(question_recall(&snap) >= indexer::MIN_EXTENDED_RECALL);
    assert!(side_recall(&snap, qasearch::store::Side::Passages) >= indexer::MIN_EXTENDED_RECALL);
    assert_eq!(
        by_question(&snap, &mut embedder, "Question more 2?"),
        "distinct more 2."
    );
    assert_eq!(
        by_question(&snap, &mut embedder, "Question base 7?"),
        "distinct base 7."
    );

    // The update after that extends both.
    write_doc(&data, "later", &distinct("later", 3));
    let (s, _) = indexer::build(&data, &index, &mut embedder, &config, &mut NoProgress).unwrap();
    assert_eq!(s.graph, "extended", "{s:?}");
}

#[test]
fn a_shared_answer_answers_for_every_pair_that_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_doc(&data, "a", &["Yes".to_string(), "No".to_string()]);
    write_doc(&data, "b", &["Yes".to_string()]);
    let mut embedder = TableEmbedder::new();
    let index = dir.path().join("index");
    let config = IndexConfig {
        question_vectors: false,
        ..IndexConfig::default()
    };
    let (s, _) = indexer::build(&data, &index, &mut embedder, &config, &mut NoProgress).unwrap();
    assert_eq!((s.sentences, s.vectors, s.embedded), (3, 2, 2));
    let snap = qasearch::store::open(&index).unwrap();
    let answers = search::ask(&snap, &mut embedder, "Yes", &SearchConfig::default()).unwrap();
    let got: HashMap<&str, f32> = answers
        .iter()
        .map(|a| (a.question.as_str(), a.score))
        .collect();
    assert_eq!(answers.len(), 3);
    assert!(got["Question a 0?"] > 0.999 && got["Question b 0?"] > 0.999);
    assert!(got["Question a 1?"] < 0.9);
}

/// An update that changes few rows writes the graph as a patch over the
/// previous generation's graph file, linked rather than written again; the
/// patch holds the rows changed since that file, searches find the new
/// rows and keep recall, and damage to the patch is found and rebuilt.
#[test]
fn a_small_update_writes_a_patch_over_the_linked_graph() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let index = dir.path().join("index");
    std::fs::create_dir(&data).unwrap();
    // 2,400 rows a graph: the two updates' patches (about 8.5 KB with 1,200)
    // stay far below an eighth of the links, however threads insert.
    write_doc(&data, "base", &distinct("base", 2400));
    let mut embedder = TableEmbedder::new();
    let config = IndexConfig {
        answer_vectors: qasearch::store::AnswerVectors::Off,
        question_vectors: true,
        ..IndexConfig::default()
    };
    let build = |embedder: &mut TableEmbedder| {
        indexer::build(&data, &index, embedder, &config, &mut NoProgress)
            .unwrap()
            .0
    };
    assert_eq!(build(&mut embedder).graph, "rebuilt");
    let file = |name: &str| util::generation_dir(&index).join(name);
    let inode = |name: &str| std::fs::metadata(file(name)).unwrap().ino();
    let (base, questions_base) = (inode("graph.bin"), inode("questions.graph.bin"));
    assert!(!file("graph.patch.bin").exists());

    let mut patch_len = 0;
    for round in 0..2 {
        write_doc(
            &data,
            &format!("more{round}"),
            &distinct(&format!("more{round}"), 2),
        );
        let s = build(&mut embedder);
        // Two answers and two stored questions.
        assert_eq!((s.graph, s.embedded), ("extended", 4), "{s:?}");
        assert_eq!(
            inode("graph.bin"),
            base,
            "round {round}: the base is linked"
        );
        assert_eq!(
            inode("questions.graph.bin"),
            questions_base,
            "round {round}"
        );
        assert!(file("questions.graph.patch.bin").is_file(), "round {round}");
        let len = std::fs::metadata(file("graph.patch.bin")).unwrap().len();
        assert!(
            len > patch_len,
            "round {round}: the patch holds the rows of both"
        );
        patch_len = len;
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(file("manifest.json")).unwrap()).unwrap();
        // 9 for the patches, 10 for the lexical delta, 11 for meta.bin in
        // columns; 12 as the metadata is a delta over the linked meta.bin.
        assert_eq!(manifest["format_version"], 12);
        assert!(manifest["files"]["meta.delta.bin"]["crc32"].is_u64());
        assert!(manifest["files"]["lexical.delta.bin"]["crc32"].is_u64());
        assert!(manifest["files"]["graph.patch.bin"]["crc32"].is_u64());
        let r = recall(&index);
        assert!(
            r >= indexer::MIN_EXTENDED_RECALL,
            "round {round}: recall@10 {r:.4}"
        );
        let snap = qasearch::store::open(&index).unwrap();
        probes_are_exact(&snap, "patched");
        for (question, answer) in [
            (
                format!("distinct more{round} 1"),
                format!("distinct more{round} 1."),
            ),
            ("distinct base 7".into(), "distinct base 7.".into()),
        ] {
            let got = search::ask(&snap, &mut embedder, &question, &SearchConfig::default());
            assert_eq!(got.unwrap()[0].answer, answer);
        }
        // The new stored question is found by the questions' graph alone.
        let asked = format!("Question more{round} 1?");
        assert_eq!(
            by_question(&snap, &mut embedder, &asked),
            format!("distinct more{round} 1.")
        );
        assert!(question_recall(&snap) >= indexer::MIN_EXTENDED_RECALL);
    }

    // A generation that lists a patch is format 9: one that says 8 is damage.
    let copy = dir.path().join("copy");
    util::copy_dir(&index, &copy);
    util::rewrite_manifest(&copy, |m| m["format_version"] = 8.into());
    let e = qasearch::store::open(&copy).unwrap_err();
    assert!(e.to_string().contains("disagrees with its files"), "{e}");

    // A bit flipped in the patch: the generation is damaged, named by the
    // patch, and the next update builds the graph anew.
    let mut bytes = std::fs::read(file("graph.patch.bin")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(file("graph.patch.bin"), bytes).unwrap();
    let e = qasearch::store::open(&index).unwrap_err();
    assert!(
        matches!(&e, qasearch::Error::IndexCorrupt { .. })
            && e.to_string().contains("graph.patch.bin"),
        "{e}"
    );
    write_doc(&data, "after", &distinct("after", 1));
    let s = build(&mut embedder);
    assert_eq!(s.graph, "rebuilt", "{s:?}");
    assert!(
        s.full_reason
            .as_deref()
            .is_some_and(|r| r.contains("graph.patch.bin")),
        "{s:?}"
    );
    assert!(!file("graph.patch.bin").exists());
    assert_ne!(inode("graph.bin"), base);
    let snap = qasearch::store::open(&index).unwrap();
    let got = search::ask(
        &snap,
        &mut embedder,
        "distinct after 0",
        &SearchConfig::default(),
    );
    assert_eq!(got.unwrap()[0].answer, "distinct after 0.");
}
