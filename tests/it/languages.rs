//! Corpora in other languages and scripts: sentences split where their
//! writers end them, and a warning when the model cannot read them.

use crate::util::Work;

#[test]
fn an_arabic_corpus_is_split_and_warned_about() {
    let w = Work::empty();
    w.write(
        "faq.txt",
        "الأسئلة الشائعة.\nما هو الهدف من التحالف؟\nالهدف هو السلام. والأمن في المنطقة أيضا؟ نعم.\nأين يقع المكتب؟\nيقع المكتب في القاهرة.\n",
    );
    let r = w.run(&["index", "--json"]);
    r.ok();
    let v = r.json();
    assert_eq!(v["qa_pairs"], 2);
    assert_eq!(v["sentences"], 4, "three sentences, then one: {v}");
    let warning = v["language_warning"].as_str().unwrap();
    assert!(
        warning.contains("Arabic") && warning.contains("English only"),
        "{warning}"
    );
    assert!(r.stderr.contains("looks Arabic"), "{}", r.stderr);
}

#[test]
fn chinese_and_hindi_sentences_end_where_their_marks_say() {
    let w = Work::empty();
    w.write(
        "zh.txt",
        "常见问题。\n办公室在哪里？\n办公室在北京。每天九点开门！周末关门。\n",
    );
    w.write(
        "hi.txt",
        "प्रश्न।\nभारत की राजधानी क्या है?\nभारत की राजधानी नई दिल्ली है। यह एक बड़ा शहर है।\n",
    );
    let v = w.index_ok();
    assert_eq!(v["sentences"], 5, "{v}");
    assert!(v["language_warning"].is_string(), "{v}");
}

#[test]
fn an_english_corpus_gets_no_warning() {
    let w = Work::seeded();
    let r = w.run(&["index", "--json"]);
    r.ok();
    assert!(r.json()["language_warning"].is_null());
    assert!(!r.stderr.contains("English only"), "{}", r.stderr);
}

#[test]
fn model_list_names_every_model_with_its_languages_files_and_quality() {
    let w = Work::empty();
    let r = w.run(&["model", "list", "--json"]);
    r.ok();
    let v = r.json();
    let models = v["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["minilm-int8", "minilm"]);
    assert_eq!(models[0]["default"], true);
    assert_eq!(models[1]["default"], false);
    let pins: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::repo().join("models/pins.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        models[0]["source"]["sha256"],
        pins["variants"]["minilm-int8"]["sha256"]
    );
    assert_eq!(models[1]["source"]["sha256"], pins["files"][0]["sha256"]);
    for m in models {
        assert_eq!(m["languages"], serde_json::json!(["en"]), "{m}");
        assert_eq!(m["dimension"], 384);
        for set in [
            "xquad-en",
            "wikiqa-dev",
            "xquad-de-para",
            "stackfaq-dev-beir",
            "stackfaq-dev-qa",
            "seed",
        ] {
            let s = m["quality"][set]["engine"]
                .as_f64()
                .unwrap_or_else(|| panic!("{set}: {m}"));
            assert!(s > 0.5 && s <= 1.0, "{set}: {s}");
        }
    }
    let text = w.run(&["model", "list"]);
    text.ok();
    assert!(
        text.stdout
            .contains("minilm-int8 (also: default, fast)  [default]"),
        "{}",
        text.stdout
    );
}
