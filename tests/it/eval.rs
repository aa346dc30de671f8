//! `qasearch eval` end to end with the real model.

use crate::util::*;

fn systems(v: &serde_json::Value) -> Vec<&str> {
    v["systems"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn self_eval_ranks_every_seed_question_and_rewording_first() {
    let w = Work::seeded();
    let tsv = repo().join("eval/questions.tsv");
    let r = w.run(&["eval", "--json", "--questions", tsv.to_str().unwrap()]);
    r.ok();
    let v = r.json();
    let passages = passage_questions().len();
    assert_eq!(passages, 3);
    assert_eq!(v["queries"], 6 + rewordings().len() + passages);
    assert_eq!(v["corpus"], 6);
    assert_eq!(
        systems(&v),
        [
            "bm25",
            "dense",
            "engine",
            "exact",
            "lexical",
            "passage",
            "questions"
        ]
    );
    // Every pair's question in the top 5, all but one first (the default
    // fp32 model ranks all 18 first; the int8 one misses one); the answers
    // view cannot find the 3 passages.
    for system in ["dense", "exact"] {
        let s = &v["systems"][system];
        assert!(
            s["recall@1"].as_f64().unwrap() >= 17.0 / 21.0,
            "{system}: {s}"
        );
        assert!(
            (s["recall@5"].as_f64().unwrap() - 18.0 / 21.0).abs() < 1e-9,
            "{system}: {s}"
        );
    }
    // The engine: every one of the 18 first (the stored question "What are
    // the criticisms of the Coalition of the Willing?" asked leave-one-out
    // meets "What is the main goal of the Coalition of the Willing?", its
    // template with another topic, discounted: search/template.rs; its pair
    // is first by 0.044 of fused score, the least lead of the six, measured
    // on the gate's dumps), and the
    // three passage questions (the third by the passage's words:
    // retrieval::eval_reports_every_view_and_abstention).
    let engine = &v["systems"]["engine"];
    assert_eq!(engine["recall@1"], 1.0, "{engine}");
    assert_eq!(engine["recall@5"], 1.0, "{engine}");
    for key in ["recall@5", "recall@10", "p50_ms", "p95_ms"] {
        assert!(v["systems"]["bm25"][key].is_number(), "{key}");
    }
    assert_eq!(v["ann_recall@10"], 1.0);
}

#[test]
fn beir_fixture_end_to_end_with_cached_embeddings() {
    let w = Work::empty();
    let set = repo().join("tests/fixtures/beir-mini");
    let cache = w.dir.path().join("cache");
    let args = [
        "eval",
        "--json",
        "--beir",
        set.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ];
    let first = w.run(&args);
    first.ok();
    let v = first.json();
    assert_eq!(v["dataset"], "beir-mini");
    assert_eq!(v["queries"], 5, "the unjudged query is left out");
    assert_eq!(v["corpus"], 8);
    assert!(v["index"]["embedded"].as_u64().unwrap() >= 8);
    let dense = &v["systems"]["dense"];
    assert!(dense["ndcg@10"].as_f64().unwrap() >= 0.9, "{dense}");
    assert!(dense["recall@10"].as_f64().unwrap() >= 0.99, "{dense}");
    assert!(v["systems"]["bm25"]["ndcg@10"].as_f64().unwrap() > 0.3);
    assert!(v["ann_recall@10"].as_f64().unwrap() >= 0.99);
    // The second run embeds nothing and gives the same quality figures.
    let again = w.run(&args).json();
    assert_eq!(again["index"]["embedded"], 0);
    for system in ["dense", "exact", "bm25"] {
        assert_eq!(
            again["systems"][system]["ndcg@10"],
            v["systems"][system]["ndcg@10"]
        );
    }
}

#[test]
fn bad_eval_inputs_name_the_file() {
    let w = Work::seeded();
    w.run(&["eval", "--beir", "/no/such/set"])
        .fails(3, "/no/such/set");
    let set = w.dir.path().join("set");
    std::fs::create_dir_all(set.join("qrels")).unwrap();
    std::fs::write(
        set.join("corpus.jsonl"),
        "{\"_id\": \"a\", \"text\": \"x\"}\n",
    )
    .unwrap();
    std::fs::write(
        set.join("queries.jsonl"),
        "{\"_id\": \"q\", \"text\": \"y\"}\nnot json\n",
    )
    .unwrap();
    std::fs::write(set.join("qrels/test.tsv"), "q\ta\t1\n").unwrap();
    w.run(&["eval", "--beir", set.to_str().unwrap()])
        .fails(3, "queries.jsonl:2");
    let tsv = w.dir.path().join("q.tsv");
    std::fs::write(&tsv, "What?\tnope.txt\tWho?\n").unwrap();
    w.run(&["eval", "--questions", tsv.to_str().unwrap()])
        .fails(3, "q.tsv:1: no Q&A pair");
}
