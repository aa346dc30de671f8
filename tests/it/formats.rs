//! Corpora as users keep them, end to end with the real model: CSV, TSV,
//! Markdown, JSON (an array, schema.org FAQPage) and JSON Lines, each pair
//! at its own line with its metadata; `--where` filters on the CLI, the API
//! and MCP; the document's passage as a result of its own; files of other
//! types named; broken files warned about while the rest is indexed.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use serde_json::{json, Value};

use crate::serve::Served;
use crate::util::{self, Work, TOP1_MARGIN};

const CSV: &str = "id,question,answer,category\n\
1,How do I reset my password?,\"Open Settings, then Security.\nChoose Reset password and follow the link in the e-mail.\",account\n\
2,How do I get a refund?,Refunds are paid back to the original card within five working days.,billing\n\
3,\"Can I pay by \"\"bank transfer\"\"?\",\"Yes, by SEPA transfer to the account printed on your invoice.\",billing\n";

const TSV: &str = "Question\tAnswer\tsection\r\nWhen is the library open?\tFrom nine in the morning to six in the evening on weekdays.\thours\r\n";

const MARKDOWN: &str = "# Bike rental\n\nWelcome to the city bikes.\n\n## Frequently asked questions\n\n### Parking the bike\n\nLeave it at any station marked on the map:\n\n- Central station\n- Harbour front\n\n### What if the bike breaks down?\n\nCall the hotline and wait with the bike:\n\n```\n+49 30 1234 567\n```\n";

const FAQ_PAGE: &str = r#"{"@context": "https://schema.org", "@type": "FAQPage",
 "mainEntity": [
  {"@type": "Question", "name": "How long does delivery take?",
   "acceptedAnswer": {"@type": "Answer", "text": "Parcels arrive within three working days."}},
  {"@type": "Question", "name": "Do you ship abroad?",
   "acceptedAnswer": {"@type": "Answer", "text": "We ship to every country of the European Union."}}]}"#;

const JSONL: &str = "{\"question\": \"How do I pair the headphones?\", \"answer\": \"Hold the power button for five seconds until the light blinks blue.\", \"product\": \"headphones\"}\n\
{\"question\": \"How do I pair the speaker?\", \"answer\": \"Press the Bluetooth button on the back of the speaker once.\", \"product\": \"speaker\"}\n";

/// A folder of every format, two broken files and two of other types.
fn shop() -> Work {
    let w = Work::empty();
    w.write("faq.csv", CSV);
    w.write("library.tsv", TSV);
    w.write("bikes.md", MARKDOWN);
    w.write("shipping.json", FAQ_PAGE);
    w.write("audio/products.jsonl", JSONL);
    w.write("broken.csv", "title,body\nx,y\n");
    w.write("broken.json", "[\n{\"question\": \"Why?\",\n");
    w.write("notes.pdf", "%PDF-1.4");
    w.write("img/logo.png", "PNG");
    w
}

/// The best result of each question, with its lead checked.
fn tops(w: &Work, questions: &[&str]) -> Vec<Value> {
    let r = w.run_stdin(&["ask", "-k", "2", "--json", "-"], &questions.join("\n"));
    r.ok();
    r.json_lines()
        .into_iter()
        .map(|o| {
            let lead = util::top1_lead(&o);
            assert!(lead >= TOP1_MARGIN, "lead {lead:.4}: {o}");
            o["results"][0].clone()
        })
        .collect()
}

#[test]
fn every_format_is_read_with_its_lines_metadata_and_line_breaks() {
    let w = shop();
    let r = w.run(&["index", "--json"]);
    r.ok();
    let s = r.json();
    let pairs = |f: &str| s["formats"][f]["pairs"].as_u64().unwrap();
    assert_eq!(
        [
            pairs("csv"),
            pairs("tsv"),
            pairs("markdown"),
            pairs("json"),
            pairs("jsonl")
        ],
        [3, 1, 2, 2, 2],
        "{s}"
    );
    assert_eq!(s["formats"]["csv"]["files"], 2, "{s}");
    assert_eq!(s["formats"]["csv"]["documents"], 1, "{s}");
    assert_eq!(
        s["unsupported"],
        json!(["img/logo.png", "notes.pdf"]),
        "{s}"
    );
    assert_eq!(s["qa_pairs"], 10, "{s}");
    for needle in [
        "broken.csv:1: skipped: no question and answer columns in the header [\"title\", \"body\"]",
        "broken.json:3: skipped: not JSON",
        "not read: 2 files of a type qasearch does not read (img/logo.png, notes.pdf); it reads .txt, .md, .csv, .tsv, .json, .jsonl",
    ] {
        assert!(r.stderr.contains(needle), "stderr lacks {needle:?}: {r:#?}");
    }
    let got = tops(
        &w,
        &[
            "I forgot my password, how can I change it?",
            "When do I get my money back?",
            "Where do I leave the bike when I am done?",
            "My bike is broken, what now?",
            "How many days until my parcel arrives?",
            "How do I connect my headphones?",
            "What are the library's opening hours?",
        ],
    );
    let at = |i: usize| -> (String, u64) {
        (
            got[i]["doc"].as_str().unwrap().to_string(),
            got[i]["line"].as_u64().unwrap(),
        )
    };
    assert_eq!(at(0), ("faq.csv".into(), 2));
    assert_eq!(got[0]["meta"], json!({"id": "1", "category": "account"}));
    assert_eq!(
        got[0]["answer"],
        "Open Settings, then Security.\nChoose Reset password and follow the link in the e-mail."
    );
    assert_eq!(at(1), ("faq.csv".into(), 4), "after a row of two lines");
    assert_eq!(at(2), ("bikes.md".into(), 7));
    assert_eq!(got[2]["question"], "Parking the bike");
    assert!(
        got[2]["answer"]
            .as_str()
            .unwrap()
            .contains("- Central station\n- Harbour front"),
        "{}",
        got[2]
    );
    assert_eq!(at(3), ("bikes.md".into(), 14));
    assert!(got[3]["answer"]
        .as_str()
        .unwrap()
        .contains("```\n+49 30 1234 567\n```"));
    assert_eq!(at(4), ("shipping.json".into(), 3));
    assert_eq!(at(5), ("audio/products.jsonl".into(), 1));
    assert_eq!(got[5]["meta"], json!({"product": "headphones"}));
    assert_eq!(at(6), ("library.tsv".into(), 2));
    assert_eq!(got[6]["meta"], json!({"section": "hours"}));
    // The terminal shows the metadata under the question.
    let plain = w.run(&["ask", "-k", "1", "How do I connect my headphones?"]);
    plain.ok();
    assert!(plain.stdout.contains("product: headphones"), "{plain:#?}");
}

#[test]
fn where_filters_on_metadata_in_the_cli_the_api_and_mcp() {
    let w = shop();
    w.index_ok();
    let top = |filters: &[&str], question: &str| -> Value {
        let mut args = vec!["ask", "--json", "-k", "1"];
        for f in filters {
            args.extend(["--where", f]);
        }
        args.push(question);
        let r = w.run(&args);
        assert!(r.code == 0 || r.code == 10, "{r:#?}");
        r.json()
    };
    let q = "How do I pair it?";
    for product in ["speaker", "headphones"] {
        let v = top(&[&format!("product={product}")], q);
        assert_eq!(v["results"][0]["meta"]["product"], product, "{v}");
        assert_eq!(v["results"].as_array().unwrap().len(), 1);
    }
    // Several terms AND together; case is ignored; nothing matching is no answer.
    let v = top(&["Category=BILLING", "id=3"], "How do I reset my password?");
    assert_eq!(v["results"][0]["meta"]["id"], "3", "{v}");
    let none = w.run(&["ask", "--json", "--where", "product=toaster", q]);
    assert_eq!(none.code, 10, "{none:#?}");
    assert_eq!(none.json()["results"], json!([]));
    w.run(&["ask", "--where", "product", q])
        .fails(2, "name=value");
    // The API: a POST's `where` object, a GET's repeated `where=`.
    let served = Served::start(&w, &[]);
    let body = json!({"question": q, "k": 1, "where": {"product": "speaker"}}).to_string();
    let post = served.request(
        "POST",
        "/api/ask",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(post.status, 200, "{post:#?}");
    assert_eq!(post.json()["results"][0]["meta"]["product"], "speaker");
    let get = served.request(
        "GET",
        "/api/ask?q=How+do+I+pair+it%3F&k=1&where=product%3Dheadphones",
        &[],
        b"",
    );
    assert_eq!(get.status, 200, "{get:#?}");
    assert_eq!(get.json()["results"][0]["meta"]["product"], "headphones");
    let bad = served.request(
        "POST",
        "/api/ask",
        &[("Content-Type", "application/json")],
        json!({"question": q, "where": "product"})
            .to_string()
            .as_bytes(),
    );
    bad.error(400, "bad_request");
    drop(served);
    // MCP: the tool's `where` argument.
    let mut child = w
        .cmd()
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "ask", "arguments": {"question": q, "k": 1, "where": {"product": "speaker"}}}});
    writeln!(input, "{call}").unwrap();
    input.flush().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let reply: Value = serde_json::from_str(&line).unwrap();
    let results = &reply["result"]["structuredContent"]["results"];
    assert_eq!(results[0]["meta"]["product"], "speaker", "{reply}");
    drop(input);
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_news_paragraph_answers_what_only_it_says_and_pairs_stay_first() {
    let w = Work::seeded();
    w.index_ok();
    let r = w.run(&[
        "ask",
        "--json",
        "-k",
        "2",
        "Who led the Paris meetings with Ukrainian officials?",
    ]);
    r.ok();
    let v = r.json();
    let lead = util::assert_top(&v, "kind", "passage");
    let top = &v["results"][0];
    assert_eq!(top["line"], 1, "{v}");
    assert!(
        top.get("question").is_none(),
        "a passage has no question: {v}"
    );
    assert!(
        top["passage"].as_str().unwrap().contains("Keith Kellogg"),
        "{v}"
    );
    assert!(lead >= 0.03, "{lead}");
    // Every stored question and rewording keeps its own pair first
    // (e2e::seed_questions_and_rewordings_get_their_own_answer_first checks
    // each lead); here: none of them is answered by the passage.
    let questions: Vec<String> = util::seed_questions()
        .into_iter()
        .chain(util::rewordings().into_iter().map(|(q, _)| q))
        .collect();
    let r = w.run_stdin(&["ask", "-k", "1", "--json", "-"], &questions.join("\n"));
    r.ok();
    for o in r.json_lines() {
        assert_eq!(o["results"][0]["kind"], "pair", "{o}");
    }
    // Abstention holds for passages too: nothing about Neptune's moons.
    let r = w.run(&["ask", "--json", "How many moons does Neptune have?"]);
    assert_eq!(r.code, 10, "{r:#?}");
}

#[test]
fn broken_files_are_named_and_never_cost_the_previous_index() {
    let w = Work::empty();
    w.write("faq.csv", CSV);
    w.index_ok();
    let before = w.top_doc_as_is("How do I get a refund?");
    // Every file broken: nothing to index, the previous index answers on.
    w.write("faq.csv", "title,body\nx,y\n");
    w.write("more.json", "{\"faq\": [1, 2]}");
    w.write("more.md", "# Notes\n\nNothing asked here.\n");
    let r = w.run(&["index"]);
    assert_ne!(r.code, 0, "{r:#?}");
    assert!(!r.stderr.contains("panicked"), "{r:#?}");
    for file in ["faq.csv:1", "more.json:1"] {
        assert!(r.stderr.contains(file), "{file}: {r:#?}");
    }
    assert_eq!(w.top_doc_as_is("How do I get a refund?"), before);
}
