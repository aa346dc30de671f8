//! Builds that are killed or fail resume from their checkpoint: they embed
//! only what was not checkpointed, and make the index an uninterrupted
//! build makes (the same vectors to the bit, the same answers).
// The kills need the fault injection (`--features failpoints`).
#![cfg_attr(not(feature = "failpoints"), allow(dead_code))]

use crate::util::*;

/// Texts between two checkpoints in these tests (and texts per model call).
const EVERY: usize = 12;
const BATCH: usize = 4;

const TOPICS: [(&str, &str, &str); 8] = [
    ("harbour", "ferries", "the tide tables"),
    ("library", "rare maps", "the reading room"),
    ("orchard", "pear trees", "the spring frost"),
    ("observatory", "the telescope", "clear winter nights"),
    ("bakery", "rye loaves", "the stone oven"),
    ("museum", "bronze statues", "the east wing"),
    ("railway", "night trains", "the mountain pass"),
    ("vineyard", "late harvest", "the south slope"),
];

/// Eight documents: a passage, then pairs whose answers have one to three
/// sentences (about 150 texts to embed: sentences, whole answers, questions).
fn corpus(w: &Work) {
    for (i, (place, thing, detail)) in TOPICS.iter().enumerate() {
        let mut text = format!(
            "The {place} of the town reopened this year. Visitors come for {thing} and for {detail}.\n"
        );
        for j in 0..4 {
            text.push_str(&format!(
                "What changed at the {place} in year {j}?\nIn year {j} the {place} renewed {thing}.{}\n",
                match j % 3 {
                    0 => String::new(),
                    1 => format!(" The work took {} weeks.", j + 2),
                    _ => format!(
                        " The work took {} weeks. People still talk about {detail} from that year.",
                        j + 3
                    ),
                }
            ));
        }
        w.write(&format!("doc{i}.txt"), &text);
    }
}

fn index_args() -> Vec<String> {
    [
        "index",
        "--json",
        "--checkpoint-texts",
        &EVERY.to_string(),
        "--batch-size",
        &BATCH.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

fn index(w: &Work, kill_at: Option<&str>) -> Run {
    let args = index_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match kill_at {
        Some(at) => w.run_env(&[("QASEARCH_KILL_AT_CHECKPOINT", at.as_ref())], &args),
        None => w.run(&args),
    }
}

/// The generation's vectors and metadata, byte for byte, and the best
/// answer to each question.
fn made(w: &Work) -> (Vec<u8>, Vec<u8>, Vec<String>) {
    let gen = generation_dir(&w.index());
    let questions = [
        "Which trains run over the mountain pass?",
        "How long did the work at the bakery take in year 1?",
        "When do people visit the observatory?",
    ];
    (
        std::fs::read(gen.join("vectors.f32")).unwrap(),
        std::fs::read(gen.join("meta.bin")).unwrap(),
        top_questions(w, &questions),
    )
}

fn checkpoint(w: &Work) -> std::path::PathBuf {
    w.index().join("embedding.checkpoint")
}

#[test]
#[cfg(feature = "failpoints")]
fn a_build_killed_at_any_checkpoint_resumes_and_makes_the_same_index() {
    let reference = Work::empty();
    corpus(&reference);
    let r = index(&reference, None);
    r.ok();
    let total = r.json()["embedded"].as_u64().unwrap() as usize;
    assert!(
        total > 8 * EVERY,
        "enough texts for several checkpoints: {total}"
    );
    assert!(!checkpoint(&reference).exists(), "removed once committed");
    let want = made(&reference);

    // Killed once after the 1st checkpoint, halfway through writing the
    // 3rd, after the 6th; and killed twice in a row (2nd, then 2nd-torn
    // of the build that resumed).
    for kills in [&["1"][..], &["3-torn"], &["6"], &["2", "2-torn"]] {
        let w = Work::empty();
        corpus(&w);
        let mut least = 0;
        for at in kills {
            let r = index(&w, Some(at));
            assert_eq!(r.code, -1, "killed at {at}: {r:#?}");
            assert!(!w.index().join("CURRENT").exists(), "no generation: {at}");
            assert!(checkpoint(&w).exists(), "{at}");
            // Each checkpoint holds at least EVERY texts; a torn one none.
            let whole = match at.strip_suffix("-torn") {
                Some(n) => n.parse::<usize>().unwrap() - 1,
                None => at.parse().unwrap(),
            };
            least += whole * EVERY;
        }
        let r = index(&w, None);
        r.ok();
        let v = r.json();
        let (embedded, resumed) = (
            v["embedded"].as_u64().unwrap() as usize,
            v["resumed"].as_u64().unwrap() as usize,
        );
        assert_eq!(embedded + resumed, total, "{kills:?}: {v}");
        assert!(
            resumed >= least,
            "{kills:?}: resumed {resumed}, checkpointed at least {least}"
        );
        assert!(
            r.stderr.contains("resuming: ") && r.stderr.contains("% already embedded"),
            "{}",
            r.stderr
        );
        assert!(
            !checkpoint(&w).exists(),
            "{kills:?}: removed once committed"
        );
        let got = made(&w);
        assert!(
            got.0 == want.0,
            "{kills:?}: vectors differ from an uninterrupted build"
        );
        assert!(got.1 == want.1, "{kills:?}: metadata differs");
        assert_eq!(got.2, want.2, "{kills:?}");
        let left = files_under(&w.index());
        assert!(left.iter().all(|f| !f.starts_with("tmp-")), "{left:?}");
    }
}

#[test]
#[cfg(feature = "failpoints")]
fn a_build_that_fails_after_embedding_embeds_nothing_the_next_time() {
    let w = Work::seeded();
    w.index_ok();
    corpus(&w);
    // Fails writing its generation: the checkpoint holds all it embedded.
    let r = w.run_env(&[("QASEARCH_ABORT_AT_STEP", "3".as_ref())], &["index"]);
    r.fails(7, "aborted at write step 3"); // 7: I/O
    assert!(checkpoint(&w).exists());
    // The index in use is the previous one, untouched by the checkpoint.
    assert_eq!(
        w.top_doc_as_is("Which trains run over the mountain pass?"),
        SEED
    );
    let v = w.index_ok();
    assert_eq!(v["embedded"], 0, "{v}");
    assert!(v["resumed"].as_u64().unwrap() > 8 * EVERY as u64, "{v}");
    assert!(!checkpoint(&w).exists());
    assert_eq!(
        w.top_doc_as_is("Which trains run over the mountain pass?"),
        "doc6.txt"
    );
}

/// A build killed, then the corpus edited (one document changed, one
/// removed, one added) and the update left to `ask`: it takes from the
/// checkpoint what still applies (vectors are found by their text, never
/// by their place) and makes the index an uninterrupted build of the edited
/// corpus makes.
#[test]
#[cfg(feature = "failpoints")]
fn a_build_killed_then_edited_resumes_through_ask_to_the_same_index() {
    let edit = |w: &Work| {
        let doc3 = std::fs::read_to_string(w.data().join("doc3.txt")).unwrap();
        w.write("doc3.txt", &doc3.replace("renewed", "rebuilt"));
        std::fs::remove_file(w.data().join("doc5.txt")).unwrap();
        w.write(
            "doc8.txt",
            "The lighthouse of the town reopened this year.\nWhat changed at the lighthouse?\nThe lighthouse renewed its lamp. The work took a month.\n",
        );
    };
    // `ask` embeds with the default batch, so the reference does too.
    let reference = Work::empty();
    corpus(&reference);
    edit(&reference);
    reference.run(&["index", "--json"]).ok();
    let want = made(&reference);

    let w = Work::empty();
    corpus(&w);
    let args = ["index", "--json", "--checkpoint-texts", "16"];
    let r = w.run_env(&[("QASEARCH_KILL_AT_CHECKPOINT", "3".as_ref())], &args);
    assert_eq!(r.code, -1, "killed: {r:#?}");
    assert!(checkpoint(&w).exists());
    edit(&w);
    let r = w.run(&["ask", "--json", "What changed at the lighthouse?"]);
    r.ok();
    assert!(
        r.stderr.contains("resuming: ") && r.stderr.contains("% already embedded"),
        "{}",
        r.stderr
    );
    assert!(!checkpoint(&w).exists(), "removed once committed");
    let got = made(&w);
    assert!(
        got.0 == want.0,
        "vectors differ from an uninterrupted build"
    );
    assert!(got.1 == want.1, "metadata differs");
    assert_eq!(got.2, want.2);
}

#[test]
fn checkpoints_off_and_an_unchanged_index_leave_no_checkpoint() {
    let w = Work::empty();
    corpus(&w);
    let r = w.run(&["index", "--json", "--checkpoint-texts", "0"]);
    r.ok();
    assert!(!checkpoint(&w).exists());
    // A stale checkpoint (say, of a build whose corpus was then restored)
    // is removed by a build that finds nothing to change.
    std::fs::write(checkpoint(&w), "QACKPT").unwrap();
    let v = w.index_ok();
    assert_eq!(v["embedded"], 0);
    assert!(!checkpoint(&w).exists());
}

/// The export of a store's pairs and vectors, without its header line
/// (which names the generation and where it is).
fn exported(w: &Work, store: Option<&str>) -> Vec<String> {
    let mut args = vec![];
    if let Some(url) = store {
        args.extend(["--store", url]);
    }
    args.push("export");
    let r = w.run(&args);
    r.ok();
    r.stdout.lines().skip(1).map(String::from).collect()
}

#[test]
#[cfg(feature = "failpoints")]
fn a_postgres_build_killed_at_a_checkpoint_resumes_from_its_rows() {
    let reference = Work::empty();
    corpus(&reference);
    let total = index(&reference, None).json()["embedded"].as_u64().unwrap() as usize;
    let want = exported(&reference, None);

    let w = Work::empty();
    corpus(&w);
    let url = pg_database("qa_resume");
    let mut args = vec!["--store", url.as_str()];
    let more = index_args();
    args.extend(more.iter().map(String::as_str));
    let r = w.run_env(&[("QASEARCH_KILL_AT_CHECKPOINT", "3".as_ref())], &args);
    assert_eq!(r.code, -1, "{r:#?}");
    let mut c = pg_client("qa_resume");
    let chunks: i64 = c
        .query_one("SELECT count(*) FROM qasearch_checkpoint", &[])
        .unwrap()
        .get(0);
    assert_eq!(chunks, 3, "each checkpoint committed as written");
    // Killed halfway through its 2nd checkpoint: that row never committed.
    let r = w.run_env(&[("QASEARCH_KILL_AT_CHECKPOINT", "2-torn".as_ref())], &args);
    assert_eq!(r.code, -1, "{r:#?}");
    let r = w.run(&args);
    r.ok();
    let v = r.json();
    let (embedded, resumed) = (
        v["embedded"].as_u64().unwrap() as usize,
        v["resumed"].as_u64().unwrap() as usize,
    );
    assert_eq!(embedded + resumed, total, "{v}");
    assert!(resumed >= 4 * EVERY, "{v}");
    let gone: bool = c
        .query_one("SELECT to_regclass('qasearch_checkpoint') IS NULL", &[])
        .unwrap()
        .get(0);
    assert!(gone, "the checkpoint table is dropped once committed");
    assert_eq!(exported(&w, Some(&url)), want, "the same pairs and vectors");
}
