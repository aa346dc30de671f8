use super::*;
use crate::progress::NoProgress;

pub(super) const A: &str = "What is one?\nOne is first. It comes before two.\nWhat is yes?\nYes.\n";
pub(super) const B: &str = "Is it yes too?\nYes.\nWhat is three?\nThree is odd.\n";

/// An embedder that records what the model is asked to read.
pub(super) struct Recording {
    pub(super) inner: crate::model::embed::HashEmbedder,
    pub(super) alone: Vec<String>,
    pub(super) in_context: Vec<String>,
}

impl Embedder for Recording {
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.alone.extend(texts.iter().map(|t| t.to_string()));
        self.inner.embed_batch(texts)
    }
    fn reads_in_context(&self) -> bool {
        true
    }
    fn embed_in_context(
        &mut self,
        texts: &[&str],
        spans: &[Vec<(usize, usize)>],
    ) -> Result<Vec<crate::model::embed::InContext>> {
        self.in_context.extend(texts.iter().map(|t| t.to_string()));
        self.inner.embed_in_context(texts, spans)
    }
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }
    fn identity(&self) -> &crate::model::ModelIdentity {
        self.inner.identity()
    }
}

#[test]
fn sentences_of_an_answer_are_read_in_its_context() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let day = "A day pass costs five euros. It is valid until midnight.";
    let week = "A week pass costs twenty euros. It is valid until midnight.";
    let words = "word ".repeat(130).trim_end().to_string();
    let long = format!("{words}. It is valid until midnight.");
    std::fs::write(
        data.join("a.txt"),
        format!(
            "P.\nHow much is a day pass?\n{day}\nHow much is a week pass?\n{week}\n\
             How long is it valid?\nIt is valid until midnight.\nAnd this?\n{long}\n"
        ),
    )
    .unwrap();
    let index = dir.path().join("index");
    let mut model = Recording {
        inner: crate::model::embed::HashEmbedder::new(64),
        alone: Vec::new(),
        in_context: Vec::new(),
    };
    let (summary, _) = build(
        &data,
        &index,
        &mut model,
        &IndexConfig::default(),
        &mut NoProgress,
    )
    .unwrap();
    // Each answer of several sentences is read once, with its sentences;
    // none of their sentences is read alone but those of the answer too
    // long to read in context.
    let mut read = model.in_context.clone();
    read.sort();
    let mut expected = vec![day.to_string(), week.to_string(), long.clone()];
    expected.sort();
    assert_eq!(read, expected);
    for t in [
        day,
        week,
        "A day pass costs five euros.",
        "A week pass costs twenty euros.",
    ] {
        assert!(!model.alone.iter().any(|a| a == t), "{t} read alone");
    }
    assert_eq!(
        model
            .alone
            .iter()
            .filter(|t| *t == "It is valid until midnight.")
            .count(),
        2,
        "the one-sentence answer, and the sentence of the answer too long to read in context"
    );
    assert!(model.alone.contains(&format!("{words}.")));
    assert_rows_read_in_context(&index, day, week);
    // Nothing changed: nothing read; one answer changed: its pass again.
    model.alone.clear();
    model.in_context.clear();
    std::fs::write(
        data.join("a.txt"),
        std::fs::read_to_string(data.join("a.txt"))
            .unwrap()
            .replace("twenty euros", "twenty-five euros"),
    )
    .unwrap();
    let (again, _) = build(
        &data,
        &index,
        &mut model,
        &IndexConfig::default(),
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(model.in_context, [week.replace("twenty", "twenty-five")]);
    assert!(model.alone.is_empty(), "{:?}", model.alone);
    assert_eq!(again.embedded, 3, "the answer and its two sentences");
    assert!(summary.embedded > again.embedded);
}

/// The rows of [`sentences_of_an_answer_are_read_in_its_context`]'s index:
/// the same words in two answers are two rows, each read in its answer.
fn assert_rows_read_in_context(index: &Path, day: &str, week: &str) {
    let snap = crate::store::open(index).unwrap();
    assert_eq!(snap.manifest.answer_vectors, AnswerVectors::InContext);
    let hash = crate::model::embed::HashEmbedder::new(64);
    let vector_of = |pair: usize, kind: Kind, text: &str| {
        let o = snap
            .meta
            .occurrences
            .iter()
            .find(|o| o.pair as usize == pair && o.kind == kind && snap.meta.text(o) == Some(text))
            .unwrap();
        (o.row, snap.vector(o.row as usize).to_vec())
    };
    // The same words in two answers: two rows, each read in its answer.
    let (day_row, day_v) = vector_of(0, Kind::Sentence, "It is valid until midnight.");
    let (week_row, week_v) = vector_of(1, Kind::Sentence, "It is valid until midnight.");
    assert_ne!(day_row, week_row);
    assert_eq!(
        day_v,
        hash.vector(&format!("It is valid until midnight. {day}"))
    );
    assert_eq!(
        week_v,
        hash.vector(&format!("It is valid until midnight. {week}"))
    );
    // An answer of one sentence, and a sentence of an answer too long to
    // read in context, are read alone (rows of their own: whether an
    // answer is too long is the model's to say, after planning).
    let (one_row, one_v) = vector_of(2, Kind::Sentence, "It is valid until midnight.");
    let (long_row, long_v) = vector_of(3, Kind::Sentence, "It is valid until midnight.");
    assert_ne!(one_row, long_row);
    assert_eq!(one_v, hash.vector("It is valid until midnight."));
    assert_eq!(long_v, one_v);
    // The whole answer's vector is the model's, from the same pass.
    assert_eq!(vector_of(0, Kind::Answer, day).1, hash.vector(day));
}

fn answers_only() -> IndexConfig {
    IndexConfig {
        question_vectors: false,
        answer_vectors: AnswerVectors::Embedded,
        ..IndexConfig::default()
    }
}

pub(super) fn corpus(files: &[(&str, &str)]) -> Corpus {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    crate::corpus::load(dir.path()).unwrap()
}

use super::testing::{self, built};

#[test]
fn pooled_answers_are_made_from_their_sentences_not_embedded() {
    use crate::model::embed::{Embedder, HashEmbedder};
    let c = corpus(&[("a.txt", A), ("b.txt", B)]);
    let config = IndexConfig {
        question_vectors: false,
        answer_vectors: AnswerVectors::Pooled,
        ..IndexConfig::default()
    };
    let p = plan(&c, None, &config);
    assert_eq!(p.first.len(), 5);
    let texts = p.to_embed();
    assert!(
        !texts.contains(&"One is first. It comes before two."),
        "{texts:?}"
    );
    assert_eq!(texts.len(), 4);
    let mut e = HashEmbedder::new(16);
    let embedded: Vec<f32> = e.embed_batch(&texts).unwrap().concat();
    let fresh = p.fresh_vectors(embedded, None, 16).unwrap();
    assert_eq!(fresh.len(), 5 * 16);
    let pooled_id = (0..5).find(|&id| p.is_pooled(id)).unwrap();
    let mut want: Vec<f32> = e
        .vector("One is first.")
        .iter()
        .zip(e.vector("It comes before two."))
        .map(|(a, b)| a + b)
        .collect();
    crate::model::vector::normalize(&mut want);
    let got = &fresh[pooled_id * 16..(pooled_id + 1) * 16];
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6));
    // A pooled whole answer never shares a row with an embedded text of
    // the same words (here a stored question).
    let twin = r#"{"id": "t", "qa": [{"question": "One is first. It comes before two.", "answer": "Twin."}]}"#;
    let c = corpus(&[("a.txt", A), ("t.jsonl", twin)]);
    let config = IndexConfig {
        answer_vectors: AnswerVectors::Pooled,
        ..IndexConfig::default()
    };
    let p = plan(&c, None, &config);
    let ids: Vec<usize> = (0..p.first.len())
        .filter(|&id| p.text(id) == "One is first. It comes before two.")
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids.iter().filter(|&&id| p.is_pooled(id)).count(), 1);
    assert!(p.to_embed().contains(&"One is first. It comes before two."));
}

#[test]
fn changes_are_set_differences() {
    let old = [("a", 1), ("b", 2), ("c", 3)];
    let new = [("a", 1), ("b", 5), ("d", 4), ("e", 0)];
    let c = Changes::between(old, new, |o, n| o == n);
    assert_eq!((c.added, c.changed, c.removed), (2, 1, 1));
    // Repeated keys on either side never make a count wrap.
    let c = Changes::between([("a", 1), ("a", 1)], [("a", 1), ("a", 1)], |o, n| o == n);
    assert!(c.is_empty());
    let c = Changes::between([("a", 1), ("a", 2)], [("b", 1)], |o, n| o == n);
    assert_eq!((c.added, c.changed, c.removed), (1, 0, 1));
}

#[test]
fn a_first_build_embeds_each_distinct_text_once() {
    let c = corpus(&[("a.txt", A), ("b.txt", B)]);
    let p = plan(&c, None, &answers_only());
    // Sentences: 2 + 1 + 1 + 1; whole answer of A's first pair; "Yes." twice.
    assert_eq!(p.sentences(), 5);
    assert_eq!(p.occurrences.len(), 6);
    assert_eq!(p.first.len(), 5, "\"Yes.\" is one text");
    assert_eq!(
        p.to_embed(),
        [
            "One is first.",
            "It comes before two.",
            "One is first. It comes before two.",
            "Yes.",
            "Three is odd."
        ]
    );
    assert_eq!(p.graph, GraphAction::Rebuild);
    assert_eq!(p.text_id[3], p.text_id[4], "both \"Yes.\" share a text");
    // With stored questions: each pair's question once more.
    let p = plan(
        &c,
        None,
        &IndexConfig {
            answer_vectors: AnswerVectors::Embedded,
            ..IndexConfig::default()
        },
    );
    assert_eq!(p.first.len(), 9);
    assert_eq!(
        p.occurrences
            .iter()
            .filter(|o| o.kind == Kind::Question)
            .count(),
        4
    );
    assert!(p.to_embed().contains(&"Is it yes too?"));
}

#[test]
fn unchanged_corpus_keeps_the_generation() {
    let (_dir, snap) = built(&[("a.txt", A)]);
    let c = crate::corpus::load(&snap.dir.join("../../data")).unwrap();
    let prev = Previous {
        manifest: &snap.manifest,
        meta: &snap.meta,
    };
    let p = plan(&c, Some(prev), &IndexConfig::default());
    assert_eq!(p.graph, GraphAction::Keep);
    // Other HNSW settings rebuild, reusing every vector.
    let other = IndexConfig {
        hnsw: crate::index::ann::HnswParams {
            m: 8,
            ..Default::default()
        },
        ..IndexConfig::default()
    };
    let p = plan(&c, Some(prev), &other);
    assert_eq!(p.graph, GraphAction::Rebuild);
    assert!(p.to_embed().is_empty());
}

#[test]
fn changes_reuse_by_text_and_extend_or_compact() {
    let (_dir, snap) = built(&[("a.txt", A)]);
    let prev = Previous {
        manifest: &snap.manifest,
        meta: &snap.meta,
    };
    // Adding a document: only its new text is embedded; the graph grows.
    let c = corpus(&[("a.txt", A), ("b.txt", B)]);
    let p = plan(&c, Some(prev), &IndexConfig::default());
    assert_eq!(
        p.to_embed(),
        ["Is it yes too?", "Three is odd.", "What is three?"]
    );
    assert_eq!(p.reused(), 6);
    assert_eq!(p.graph, GraphAction::Extend { hidden: 0 });
    // Replacing it all: most rows would be hidden, so the graph is rebuilt.
    let c = corpus(&[("b.txt", B)]);
    let p = plan(&c, Some(prev), &IndexConfig::default());
    assert_eq!(
        p.to_embed(),
        ["Is it yes too?", "Three is odd.", "What is three?"]
    );
    assert_eq!(p.reused(), 1);
    assert_eq!(p.graph, GraphAction::Rebuild);
    // Allowing many hidden rows extends instead, and says how many.
    let lax = IndexConfig {
        compact_ratio: 0.9,
        ..IndexConfig::default()
    };
    let p = plan(&c, Some(prev), &lax);
    assert_eq!(p.graph, GraphAction::Extend { hidden: 5 });
}

#[test]
fn a_model_with_role_prefixes_reads_questions_as_queries() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // "Is it open?" is a stored question and an answer sentence.
    std::fs::write(
        data.join("a.txt"),
        "P.\nIs it open?\nYes, daily.\nWhat did he ask?\nIs it open? That is what he asked.\n",
    )
    .unwrap();
    let index = dir.path().join("index");
    // Sentences read alone (in context, a sentence is not its words alone).
    let config = IndexConfig {
        answer_vectors: AnswerVectors::Embedded,
        ..IndexConfig::default()
    };
    let mut e5 = crate::model::embed::HashEmbedder::new(64).with_prefixes("query: ", "passage: ");
    build(&data, &index, &mut e5, &config, &mut NoProgress).unwrap();
    // The rows holding "Is it open?" as a question and as a sentence.
    let rows = |snap: &Snapshot| {
        let row = |kind| {
            snap.meta
                .occurrences
                .iter()
                .find(|o| o.kind == kind && snap.meta.text(o) == Some("Is it open?"))
                .map(|o| o.row as usize)
                .unwrap()
        };
        (row(Kind::Question), row(Kind::Sentence))
    };
    let snap = crate::store::open(&index).unwrap();
    let (q, p) = rows(&snap);
    assert_ne!(q, p, "the same words, read two ways");
    assert_eq!(snap.vector(q), e5.vector("query: Is it open?").as_slice());
    assert_eq!(snap.vector(p), e5.vector("passage: Is it open?").as_slice());
    // A user's question is a query too.
    let asked = crate::search::embed_question(&mut e5, "Is it open?").unwrap();
    assert_eq!(asked, e5.vector("query: Is it open?"));
    // An update reuses both rows.
    std::fs::write(data.join("b.txt"), "P.\nNew?\nYes.\n").unwrap();
    let (summary, _) = build(&data, &index, &mut e5, &config, &mut NoProgress).unwrap();
    assert_eq!(summary.embedded, 2, "only b.txt's question and sentence");
    // Without prefixes the two share a row, as before.
    let plain_index = dir.path().join("plain");
    let mut plain = crate::model::embed::HashEmbedder::new(64);
    build(&data, &plain_index, &mut plain, &config, &mut NoProgress).unwrap();
    let (q, p) = rows(&crate::store::open(&plain_index).unwrap());
    assert_eq!(q, p, "one row for the same words");
}

/// `pairs` pairs of one-sentence answers in documents of ten, pair `changed`
/// and after it reworded in round `round`.
pub(super) fn many_pairs(data: &Path, pairs: usize, changed: usize, round: usize) {
    for d in 0..pairs.div_ceil(10) {
        let mut text = String::new();
        for p in d * 10..(d * 10 + 10).min(pairs) {
            let answer = if p < changed {
                format!("Item {p} was reworded in round {round}.")
            } else {
                format!(
                    "Item {p} is kept in drawer {} of cabinet {}.",
                    p % 97,
                    p / 97
                )
            };
            text.push_str(&format!("Where is item {p} kept?\n{answer}\n"));
        }
        std::fs::write(data.join(format!("d{d:04}.txt")), text).unwrap();
    }
}

#[test]
fn a_small_update_of_a_large_corpus_keeps_its_calibration_and_lexical_terms() {
    let dir = tempfile::tempdir().unwrap();
    let (data, index) = (dir.path().join("data"), dir.path().join("index"));
    std::fs::create_dir(&data).unwrap();
    let pairs = 2_600; // 5,200 vectors: a question and an answer each
    let mut e = crate::model::embed::HashEmbedder::new(16);
    let mut build_now = || {
        build(
            &data,
            &index,
            &mut e,
            &IndexConfig::default(),
            &mut NoProgress,
        )
        .unwrap();
        let snap = store::open(&index).unwrap();
        // The lexical arm, updated from the previous one, is a full build's.
        let texts: Vec<String> = snap.meta.pairs.iter().map(lexical_text).collect();
        let full =
            crate::index::lexical::LexicalIndex::build(texts.iter().map(String::as_str), true);
        assert!(
            *snap.lexical.merged() == full,
            "lexical.bin differs from a full build's"
        );
        snap.manifest
    };
    many_pairs(&data, pairs, 0, 0);
    let first = build_now();
    assert_eq!(first.changed_since_calibration, 0);
    assert!(
        first.fusion.source.starts_with("calibrated"),
        "{:?}",
        first.fusion
    );
    // Three pairs reworded: three answers embedded, three dropped.
    many_pairs(&data, pairs, 3, 1);
    let small = build_now();
    assert_eq!(small.changed_since_calibration, 6);
    assert_eq!(small.fusion, first.fusion);
    assert_eq!(small.abstention, first.abstention);
    // Changes add up; past 5% of the vectors the fit is redone.
    many_pairs(&data, pairs, 200, 2);
    let big = build_now();
    assert_eq!(
        big.changed_since_calibration, 0,
        "400 of 5,200 texts changed"
    );
}

#[test]
fn a_calibration_is_kept_only_for_a_large_corpus_of_the_same_version() {
    let (_dir, snap) = built(&[("a.txt", A)]);
    let mut m = snap.manifest.clone();
    assert_eq!(generation::keeps_calibration(&m, 1, 1_000), None, "small");
    assert_eq!(generation::keeps_calibration(&m, 250, 5_000), Some(250));
    assert_eq!(generation::keeps_calibration(&m, 251, 5_000), None);
    m.changed_since_calibration = 200;
    assert_eq!(generation::keeps_calibration(&m, 50, 5_000), Some(250));
    assert_eq!(generation::keeps_calibration(&m, 51, 5_000), None);
    m.qasearch_version = "0.0.9".into();
    assert_eq!(generation::keeps_calibration(&m, 1, 5_000), None);
}

#[test]
fn an_extension_keeps_the_recall_its_graph_had_when_built() {
    assert_eq!(least_recall(None), MIN_EXTENDED_RECALL);
    assert_eq!(least_recall(Some(1.0)), MIN_EXTENDED_RECALL);
    // A million rows at the default breadth: 0.981 as built, never 0.99.
    assert!((least_recall(Some(0.981)) - 0.971).abs() < 1e-9);
    let (dir, snap) = built(&[("a.txt", A)]);
    assert_eq!(
        snap.manifest.graph_recall,
        Some(1.0),
        "a tiny graph finds all"
    );
    std::fs::write(dir.path().join("data/b.txt"), B).unwrap();
    assert_eq!(testing::update(dir.path()).graph, "extended");
    assert_eq!(
        store::open(&dir.path().join("index"))
            .unwrap()
            .manifest
            .graph_recall,
        Some(1.0)
    );
}

/// Small updates of a large graph leave its recall unestimated and count
/// the rows they add and drop, across updates, each graph apart; once the
/// count reaches the share of its members, an update estimates it again
/// and the count starts over.
#[test]
fn small_updates_count_the_rows_they_change_until_recall_is_estimated_again() {
    use super::recall::ESTIMATE_SHARE;
    use crate::store::{Side, Unestimated};
    let doc = |d: usize| {
        format!("What is item {d}?\nItem {d} is a lamp. It lights room {d}.\nWho made item {d}?\nMaker {d} did.\n")
    };
    let names: Vec<(String, String)> = (0..800).map(|d| (format!("d{d:03}.txt"), doc(d))).collect();
    let files: Vec<(&str, &str)> = names
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let (dir, snap) = built(&files);
    let index = dir.path().join("index");
    let data = dir.path().join("data");
    let members = |snap: &Snapshot, kinds: u8| {
        (0..snap.meta.row_count())
            .filter(|&r| snap.meta.row_has(r, kinds))
            .count() as u64
    };
    let counts = |snap: &Snapshot| {
        (
            members(snap, Side::MAIN_KINDS),
            members(snap, Side::Questions.kind().bit()),
        )
    };
    assert_eq!(snap.manifest.unestimated, Unestimated::default());
    let (main0, questions0) = counts(&snap);

    // One document added: its rows, below the share of either graph.
    std::fs::write(data.join("new1.txt"), doc(1001)).unwrap();
    assert_eq!(testing::update(dir.path()).graph, "extended");
    let one = store::open(&index).unwrap();
    let (main1, questions1) = counts(&one);
    let added = Unestimated {
        graph: main1 - main0,
        questions: questions1 - questions0,
        passages: 0,
    };
    assert!(added.graph > 0 && added.questions == 2, "{added:?}");
    assert!(
        added.graph * ESTIMATE_SHARE < main1,
        "{added:?} of {main1}: below the share"
    );
    assert_eq!(one.manifest.unestimated, added);

    // One document removed: its rows are dropped, counted on.
    std::fs::remove_file(data.join("d000.txt")).unwrap();
    assert_eq!(testing::update(dir.path()).graph, "extended");
    let two = store::open(&index).unwrap();
    let (main2, questions2) = counts(&two);
    let dropped = (main1 - main2, questions1 - questions2);
    assert!(dropped.0 > 0 && dropped.1 == 2, "{dropped:?}");
    assert_eq!(two.manifest.unestimated.graph, added.graph + dropped.0);
    assert_eq!(two.manifest.unestimated.questions, 4);

    // Enough documents added to reach the share of the main graph: its
    // recall is estimated and its count starts over; the questions' graph
    // (fewer members, more of them changed) too.
    let needed = main2 / ESTIMATE_SHARE + 1;
    for d in 0..needed.div_ceil(added.graph) as usize {
        std::fs::write(data.join(format!("more{d}.txt")), doc(2000 + d)).unwrap();
    }
    testing::update(dir.path());
    let three = store::open(&index).unwrap();
    assert_eq!(three.manifest.unestimated, Unestimated::default());
}

/// Each graph of `snap` holds its own rows only, and all of them: a search
/// of the main graph, and of each side's, from any row meets rows of its
/// kinds alone and finds every one.
fn assert_graphs_hold_their_rows(snap: &Snapshot) {
    let meta = &snap.meta;
    let (vectors, dim) = (snap.vectors(), snap.dimension());
    let mut graphs = vec![("main graph", &snap.graph, store::Side::MAIN_KINDS)];
    for side in store::Side::ALL {
        let graph = snap
            .side_graph(side)
            .expect("a side with rows has its graph");
        graphs.push((side.what(), graph, side.kind().bit()));
    }
    for (what, graph, kinds) in graphs {
        let members = (0..meta.row_count())
            .filter(|&r| meta.row_has(r, kinds))
            .count();
        assert!(members > 0, "{what}");
        for r in 0..meta.row_count() {
            let v = &vectors[r * dim..(r + 1) * dim];
            let hits = graph.search(vectors, dim, v, 50, 64, None);
            assert!(hits.iter().all(|h| meta.row_has(h.row, kinds)), "{what}");
            assert_eq!(hits.len(), members, "{what}");
            if meta.row_has(r, kinds) {
                assert_eq!(hits[0].row, r, "{what}: a row finds itself first");
            }
        }
    }
}

#[test]
fn stored_questions_and_passages_get_graphs_of_their_own_kept_through_updates() {
    const P1: &str = "The river rose in May. Boats carried people out.\nWhat rose?\nThe river rose. It rose in May.\nWhat is yes?\nYes.\n";
    const P2: &str = "A bridge opened in June. It spans the bay.\nWhen did it open?\nIn June.\n";
    let (dir, snap) = built(&[("a.txt", P1)]);
    assert!(!snap.meta.passage_rows().is_empty() && !snap.meta.question_rows().is_empty());
    assert_graphs_hold_their_rows(&snap);
    assert!(snap.manifest.question_graph_recall.is_some());
    assert!(snap.manifest.passage_graph_recall.is_some());
    for file in [store::QUESTION_GRAPH, store::PASSAGE_GRAPH] {
        assert!(snap.manifest.files.contains_key(file), "{file}");
    }
    // An update extends every graph; the new rows are in theirs.
    std::fs::write(dir.path().join("data/b.txt"), P2).unwrap();
    assert_eq!(testing::update(dir.path()).graph, "extended");
    let snap = store::open(&dir.path().join("index")).unwrap();
    assert_graphs_hold_their_rows(&snap);
    let probes = snap.probes.as_ref().unwrap();
    assert!(!probes.questions.is_empty() && !probes.passages.is_empty());
}

#[test]
fn an_extension_takes_the_vectors_over_and_hands_them_back_when_not_kept() {
    use crate::model::embed::{Embedder, HashEmbedder};
    let (_dir, mut snap) = built(&[("a.txt", A)]);
    let before = snap.vectors().to_vec();
    let prev = Previous {
        manifest: &snap.manifest,
        meta: &snap.meta,
    };
    let c = corpus(&[("a.txt", A), ("b.txt", B)]);
    let p = plan(&c, Some(prev), &IndexConfig::default());
    assert_eq!(p.graph, GraphAction::Extend { hidden: 0 });
    let dim = snap.dimension();
    let fresh: Vec<f32> = HashEmbedder::new(dim)
        .embed_batch(&p.to_embed())
        .unwrap()
        .concat();
    // Fewer vectors than new texts: not extended, the rows back as they were.
    let short = &fresh[..dim];
    let extend = super::graphs::extend_graph;
    assert!(extend(&mut snap, &p, short, dim, 0, &mut NoProgress).is_none());
    assert_eq!(snap.vectors(), &before[..]);
    // Extended: the previous rows first, the new ones after, none copied
    // (the previous generation has none left).
    let laid = extend(&mut snap, &p, &fresh, dim, 0, &mut NoProgress).unwrap();
    assert_eq!(&laid.vectors[..before.len()], &before[..]);
    assert_eq!(&laid.vectors[before.len()..], &fresh[..]);
    assert!(snap.vectors().is_empty());
}

/// An update reads only the files that may have changed and takes the
/// others' documents from the previous generation: the generation is the
/// one a build reading every file makes, and `index` with nothing changed
/// keeps the generation. (Sleeps for [`crate::corpus::SETTLE_NS`]: files
/// written just before a build are read again by the next, by design.)
#[test]
fn an_update_reads_only_the_files_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let files = [
        ("a.txt", A),
        ("b.txt", B),
        (
            "c.jsonl",
            r#"{"id": 1, "passage": "Seen from the hill.", "qa": [{"question": "Who saw it?", "answer": "Ann did. Then Bob.", "topic": "hill"}]}"#,
        ),
        ("d.csv", "question,answer\nHow far is it?,Two miles.\n"),
        (
            "warned.txt",
            "P.\nWhat is four?\nFour is even.\nAnd five?\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(data.join(name), text).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_nanos(
        crate::corpus::SETTLE_NS + 200_000_000,
    ));
    let first = testing::update(dir.path());
    assert_eq!(first.files_unread, 0, "a first build reads every file");
    std::fs::write(data.join("b.txt"), B.replace("odd", "prime")).unwrap();
    let second = testing::update(dir.path());
    // a.txt, c.jsonl and d.csv; b.txt changed, warned.txt is always read.
    assert_eq!(second.files_unread, 3);
    assert_eq!(second.graph, "extended");

    // The same generation as a build that reads every file.
    let full = dir.path().join("full");
    let config = IndexConfig::default();
    let mut e = crate::model::embed::HashEmbedder::new(32);
    build(&data, &full, &mut e, &config, &mut NoProgress).unwrap();
    let (updated, whole) = (
        store::open(&dir.path().join("index")).unwrap(),
        store::open(&full).unwrap(),
    );
    assert_eq!(updated.meta.documents, whole.meta.documents);
    assert_eq!(updated.meta.pairs, whole.meta.pairs);
    assert_eq!(updated.manifest.sources, whole.manifest.sources);
    assert_eq!(updated.manifest.documents, whole.manifest.documents);
    assert_eq!(*updated.lexical.merged(), *whole.lexical.merged());

    let third = testing::update(dir.path());
    assert_eq!(third.graph, "unchanged");
    assert_eq!(third.generation, second.generation);
}

/// `ask`'s check of the files (size and times, hashing only those that
/// differ) sees a file rewritten with its size kept and its modification
/// time set back: its status change time moved.
#[cfg(unix)]
#[test]
fn a_file_rewritten_with_its_old_time_is_a_change() {
    let (dir, snap) = built(&[("a.txt", A)]);
    let data = dir.path().join("data");
    let path = data.join("a.txt");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    std::fs::write(&path, A.replace("yes", "Yes")).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(mtime).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), A.len() as u64);
    let changes = file_changes(&data, &snap.manifest).unwrap();
    assert_eq!(changes.changed, 1, "{changes}");
}

/// An update maps the previous generation's first vector file and checks
/// it while it runs: a file damaged before the update, or shortened after
/// the generation was opened, is found before anything taken from it is
/// written, and the update rebuilds everything instead, as when the
/// opening fails. Never a crash (SIGBUS), never a generation written from
/// damaged rows.
#[test]
fn an_update_finds_damage_to_the_vectors_it_mapped() {
    let (dir, _) = built(&[("a.txt", A), ("b.txt", B)]);
    let (data, index) = (dir.path().join("data"), dir.path().join("index"));
    let vectors = |index: &Path| store::open(index).unwrap().dir.join(store::VECTORS);
    let mut e = crate::model::embed::HashEmbedder::new(32);
    let config = IndexConfig::default();
    let rebuilt = |summary: IndexSummary, damage: &str| {
        let reason = summary.full_reason.unwrap_or_default();
        assert!(
            reason.contains("not usable")
                && reason.contains("vectors.f32")
                && reason.contains(damage),
            "{reason}"
        );
        assert_eq!(summary.graph, "rebuilt");
        store::open(&index).unwrap()
    };
    // Found by the check: a row made NaN and infinite, with a file added
    // (the update extends the graph over it before the check ends); a
    // flipped bit with nothing changed (the generation would otherwise be
    // kept).
    for added in [Some("c.txt"), None] {
        let path = vectors(&index);
        let mut bytes = std::fs::read(&path).unwrap();
        match added {
            Some(_) => {
                bytes[..4].copy_from_slice(&f32::NAN.to_le_bytes());
                bytes[4..8].copy_from_slice(&f32::INFINITY.to_le_bytes());
            }
            None => bytes[5] ^= 0x10,
        }
        std::fs::write(&path, &bytes).unwrap();
        if let Some(name) = added {
            std::fs::write(data.join(name), "P.\nWhat is new?\nA new thing.\n").unwrap();
        }
        let (summary, _) = build(&data, &index, &mut e, &config, &mut NoProgress).unwrap();
        rebuilt(summary, "checksum mismatch");
    }
    // Shortened once opened, before the update reads its rows: the lost
    // pages read as zeros, and the update knows.
    let mut begun = Begun::opening(&index, &config);
    std::fs::write(data.join("d.txt"), "P.\nWhat is newer?\nA newer thing.\n").unwrap();
    let corpus = begun.read_corpus(&data).unwrap();
    let path = vectors(&index);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(0).unwrap();
    let (summary, _) = build_corpus(
        corpus,
        &data,
        &index,
        &mut e,
        &config,
        &mut NoProgress,
        begun,
    )
    .unwrap();
    let whole = rebuilt(summary, "truncated");
    // Every pair, and an intact generation equal to a full build's.
    let full = dir.path().join("full");
    build(&data, &full, &mut e, &config, &mut NoProgress).unwrap();
    let full = store::open(&full).unwrap();
    assert_eq!(whole.meta.pairs, full.meta.pairs);
    assert_eq!(whole.vectors(), full.vectors());
}
