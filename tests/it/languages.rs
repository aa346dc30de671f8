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
