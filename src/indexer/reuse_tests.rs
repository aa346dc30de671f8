//! The plan that copies unchanged documents' occurrences and rows
//! (`reuse.rs`) against the plan keying every text, its oracle.

use super::testing::built;
use super::tests::{corpus, Recording, A, B};
use super::*;
use crate::progress::NoProgress;

/// The plan keying every text and every previous row (how plans were made
/// before `reuse.rs`): the oracle of the plan that copies unchanged
/// documents' rows.
fn keyed_plan(c: &Corpus, prev: Previous<'_>, config: &IndexConfig) -> BuildPlan {
    let mut p = plan(c, None, config);
    let mut by_key = HashMap::new();
    for row in 0..prev.meta.row_count() {
        let key = crate::store::row_key_of(
            prev.meta,
            prev.manifest.answer_vectors,
            config.queries_apart,
            row,
        );
        if let Some(key) = key {
            by_key.entry(key).or_insert(row);
        }
    }
    p.reuse = (0..p.first.len())
        .map(|id| by_key.get(&p.key(id)).copied())
        .collect();
    p.graph = p.graph_after(prev, config);
    p
}

mod reuse_oracle {
    use super::*;
    use proptest::prelude::*;

    /// Sentences that recur across documents, so that texts are shared.
    const SENTENCES: [&str; 6] = [
        "Alpha is one.",
        "Beta is two.",
        "It is old.",
        "Yes.",
        "Gamma is three and odd.",
        "Delta is four.",
    ];
    const QUESTIONS: [&str; 4] = [
        "What is alpha?",
        "What is beta?",
        "Is it old?",
        "Is it two?",
    ];

    /// A document: its passage and its pairs (a question, an answer of
    /// one to three sentences), as indexes into the lists above.
    type Doc = (usize, Vec<(usize, Vec<usize>)>);

    fn doc() -> impl Strategy<Value = Doc> {
        (
            0..SENTENCES.len(),
            prop::collection::vec(
                (
                    0..QUESTIONS.len(),
                    prop::collection::vec(0..SENTENCES.len(), 1..4),
                ),
                1..4,
            ),
        )
    }

    fn text((passage, pairs): &Doc) -> String {
        let mut t = format!("{}\n", SENTENCES[*passage]);
        for (q, answer) in pairs {
            let answer: Vec<&str> = answer.iter().map(|&s| SENTENCES[s]).collect();
            t += &format!("{}\n{}\n", QUESTIONS[*q], answer.join(" "));
        }
        t
    }

    /// The document as a line of a `.jsonl` file, with a field per pair.
    fn json_line(slot: usize, (passage, pairs): &Doc) -> String {
        let qa: Vec<serde_json::Value> = pairs
            .iter()
            .map(|(q, answer)| {
                let answer: Vec<&str> = answer.iter().map(|&s| SENTENCES[s]).collect();
                serde_json::json!({
                    "question": QUESTIONS[*q],
                    "answer": answer.join(" "),
                    "tag": format!("t{}", answer.len()),
                })
            })
            .collect();
        serde_json::json!({"id": format!("d{slot}"), "passage": SENTENCES[*passage], "qa": qa})
            .to_string()
    }

    /// A temporary folder with an empty `data` folder in it, and the paths
    /// of that and of its `index`.
    fn folders() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (data, index) = (dir.path().join("data"), dir.path().join("index"));
        std::fs::create_dir(&data).unwrap();
        (dir, data, index)
    }

    /// Writes the documents in `data`: one `.txt` file each, or one file
    /// of documents keyed by id, with a field (`jsonl`).
    fn write_corpus(data: &Path, docs: &[Option<Doc>], jsonl: bool) {
        if jsonl {
            let lines: Vec<String> = (docs.iter().enumerate())
                .filter_map(|(slot, d)| Some((slot, d.as_ref()?)))
                .map(|(slot, d)| json_line(slot, d))
                .collect();
            std::fs::write(data.join("all.jsonl"), lines.join("\n")).unwrap();
            return;
        }
        for (slot, d) in docs.iter().enumerate() {
            let path = data.join(format!("{slot}.txt"));
            match d {
                Some(d) => std::fs::write(&path, text(d)).unwrap(),
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }

    /// Applies `e` to the document in `slot` (a slot past the end: a
    /// document added).
    fn apply_edit(docs: &mut Vec<Option<Doc>>, slot: usize, e: Edit) {
        match (e, docs.get_mut(slot)) {
            (Edit::Replace(d), None) => docs.push(Some(d)),
            (Edit::Replace(d), Some(at)) => *at = Some(d),
            (Edit::Answer(p, a), Some(Some((_, pairs)))) => {
                let n = pairs.len();
                pairs[p % n].1 = a;
            }
            (Edit::Passage(s), Some(Some((passage, _)))) => *passage = s,
            (Edit::Remove, Some(at)) => *at = None,
            _ => {}
        }
    }

    /// Per later corpus, per document slot: kept, replaced or removed.
    #[derive(Debug, Clone)]
    enum Edit {
        Keep,
        Replace(Doc),
        /// One pair's answer changed (the pair taken modulo the document's).
        Answer(usize, Vec<usize>),
        /// The passage changed.
        Passage(usize),
        Remove,
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            3 => Just(Edit::Keep),
            1 => doc().prop_map(Edit::Replace),
            1 => (0..4usize, prop::collection::vec(0..SENTENCES.len(), 1..4))
                .prop_map(|(p, a)| Edit::Answer(p, a)),
            1 => (0..SENTENCES.len()).prop_map(Edit::Passage),
            1 => Just(Edit::Remove),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Over builds and updates of random corpora, the plan that copies
        /// unchanged documents' occurrences and rows is the plan keying
        /// every text: the same occurrences, distinct texts, reused rows
        /// and graph action.
        #[test]
        fn copying_unchanged_documents_plans_as_keying_every_text(
            first in prop::collection::vec(doc(), 1..5),
            edits in prop::collection::vec(prop::collection::vec(edit(), 5), 3),
            how in 0..4usize,
            question_vectors in any::<bool>(),
            jsonl in any::<bool>(),
        ) {
            let answer_vectors = [
                AnswerVectors::InContext,
                AnswerVectors::Embedded,
                AnswerVectors::Pooled,
                AnswerVectors::Off,
            ][how];
            let config = IndexConfig {
                answer_vectors,
                question_vectors,
                compact_ratio: 0.5,
                ..IndexConfig::default()
            };
            let (_dir, data, index) = folders();
            let mut docs: Vec<Option<Doc>> = first.into_iter().map(Some).collect();
            let mut model = Recording {
                inner: crate::model::embed::HashEmbedder::new(16),
                alone: Vec::new(),
                in_context: Vec::new(),
            };
            for (round, edits) in std::iter::once(None).chain(edits.into_iter().map(Some)).enumerate() {
                for (slot, e) in edits.into_iter().flatten().enumerate() {
                    apply_edit(&mut docs, slot, e);
                }
                write_corpus(&data, &docs, jsonl);
                if round > 0 {
                    let snap = store::open(&index).unwrap();
                    let prev = Previous { manifest: &snap.manifest, meta: &snap.meta };
                    let c = crate::corpus::load(&data).unwrap();
                    let got = plan(&c, Some(prev), &config);
                    let want = keyed_plan(&c, prev, &config);
                    prop_assert_eq!(&got.occurrences, &want.occurrences);
                    prop_assert_eq!(&got.pairs, &want.pairs);
                    prop_assert_eq!(&got.text_id, &want.text_id);
                    prop_assert_eq!(&got.first, &want.first);
                    prop_assert_eq!(&got.reuse, &want.reuse);
                    if got.graph != GraphAction::Keep {
                        prop_assert_eq!(&got.graph, &want.graph);
                    }
                    // A pair said to be a previous one has its texts (its
                    // lexical terms are taken from there).
                    prop_assert_eq!(got.previous_pair.len(), got.pairs.len());
                    prop_assert_eq!(got.previous_doc.len(), got.documents.len());
                    for (doc, &d) in got.documents.iter().zip(&got.previous_doc) {
                        if let Some(before) = snap.meta.documents.get(d as usize) {
                            prop_assert_eq!(&before.key, &doc.key);
                        }
                    }
                    for (pair, &p) in got.pairs.iter().zip(&got.previous_pair) {
                        if let Some(before) = snap.meta.pairs.get(p as usize) {
                            prop_assert_eq!(
                                (&before.question, &before.answer, before.passage),
                                (&pair.question, &pair.answer, pair.passage)
                            );
                        }
                    }
                }
                if docs.iter().any(Option::is_some) {
                    build(&data, &index, &mut model, &config, &mut NoProgress).unwrap();
                    built_as_read(&data, &index)?;
                }
            }
        }
    }

    /// Over updates of random corpora of dozens of documents, a
    /// generation's metadata, written as a delta over the `meta.bin` the
    /// update read or whole, is what opening the generation reads: the very
    /// metadata the update made. Small edits make deltas in most updates;
    /// the runs of edits that pass an eighth of the base write it whole.
    #[test]
    fn the_metadata_an_update_makes_is_what_its_generation_reads() {
        use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
        let rounds = prop::collection::vec(prop::collection::vec((0..48usize, edit()), 1..4), 4);
        let cases = (prop::collection::vec(doc(), 24..40), rounds, any::<bool>());
        let (deltas, wholes) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
        // Seeded, so that the counts below hold on every run.
        let config = Config {
            cases: 12,
            ..Config::default()
        };
        let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
        let mut runner = TestRunner::new_with_rng(config, rng);
        let result = runner.run(&cases, |(first, rounds, jsonl)| {
            let config = IndexConfig {
                compact_ratio: 0.5,
                ..IndexConfig::default()
            };
            let (_dir, data, index) = folders();
            let mut docs: Vec<Option<Doc>> = first.into_iter().map(Some).collect();
            let mut model = crate::model::embed::HashEmbedder::new(16);
            for (round, edits) in std::iter::once(Vec::new()).chain(rounds).enumerate() {
                for (slot, e) in edits {
                    apply_edit(&mut docs, slot, e);
                }
                write_corpus(&data, &docs, jsonl);
                let corpus = crate::corpus::load(&data).unwrap();
                let lock = store::WriterLock::acquire(&index).unwrap();
                let mut previous = (round > 0).then(|| store::open(&index).unwrap());
                let making = Making {
                    graph: GraphMode::Build,
                    checkpoint: None,
                };
                let (progress, model) = (&mut NoProgress, &mut model);
                let made = make_generation(
                    &corpus,
                    &data,
                    previous.as_mut(),
                    model,
                    &config,
                    making,
                    progress,
                );
                let Some(mut made) = made.unwrap() else {
                    continue;
                };
                let base = (previous.as_ref())
                    .and_then(|p| store::segments::VectorBase::of(p, made.kept_rows));
                let written = write_generation(
                    &lock,
                    &mut made.snapshot,
                    base.as_ref(),
                    previous.as_ref(),
                    progress,
                );
                let delta = written.unwrap().join(store::META_DELTA).exists();
                let count = if delta { &deltas } else { &wholes };
                count.set(count.get() + 1);
                let read = store::open(&index).unwrap();
                prop_assert_eq!(&read.meta, &made.snapshot.meta);
            }
            Ok(())
        });
        result.unwrap();
        // Builds (whole) and updates of both kinds were made.
        assert!(deltas.get() >= 12, "{} deltas", deltas.get());
        assert!(wholes.get() > 12, "{} whole", wholes.get());
    }
}

/// What a later build takes for an unchanged file is what reading it
/// gives, and the fingerprints an update took over from the previous
/// generation are those of the documents read.
fn built_as_read(data: &Path, index: &Path) -> Result<(), proptest::test_runner::TestCaseError> {
    use proptest::prop_assert_eq;
    let built = store::open(index).unwrap();
    let read = crate::corpus::load(data).unwrap();
    prop_assert_eq!(&super::reuse::documents_of(&built.meta), &read.documents);
    let fresh: Vec<(String, String)> = (read.documents.iter())
        .map(|d| (d.key.clone(), d.fingerprint()))
        .collect();
    let kept: Vec<(String, String)> = (built.manifest.documents.iter())
        .map(|d| (d.key.clone(), d.fingerprint.clone()))
        .collect();
    prop_assert_eq!(kept, fresh);
    Ok(())
}

/// Sentence spans are copied only from a generation of this splitter (a
/// database's generation is reused across splitter versions): with another
/// version every answer is split again, and rows are still found by text.
#[test]
fn spans_are_not_copied_from_another_splitter() {
    let (_dir, mut snap) = built(&[("a.txt", A)]);
    let c = corpus(&[("a.txt", A), ("b.txt", B)]);
    let fresh = plan(&c, None, &IndexConfig::default()).occurrences;
    // A generation whose splitter cut "One is first. It comes before two."
    // into one sentence: its first pair's sentence occurrences merged.
    let merged: Vec<Occurrence> = {
        let o = &snap.meta.occurrences;
        let first: Vec<&Occurrence> = o
            .iter()
            .filter(|o| o.pair == 0 && o.is_sentence())
            .collect();
        assert_eq!(first.len(), 2);
        let mut out: Vec<Occurrence> = o
            .iter()
            .filter(|x| !(x.pair == 0 && x.is_sentence()))
            .cloned()
            .collect();
        out.insert(
            0,
            Occurrence {
                end: first[1].end,
                ..*first[0]
            },
        );
        out
    };
    let rows = snap.meta.row_count();
    let documents = snap.meta.documents.clone();
    let pairs = snap.meta.pairs.clone();
    snap.meta = Meta::new(documents, pairs, merged, rows);
    let copied = |snap: &Snapshot| {
        let prev = Previous {
            manifest: &snap.manifest,
            meta: &snap.meta,
        };
        plan(&c, Some(prev), &IndexConfig::default())
    };
    // The same splitter: its spans are taken as they are.
    assert_ne!(copied(&snap).occurrences, fresh);
    // Another splitter: split again.
    snap.manifest.splitter_version += 1;
    let p = copied(&snap);
    assert_eq!(p.occurrences, fresh);
    assert!(p.reused() > 0);
}
