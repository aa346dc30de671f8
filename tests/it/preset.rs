//! The quality preset (`--model minilm+e5`) end to end: both models read
//! every text, and the index's scores are their cosines mixed.

use crate::util::{assert_seed_and_rewordings_first, Work};

/// The question view's score of the first result for `question`.
fn question_score(w: &Work, question: &str) -> (String, f64) {
    let r = w.run(&["ask", "--json", "--explain", question]);
    r.ok();
    let v = r.json();
    let top = &v["results"][0];
    let score = top["views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["view"] == "questions")
        .and_then(|p| p["raw"].as_f64())
        .unwrap_or_else(|| panic!("no question view: {v}"));
    (top["question"].as_str().unwrap().to_string(), score)
}

/// Every seed question and every rewording of `eval/questions.tsv` puts its
/// own pair first (each leading by the usual top-1 margin), a question
/// about nothing in the corpus is not answered, and a score is the models'
/// cosines mixed 0.3 / 0.7: the same stored question's cosine under the
/// preset is 0.3 × minilm's + 0.7 × e5-small's, to float precision.
#[test]
fn the_quality_preset_answers_the_seed_and_mixes_both_models_cosines() {
    let w = Work::seeded();
    let r = w.run(&["--model", "quality", "index", "--json"]);
    r.ok();
    let v = r.json();
    assert_eq!(v["qa_pairs"], 6, "{v}");
    assert_seed_and_rewordings_first(&w);

    let r = w.run(&["ask", "--json", "How tall is the Eiffel Tower?"]);
    assert_eq!(r.code, 10, "no confident answer: {}", r.stdout);
    // The preset's threshold, 0.70 of a fused score, on the results' scale
    // (a share of 1 + its lexical weight 0.05).
    assert!((r.json()["min_score"].as_f64().unwrap() - 0.70 / 1.05).abs() < 1e-5);

    let question = "What does Zelenskyy think about the coalition?";
    let (stored, mixed) = question_score(&w, question);
    assert_eq!(stored, "How does President Zelenskyy view the coalition?");
    let alone = |model: &str| {
        let other = Work::seeded();
        other.run(&["--model", model, "index"]).ok();
        let (top, score) = question_score(&other, question);
        assert_eq!(top, stored, "{model}");
        score
    };
    let (minilm, e5) = (alone("minilm"), alone("e5-small"));
    assert!(
        (mixed - (0.3 * minilm + 0.7 * e5)).abs() < 1e-4,
        "mixed {mixed}, minilm {minilm}, e5 {e5}"
    );
}
