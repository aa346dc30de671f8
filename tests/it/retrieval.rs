//! Retrieval that uses the whole Q&A pair: stored questions, lexical
//! evidence, fusion, abstention and `--explain`, with the real model.

use crate::util::*;

const FAQ: &str = concat!(
    "{\"id\": \"cancel\", \"qa\": [{\"question\": \"How can I cancel my subscription?\", \"answer\": \"Go to Billing and press the red button at the bottom of the page.\"}]}\n",
    "{\"id\": \"renew\", \"qa\": [{\"question\": \"When is my plan renewed?\", \"answer\": \"Subscriptions renew every month unless they are cancelled before the renewal date.\"}]}\n",
    "{\"id\": \"refund\", \"qa\": [{\"question\": \"Can I get my money back?\", \"answer\": \"Refunds for a cancelled subscription are paid within ten days.\"}]}\n",
    "{\"id\": \"upgrade\", \"qa\": [{\"question\": \"How do I move to a bigger plan?\", \"answer\": \"Upgrading your subscription takes effect at once.\"}]}\n",
);

fn view<'a>(result: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    result["views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["view"] == name)
}

#[test]
fn a_stored_question_finds_the_pair_its_answer_alone_would_not() {
    let w = Work::empty();
    w.write("faq.jsonl", FAQ);
    let r = w.run(&[
        "ask",
        "--json",
        "--explain",
        "-k",
        "4",
        "I want to stop my subscription, how?",
    ]);
    r.ok();
    let v = r.json();
    assert_eq!(v["answered"], true);
    assert_top(&v, "doc", "faq.jsonl#cancel");
    let top = &v["results"][0];
    // The stored question found it first; its answer alone ranks it lower.
    assert_eq!(view(top, "questions").unwrap()["rank"], 1, "{top}");
    assert!(
        view(top, "answers").is_none_or(|a| a["rank"].as_u64().unwrap() > 1),
        "{top}"
    );
    // Every result says which views found it, with scores and ranks.
    for res in v["results"].as_array().unwrap() {
        for part in res["views"].as_array().unwrap() {
            assert!(["answers", "questions", "lexical"].contains(&part["view"].as_str().unwrap()));
            assert!(part["raw"].is_number() && part["rank"].as_u64().unwrap() >= 1);
            let added = part["contribution"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&added), "{part}");
        }
    }
    // Without --explain the JSON stays lean; the human form names the views.
    let r = w.run(&[
        "ask",
        "--json",
        "-k",
        "1",
        "I want to stop my subscription, how?",
    ]);
    assert!(r.json()["results"][0].get("views").is_none());
    let r = w.run(&[
        "ask",
        "--explain",
        "-k",
        "1",
        "I want to stop my subscription, how?",
    ]);
    r.ok();
    assert!(r.stdout.contains("found by: answers"), "{}", r.stdout);
    // What each view added, on the results' 0–1 scale, and its rank.
    assert!(r.stdout.contains("questions +0."), "{}", r.stdout);
    assert!(r.stdout.contains("(#1)"), "{}", r.stdout);
}

#[test]
fn an_unrelated_question_gets_no_confident_answer() {
    let w = Work::seeded();
    let q = "How do I bake sourdough bread?";
    let r = w.run(&["ask", "--json", q]);
    assert_eq!(r.code, 10, "{r:#?}");
    let v = r.json();
    assert_eq!(v["answered"], false);
    assert!(v["best"].as_f64().unwrap() < v["min_score"].as_f64().unwrap());
    // The human form says so instead of presenting guesses as answers.
    let r = w.run(&["ask", q]);
    assert_eq!(r.code, 10);
    assert!(
        r.stdout.starts_with("no confident answer (best: "),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("> "), "{}", r.stdout);
    // --min-score lowers the bar.
    let r = w.run(&["ask", "--json", "--min-score", "0", q]);
    r.ok();
    assert_eq!(r.json()["answered"], true);
    // Questions about the corpus are answered.
    let r = w.run(&["ask", "--json", "Which nations will send troops?"]);
    r.ok();
    assert_eq!(r.json()["answered"], true);
}

#[test]
fn the_index_records_how_it_fuses_and_when_it_abstains() {
    let w = Work::seeded();
    w.index_ok();
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(generation_dir(&w.index()).join("manifest.json")).unwrap(),
    )
    .unwrap();
    // The default model's own settings (`model list` shows them).
    assert_eq!(m["fusion"]["source"], "default for minilm");
    assert_eq!(m["fusion"]["lexical_weight"].as_f64().unwrap() as f32, 0.2);
    // Six stored questions are too few to fit a threshold on.
    assert_eq!(m["abstention"]["source"], "default for minilm");
    assert_eq!(m["abstention"]["min_score"].as_f64().unwrap() as f32, 0.45);
    assert_eq!(m["counts"]["questions"], 6);
}

#[test]
fn eval_reports_every_view_and_abstention() {
    let w = Work::seeded();
    let tsv = repo().join("eval/questions.tsv");
    w.write(
        "../unrelated.txt",
        "How do I bake sourdough bread?\nWho won the 1998 football world cup?\n# a comment\nWhat is the boiling point of water?\n",
    );
    let r = w.run(&[
        "eval",
        "--json",
        "--questions",
        tsv.to_str().unwrap(),
        "--only-questions",
        "--unrelated",
        "unrelated.txt",
    ]);
    r.ok();
    let v = r.json();
    // 12 rewordings and 3 questions only the news paragraph answers. The
    // engine ranks every rewording first (each one's lead is checked in
    // e2e::seed_questions_and_rewordings_get_their_own_answer_first) and the
    // three passage questions; "Which US representative took part in the
    // talks in Paris?" by the passage's words, which the lexical arm holds
    // (its lead is checked in e2e::the_passage_answers_what_only_it_says).
    let r1 = |system: &str| v["systems"][system]["recall@1"].as_f64().unwrap();
    assert_eq!(r1("engine"), 1.0, "engine: {v}");
    // The answers view alone misses the passage questions and may miss one
    // rewording; fusion recovers it.
    assert!(r1("dense") >= 11.0 / 15.0, "dense: {v}");
    // The passage view finds only passages: exactly its three questions.
    assert!((r1("passage") - 3.0 / 15.0).abs() < 1e-9, "passage: {v}");
    for system in ["questions", "lexical"] {
        assert!(
            v["systems"][system]["ndcg@10"].as_f64().unwrap() > 0.5,
            "{v}"
        );
    }
    let a = &v["abstention"];
    assert_eq!(a["related"], 15);
    assert_eq!(a["related_answered"], 1.0, "{a}");
    assert_eq!(a["unrelated"], 3);
    assert_eq!(a["unrelated_abstained"], 1.0, "{a}");
    // Every related question answered, every unrelated one not: the score
    // 95% of the related reach is at or over the threshold, the one 95% of
    // the unrelated stay under is below it.
    let at = |k: &str| a[k].as_f64().unwrap();
    assert!(at("related_p05") >= at("min_score"), "{a}");
    assert!(at("unrelated_p95") < at("min_score"), "{a}");
    assert!(at("unrelated_p95") > 0.0, "{a}");
}

/// A stored question of the same template about another entity ("How does
/// President Zelenskyy view the coalition?") no longer outranks the pair
/// whose answer names the one asked about (issue 27's held-out rewordings).
/// Margins with the real model (fp32: the same on every CPU): 0.021 and
/// 0.036 on the 0–1 scale; asserted at 0.015.
#[test]
fn a_same_template_question_about_another_entity_yields_to_the_answer_naming_it() {
    let w = Work::seeded();
    w.index_ok();
    for q in [
        "What did the president of Slovakia say about the coalition?",
        "What does Slovakia's head of state think of the coalition?",
    ] {
        let v = w.run(&["ask", "--json", "-k", "5", q]).json();
        let results = v["results"].as_array().unwrap();
        let score = |question: &str| {
            results
                .iter()
                .find(|r| r["question"] == question)
                .and_then(|r| r["score"].as_f64())
        };
        let critics = score("What are the criticisms of the Coalition of the Willing?")
            .unwrap_or_else(|| panic!("the Pellegrini pair is a result: {v}"));
        let zelenskyy = score("How does President Zelenskyy view the coalition?").unwrap_or(0.0);
        assert!(
            critics - zelenskyy >= 0.015,
            "{q}: {critics} vs {zelenskyy}: {v}"
        );
        // What comes first names the Slovak president: his pair, or the
        // news paragraph that quotes him.
        assert!(
            results[0]["answer"]
                .as_str()
                .unwrap()
                .contains("Pellegrini"),
            "{q}: {v}"
        );
    }
}

/// A stored question worded as the asked one but for what it asks about
/// ("What is the main goal of the Coalition of the Willing?" for "What are
/// the criticisms of …?") no longer outranks the pair whose answer says it,
/// when that pair's own stored question is worded otherwise (the seed with
/// the criticisms' question reworded: search/template.rs). Margins with the
/// real model (fp32: the same on every CPU): 0.033 and 0.018 on the 0–1
/// scale (the main goal's pair was first by 0.092 and 0.107 before);
/// asserted at 0.01.
#[test]
fn a_same_template_question_about_another_topic_yields_to_the_answer_saying_it() {
    let w = Work::empty();
    let seed = std::fs::read_to_string(repo().join("data").join(SEED)).unwrap();
    let criticisms = "What are the criticisms of the Coalition of the Willing?";
    let reworded = "Why do some doubt that the coalition will work?";
    assert!(seed.lines().any(|l| l == criticisms));
    w.write(SEED, &seed.replace(criticisms, reworded));
    w.index_ok();
    for q in [
        criticisms,
        "What is the main criticism of the Coalition of the Willing?",
    ] {
        let v = w.run(&["ask", "--json", "-k", "3", q]).json();
        let lead = assert_top(&v, "question", reworded);
        assert!(lead >= 0.01, "{q}: leads by {lead:.4}: {v}");
        assert_eq!(
            v["results"][1]["question"], "What is the main goal of the Coalition of the Willing?",
            "{v}"
        );
    }
}

/// A FAQ that answers one question twice: in the store's own Billing page,
/// and for those who pay through the App Store.
const THREAD: &str = "question,answer
How do I cancel my subscription?,\"Open Settings, choose Billing and press Cancel subscription; the plan ends at the close of the billing period.\"
How do I change my plan?,\"Open Settings, choose Billing and press Change plan to pick a bigger or smaller plan.\"
How do I update my card?,\"Open Settings, choose Billing and press Update card to enter the new card's number.\"
Where can I download my invoices?,\"Every invoice is in Settings under Billing, as a PDF you can download.\"
How do I cancel my subscription?,\"If you signed up through the App Store, Apple bills you: cancel it from the subscriptions list on your iPhone.\"
Can I pause my account instead?,\"Yes: press Pause in Settings to keep your data for up to three months without paying.\"
";

/// The result whose answer starts with `start`, and its rank.
fn starting<'v>(v: &'v serde_json::Value, start: &str) -> (&'v serde_json::Value, usize) {
    let results = v["results"].as_array().unwrap();
    let i = results
        .iter()
        .position(|r| r["answer"].as_str().unwrap().starts_with(start))
        .unwrap_or_else(|| panic!("no answer starting {start:?}: {v}"));
    (&results[i], i + 1)
}

/// The score of the result whose answer starts with `start`, and its rank.
fn scored(v: &serde_json::Value, start: &str) -> (f64, usize) {
    let (result, rank) = starting(v, start);
    (result["score"].as_f64().unwrap(), rank)
}

#[test]
fn the_answers_to_one_question_stand_together() {
    let w = Work::empty();
    w.write("faq.csv", THREAD);
    w.index_ok();
    // Asked in the first answer's words: the second answer to the same
    // question says none of them. Without the thread it came third, 0.106
    // below the plan's answer; raised toward the first, it is second by 0.022.
    let q = "Does the plan end at the close of the billing period?";
    let v = w.run(&["ask", "--json", "--explain", "-k", "4", q]).json();
    assert!(
        v["results"][0]["answer"]
            .as_str()
            .unwrap()
            .starts_with("Open Settings, choose Billing and press Cancel"),
        "{v}"
    );
    let (sibling, rank) = scored(&v, "If you signed up through the App Store");
    let (plan, _) = scored(&v, "Open Settings, choose Billing and press Change plan");
    assert_eq!(rank, 2, "{v}");
    assert!(
        sibling - plan >= 0.01,
        "leads the plan's answer by {:.4}: {v}",
        sibling - plan
    );
    let thread = &v["results"][1]["thread"];
    assert_eq!(thread["first"], 1, "{v}");
    assert!(thread["contribution"].as_f64().unwrap() > 0.05, "{v}");
    assert!(
        v["results"][0].get("thread").is_none(),
        "the first is never raised: {v}"
    );
    let text = w.run(&["ask", "--explain", "-k", "2", q]).stdout;
    assert!(text.contains("same question, after result 1 +"), "{text}");

    // The same wording in documents that ask other things too is a
    // generic question about each one's subject, not one thread.
    let w = Work::empty();
    let (store, apple) = THREAD.split_at(
        THREAD
            .find("How do I cancel my subscription?,\"If")
            .unwrap(),
    );
    w.write("faq.csv", store);
    w.write(
        "apple.csv",
        &format!(
            "question,answer\n{apple}How do I get a receipt?,Apple emails one for each payment.\n"
        ),
    );
    w.index_ok();
    let v = w.run(&["ask", "--json", "--explain", "-k", "4", q]).json();
    let (sibling, rank) = scored(&v, "If you signed up through the App Store");
    let (plan, plan_rank) = scored(&v, "Open Settings, choose Billing and press Change plan");
    assert!(plan_rank < rank && plan - sibling >= 0.05, "{v}");
    assert!(
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("thread").is_none()),
        "{v}"
    );
}

/// A knowledge base whose "question" column names a topic: every answer
/// under "Billing" gets the heading's cosine from the question view.
const HEADINGS: &str = "question,answer
Billing,\"We accept Visa, Mastercard and American Express cards.\"
Billing,\"Every invoice can be downloaded as a PDF from the Invoices tab.\"
Billing,\"Prices include VAT for customers in the European Union.\"
Billing,\"A refund reaches your card within ten working days.\"
Account,\"You can change your email address under Profile.\"
Account,\"Two-factor authentication is turned on under Security.\"
";

#[test]
fn answers_under_one_heading_are_ordered_by_what_they_say() {
    let w = Work::empty();
    w.write("kb.csv", HEADINGS);
    w.index_ok();
    let q = "Billing: how do I pay, which card brands work?";
    let v = w.run(&["ask", "--json", "--explain", "-k", "3", q]).json();
    let raw =
        |r: &serde_json::Value, name| view(r, name).map_or(0.0, |p| p["raw"].as_f64().unwrap());
    let (cards, refund) = (
        starting(&v, "We accept Visa").0,
        starting(&v, "A refund reaches").0,
    );
    // The heading gives both one cosine, and the words ("card") favour the
    // refund: by the views' scores alone it would come first.
    assert_eq!(raw(cards, "questions"), raw(refund, "questions"), "{v}");
    assert!(raw(refund, "lexical") > raw(cards, "lexical"), "{v}");
    // The answers view says the cards answer, by far more than the words
    // say the other: the margin the order rests on.
    let said = raw(cards, "answers") - raw(refund, "answers");
    let words = view(refund, "lexical").unwrap()["contribution"]
        .as_f64()
        .unwrap()
        - view(cards, "lexical").unwrap()["contribution"]
            .as_f64()
            .unwrap();
    assert!(
        said - words >= 0.1,
        "answers view {said:.3}, words {words:.3}: {v}"
    );
    assert_eq!(v["results"][0]["answer"], cards["answer"], "{v}");
    assert_eq!(
        cards["thread"]["first"], 1,
        "it took the heading's first place: {v}"
    );
    assert_eq!(refund["thread"]["first"], 1, "{v}");
    assert!(
        refund["thread"]["contribution"].as_f64().unwrap() < 0.0,
        "{v}"
    );
}
