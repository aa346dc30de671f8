//! Small updates write the lexical arm as a delta over its base, linked
//! from the previous generation, and answer as a full build does: the
//! real model, through the CLI.

use std::os::unix::fs::MetadataExt;

use crate::util::{self, Work};

/// Ten pairs of a knowledge base about `topic`, each with its own words.
fn kb(topic: &str) -> String {
    let mut csv = String::from("question,answer\n");
    for i in 0..10 {
        csv.push_str(&format!(
            "How is step {i} of the {topic} checklist done?,\"Step {i} of the {topic} checklist is done by the {topic} team on day {}. It takes {} hours.\"\n",
            i + 1,
            i + 2
        ));
    }
    csv
}

/// `v`'s results: each answer and the lexical view's raw score, if it found it.
fn lexical_raws(v: &serde_json::Value) -> Vec<(String, Option<f64>)> {
    let results = v["results"].as_array().unwrap();
    results
        .iter()
        .map(|r| {
            let lexical = r["views"].as_array().and_then(|views| {
                views
                    .iter()
                    .find(|p| p["view"] == "lexical")
                    .and_then(|p| p["raw"].as_f64())
            });
            (r["answer"].as_str().unwrap().to_string(), lexical)
        })
        .collect()
}

const WOMBAT: &str = "How fast can a wombat run?";
const WOMBAT_ANSWER: &str = "A wombat can run at forty kilometres an hour over short distances.";
const ANIMALS: &str = "question,answer
What do koalas eat?,Koalas eat eucalyptus leaves.
Where do quokkas live?,Quokkas live on Rottnest Island.
";

/// The knowledge base's files after the update.
fn updated_files(w: &Work) {
    w.write(
        "animals.csv",
        &ANIMALS.replace("eucalyptus leaves", "eucalyptus and pangolin moss"),
    );
    w.write(
        "wombats.csv",
        &format!("question,answer\n{WOMBAT},{WOMBAT_ANSWER}\n"),
    );
}

#[test]
fn a_small_update_writes_a_lexical_delta_that_scores_as_a_full_build() {
    let topics = [
        "billing", "shipping", "returns", "warranty", "accounts", "privacy",
    ];
    let w = Work::empty();
    for t in topics {
        w.write(&format!("{t}.csv"), &kb(t));
    }
    w.write("animals.csv", ANIMALS);
    assert_eq!(w.index_ok()["lexical"], "whole");
    let file = |name: &str| util::generation_dir(&w.index()).join(name);
    let inode = |name: &str| std::fs::metadata(file(name)).unwrap().ino();
    let (base, meta_base) = (inode("lexical.bin"), inode("meta.bin"));

    // A file of two pairs changed, one of one pair added: the changed
    // file's two documents gone from the base, its pairs and the new one in
    // the delta: 5 of 62, within an eighth.
    updated_files(&w);
    let s = w.index_ok();
    assert_eq!(
        (&s["lexical"], &s["graph"]),
        (&"delta".into(), &"extended".into()),
        "{s}"
    );
    assert_eq!(inode("lexical.bin"), base, "the base is linked");
    assert!(file("lexical.delta.bin").is_file());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file("manifest.json")).unwrap()).unwrap();
    // 10 for the lexical delta, 11 for meta.bin in columns; 12 as the
    // metadata is a delta too, over the previous meta.bin, linked.
    assert_eq!(manifest["format_version"], 12);
    assert_eq!(
        inode("meta.bin"),
        meta_base,
        "the metadata's base is linked"
    );
    assert!(file("meta.delta.bin").is_file());
    let text = w.run(&["index"]).ok().stdout.clone();
    assert!(text.contains("lexical arm unchanged"), "{text}");

    // The same files indexed anew: the lexical view's scores are the same,
    // bit for bit, for every answer both list (fusion's weights may differ:
    // the update keeps the calibration it was fitted with).
    let fresh = Work::empty();
    for t in topics {
        fresh.write(&format!("{t}.csv"), &kb(t));
    }
    updated_files(&fresh);
    assert_eq!(fresh.index_ok()["lexical"], "whole");
    let ask = |w: &Work, q: &str| {
        w.run(&["ask", "--no-update", "--json", "--explain", "-k", "8", q])
            .json()
    };
    let mut compared = 0;
    for q in [
        WOMBAT,
        "What do koalas eat, pangolin moss?",
        "How is step 3 of the returns checklist done?",
        "Who does step 7 of the privacy checklist?",
        "What is the capital of Mongolia?",
    ] {
        let (updated, full) = (lexical_raws(&ask(&w, q)), lexical_raws(&ask(&fresh, q)));
        for (answer, raw) in &updated {
            if let Some((_, want)) = full.iter().find(|(a, _)| a == answer) {
                assert_eq!(raw, want, "{q}: {answer}");
                compared += raw.is_some() as usize;
            }
        }
    }
    assert!(compared >= 10, "only {compared} lexical scores compared");
    let v = ask(&w, WOMBAT);
    let lead = util::assert_top(&v, "answer", WOMBAT_ANSWER);
    assert!(lead >= util::TOP1_MARGIN, "{lead}");

    // A generation with a delta is format 10: one that says 9 is damage.
    let copy = w.dir.path().join("copy");
    util::copy_dir(&w.index(), &copy);
    util::rewrite_manifest(&copy, |m| m["format_version"] = 9.into());
    let e = qasearch::store::open(&copy).unwrap_err();
    assert!(e.to_string().contains("disagrees with its files"), "{e}");

    // A byte flipped in the delta: `ask` refuses the index (exit 4, naming
    // the file); the next `index` builds the arm whole again.
    let mut bytes = std::fs::read(file("lexical.delta.bin")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(file("lexical.delta.bin"), bytes).unwrap();
    w.run(&["ask", "--no-update", WOMBAT])
        .fails(4, "lexical.delta.bin");
    let s = w.index_ok();
    assert!(
        s["full_reason"]
            .as_str()
            .is_some_and(|r| r.contains("lexical.delta.bin")),
        "{s}"
    );
    assert_eq!(s["lexical"], "whole");
    assert!(!file("lexical.delta.bin").exists());
    util::assert_top(&ask(&w, WOMBAT), "answer", WOMBAT_ANSWER);
}
