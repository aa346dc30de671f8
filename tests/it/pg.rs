//! The PostgreSQL store end to end: a real PostgreSQL 16 with pgvector
//! (started by the harness from the `pgserver` package), the real model.

use std::time::{Duration, Instant};

use super::util::{pg_client, pg_database, pg_url, postgres, rewordings, seed_questions, Work};

/// The store's advisory lock (`qasearch::store::pg::LOCK_KEY`).
const LOCK_KEY: i64 = qasearch::store::pg::LOCK_KEY;

/// `ask --json -k 3` for every line of `questions`, in one process.
fn answers(w: &Work, store: Option<&str>, questions: &[String]) -> Vec<serde_json::Value> {
    let mut args = vec![];
    if let Some(url) = store {
        args.extend(["--store", url]);
    }
    args.extend(["ask", "--no-update", "-k", "3", "--json", "-"]);
    let r = w.run_stdin(&args, &questions.join("\n"));
    r.ok();
    r.json_lines()
}

/// `ask --no-update --json -k 1 QUESTION` on the store, with `flags` before `ask`.
fn ask_store(w: &Work, url: &str, flags: &[&str], question: &str) -> super::util::Run {
    let mut args = vec!["--store", url];
    args.extend(flags);
    args.extend(["ask", "--no-update", "--json", "-k", "1", question]);
    w.run(&args)
}

fn index_json(w: &Work, url: &str) -> serde_json::Value {
    let r = w.run(&["--store", url, "index", "--json"]);
    r.ok();
    r.json()
}

fn seed_and_rewordings() -> Vec<String> {
    let mut questions = seed_questions();
    questions.extend(rewordings().into_iter().map(|(q, _)| q));
    questions
}

#[test]
fn the_store_answers_as_the_folder_does_and_moving_there_embeds_nothing() {
    let w = Work::seeded();
    let url = pg_database("qa_same");
    w.index_ok();
    // Moving the folder's index into the database re-embeds nothing.
    let moved = index_json(&w, &url);
    assert_eq!(moved["embedded"], 0, "{moved}");
    assert_eq!(moved["graph"], "loaded", "{moved}");
    assert!(
        !moved["index"].as_str().unwrap().contains("/index"),
        "{moved}"
    );

    let questions = seed_and_rewordings();
    let folder = answers(&w, None, &questions);
    let store = answers(&w, Some(&url), &questions);
    assert_eq!(folder.len(), questions.len());
    for ((q, a), b) in questions.iter().zip(&folder).zip(&store) {
        assert_eq!(a["answered"], b["answered"], "{q}");
        let (ra, rb) = (
            a["results"].as_array().unwrap(),
            b["results"].as_array().unwrap(),
        );
        assert_eq!(ra.len(), rb.len(), "{q}");
        for (x, y) in ra.iter().zip(rb) {
            for key in ["question", "doc", "line", "passage", "answer"] {
                assert_eq!(x[key], y[key], "{q}: {key}");
            }
            let (sx, sy) = (x["score"].as_f64().unwrap(), y["score"].as_f64().unwrap());
            assert!((sx - sy).abs() < 1e-4, "{q}: score {sx} vs {sy}");
        }
    }

    // The same data: fresh; an unchanged index run keeps the generation.
    let s = w.run(&["--store", &url, "status", "--json"]);
    s.ok();
    assert_eq!(s.json()["fresh"], true);
    assert_eq!(s.json()["generation"], moved["generation"]);
    // Its few kilobytes of vector indexes fit in the server's 128 MB cache:
    // no advice (a store larger than the cache gets one; unit-tested).
    assert_eq!(s.json()["advice"], serde_json::json!([]), "{}", s.stdout);
    let again = index_json(&w, &url);
    assert_eq!(again["graph"], "unchanged");
    assert_eq!(again["generation"], moved["generation"]);

    // What the store holds is what the folder holds: the same pairs and vectors.
    let export = |store: Option<&str>| {
        let mut args = vec![];
        if let Some(u) = store {
            args.extend(["--store", u]);
        }
        args.push("export");
        let r = w.run(&args);
        r.ok();
        r.json_lines().into_iter().skip(1).collect::<Vec<_>>()
    };
    assert_eq!(export(None), export(Some(&url)));

    // The tables say what they hold, for SQL users.
    let mut c = pg_client("qa_same");
    let pairs: i64 = c
        .query_one("SELECT count(*) FROM qasearch_pairs", &[])
        .unwrap()
        .get(0);
    assert_eq!(pairs, moved["qa_pairs"].as_i64().unwrap());
    let rows: i64 = c
        .query_one("SELECT count(*) FROM qasearch_rows", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, moved["vectors"].as_i64().unwrap());
}

const BIKES: &str = "City bikes.\n\
How much is a day pass?\nA day pass costs five euros. It is valid until midnight.\n\
Where are the bikes?\nThe bikes stand at the main station. More stand at the harbour.\n\
Can I take a bike on the tram?\nBikes ride the tram outside rush hours. Folded bikes ride free.\n";

#[test]
fn updates_embed_only_what_changed_and_removed_documents_stop_answering() {
    let w = Work::seeded();
    w.write("bikes.txt", BIKES);
    let url = pg_database("qa_updates");
    // No folder index: the store embeds everything itself.
    let first = index_json(&w, &url);
    assert!(first["embedded"].as_u64().unwrap() > 20, "{first}");
    let top = |q: &str| {
        let r = ask_store(&w, &url, &[], q);
        assert!(r.code == 0 || r.code == 10, "{r:#?}");
        r.json()["results"][0].clone()
    };
    assert_eq!(
        top("what does a day ticket for a bike cost")["doc"],
        "bikes.txt"
    );

    // One sentence changes: its answer is read again, with both its
    // sentences (read in the answer's context): three new texts.
    w.write(
        "bikes.txt",
        &BIKES.replace("It is valid until midnight.", "It is valid for 24 hours."),
    );
    let changed = index_json(&w, &url);
    assert_eq!(changed["embedded"], 3, "{changed}");
    assert_eq!(
        changed["generation"].as_u64().unwrap(),
        first["generation"].as_u64().unwrap() + 1
    );
    let day = top("how much is a day pass");
    assert!(
        day["answer"]
            .as_str()
            .unwrap()
            .ends_with("It is valid for 24 hours."),
        "{day}"
    );
    let mut c = pg_client("qa_updates");
    let old: i64 = c
        .query_one(
            "SELECT count(*) FROM qasearch_rows WHERE text LIKE '%until midnight%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(old, 0, "the replaced sentence's rows are gone");

    // A document removed no longer answers, and its rows are gone.
    std::fs::remove_file(w.data().join("bikes.txt")).unwrap();
    let removed = index_json(&w, &url);
    assert_eq!(removed["embedded"], 0, "{removed}");
    assert_ne!(
        top("what does a day ticket for a bike cost")["doc"],
        "bikes.txt"
    );
    let bikes: i64 = c
        .query_one(
            "SELECT count(*) FROM qasearch_rows WHERE text ILIKE '%bike%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(bikes, 0);
    let pairs: i64 = c
        .query_one(
            "SELECT count(*) FROM qasearch_pairs WHERE document = 'bikes.txt'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(pairs, 0);

    // `ask` updates the store by itself when the data changed, as with a folder.
    w.write("bikes.txt", BIKES);
    let r = w.run(&[
        "--store",
        &url,
        "ask",
        "--json",
        "-k",
        "1",
        "where can I find the bikes",
    ]);
    r.ok();
    assert_eq!(r.json()["results"][0]["doc"], "bikes.txt");
}

/// A corpus of `n` generated pairs (several sentences each) in one document.
fn many_pairs(n: usize, salt: usize) -> String {
    let mut text = String::from("Generated pairs.\n");
    for i in 0..n {
        text.push_str(&format!(
            "What is item {i} of batch {salt}?\nItem {i} of batch {salt} is a numbered thing. \
             It was made in run {salt} as number {i}. Nothing else is known about item {i}.\n"
        ));
    }
    text
}

#[test]
fn a_build_killed_at_any_moment_leaves_the_previous_generation_answering() {
    let w = Work::seeded();
    w.write("many.txt", &many_pairs(150, 0));
    let url = pg_database("qa_kill");
    index_json(&w, &url);
    let question = "What is the main goal of the Coalition of the Willing?";
    let expect = answers(&w, Some(&url), &[question.to_string()])[0]["results"][0].clone();

    // Moments spread over a whole build (start-up, embedding, loading,
    // graph, commit), fixed so that a failure can be replayed.
    let moments_ms = [150u64, 450, 800, 1200, 1700, 2300, 3000];
    let mut killed = 0;
    for (round, ms) in moments_ms.iter().enumerate() {
        w.write("many.txt", &many_pairs(150, round + 1));
        let mut child = w
            .cmd()
            .args(["--store", &url, "index", "--json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        // Whatever generation is current answers, and answers right.
        let now = answers(&w, Some(&url), &[question.to_string()]);
        assert_eq!(
            now[0]["results"][0]["question"], expect["question"],
            "round {round}"
        );
        assert_eq!(
            now[0]["results"][0]["passage"], expect["passage"],
            "round {round}"
        );
        let s = w.run(&["--store", &url, "status", "--json"]);
        assert!(s.code == 0 || s.code == 8, "round {round}: {s:#?}");
    }
    assert!(
        killed >= 5,
        "only {killed} builds were killed before they ended"
    );
    // The lock dies with its builder: the server notices the closed
    // connection within seconds, even in the middle of a statement.
    let mut c = pg_client("qa_kill");
    let lock_free = |c: &mut postgres::Client| -> bool {
        let held: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                 AND objid = ($1 & 4294967295)::oid",
                &[&LOCK_KEY],
            )
            .unwrap()
            .get(0);
        held == 0
    };
    let t = Instant::now();
    while !lock_free(&mut c) {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the lock outlived its builder"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A vector index left invalid (a kill during CREATE INDEX CONCURRENTLY):
    // questions are still answered (by scanning), and the next index run
    // builds it again.
    let valid = |c: &mut postgres::Client| -> bool {
        c.query_one(
            "SELECT bool_and(indisvalid) FROM pg_index WHERE indexrelid IN \
             ('qasearch_rows_answers'::regclass, 'qasearch_rows_questions'::regclass)",
            &[],
        )
        .unwrap()
        .get(0)
    };
    c.execute(
        "UPDATE pg_index SET indisvalid = false \
         WHERE indexrelid = 'qasearch_rows_answers'::regclass",
        &[],
    )
    .unwrap();
    assert!(!valid(&mut c));
    let now = answers(&w, Some(&url), &[question.to_string()]);
    assert_eq!(now[0]["results"][0]["question"], expect["question"]);
    // The next build runs, completes, and builds the invalid index again.
    let done = index_json(&w, &url);
    assert!(valid(&mut c), "the invalid index was built again");
    assert_eq!(done["qa_pairs"].as_u64().unwrap(), 150 + 6);
    let r = ask_store(&w, &url, &[], "What is item 7 of batch 7?");
    r.ok();
    assert_eq!(
        r.json()["results"][0]["question"],
        "What is item 7 of batch 7?"
    );
}

#[test]
fn a_second_builder_is_refused_and_ask_answers_meanwhile() {
    let w = Work::seeded();
    let url = pg_database("qa_lock");
    index_json(&w, &url);
    // Another builder holds the lock (as `index --store` does while it runs).
    let mut holder = pg_client("qa_lock");
    holder
        .query_one("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .unwrap();
    w.write("bikes.txt", BIKES);
    let t = Instant::now();
    w.run(&["--store", &url, "index"])
        .fails(6, "another qasearch is indexing");
    assert!(t.elapsed() < Duration::from_secs(30));
    // `ask` wants to update, cannot, and answers from the current generation.
    let r = w.run(&[
        "--store",
        &url,
        "ask",
        "--json",
        "-k",
        "1",
        "What is the main goal of the Coalition of the Willing?",
    ]);
    r.ok();
    assert!(
        r.stderr.contains("answering from the current one"),
        "{r:#?}"
    );
    holder
        .query_one("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .unwrap();
    let after = index_json(&w, &url);
    assert!(after["embedded"].as_u64().unwrap() > 0, "{after}");
}

#[test]
fn another_schema_version_or_model_is_refused_clearly() {
    let w = Work::seeded();
    let url = pg_database("qa_mismatch");
    index_json(&w, &url);
    // Another model (the int8 file, same dimension): refused, naming the fix.
    w.run(&["--store", &url, "--model", "minilm-int8", "index"])
        .fails(4, "--full");
    ask_store(
        &w,
        &url,
        &["--model", "minilm-int8"],
        "what is the coalition",
    )
    .fails(4, "model");
    // A store written by another schema version.
    let mut c = pg_client("qa_mismatch");
    c.execute("UPDATE qasearch_store SET schema_version = 99", &[])
        .unwrap();
    ask_store(&w, &url, &[], "what is the coalition").fails(4, "store schema version");
    w.run(&["--store", &url, "index"])
        .fails(4, "store schema version");
    // --full replaces it.
    let full = w.run(&["--store", &url, "index", "--full", "--json"]);
    full.ok();
    assert!(full.json()["embedded"].as_u64().unwrap() > 0);
    ask_store(&w, &url, &[], "what is the coalition").ok();
    // And --full with another model replaces every vector: no row of the
    // previous model is left, and that model is refused now.
    let other = w.run(&[
        "--store",
        &url,
        "--model",
        "minilm-int8",
        "index",
        "--full",
        "--json",
    ]);
    other.ok();
    let vectors = other.json()["vectors"].as_i64().unwrap();
    let rows: i64 = c
        .query_one("SELECT count(*) FROM qasearch_rows", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, vectors);
    let r = ask_store(
        &w,
        &url,
        &["--model", "minilm-int8"],
        "What is the main goal of the Coalition of the Willing?",
    );
    r.ok();
    assert_eq!(
        r.json()["results"][0]["question"],
        "What is the main goal of the Coalition of the Willing?"
    );
    // The store remembers its model: a plain `ask` uses it, naming another is refused.
    ask_store(&w, &url, &[], "what is the coalition").ok();
    ask_store(&w, &url, &["--model", "default"], "what is the coalition").fails(4, "drop --model");
}

#[test]
fn bad_urls_and_unusable_servers_fail_fast_with_clear_errors() {
    let w = Work::seeded();
    let base = postgres();
    let socket_dir = base.split("host=").nth(1).unwrap();
    let t = Instant::now();
    // Not a database URL at all.
    w.run(&["--store", "mysql://root:hunter2@localhost/db", "ask", "x"])
        .fails(2, "--store takes a PostgreSQL URL");
    // A malformed one.
    w.run(&["--store", "postgresql://a:b@host:notaport/db", "ask", "x"])
        .fails(2, "--store cannot be read");
    w.run(&["--store", "", "ask", "x"])
        .fails(2, "--store is empty");
    // Nothing listens there.
    let r = w.run(&[
        "--store",
        "postgresql://postgres:secret@127.0.0.1:1/db",
        "ask",
        "x",
    ]);
    r.fails(11, "cannot connect");
    assert!(!r.stderr.contains("secret"), "{r:#?}");
    // The server refuses the login.
    w.run(&[
        "--store",
        &format!("postgresql://nobody@/postgres?host={socket_dir}"),
        "status",
    ])
    .fails(11, "refused the login");
    // No such database.
    w.run(&[
        "--store",
        &format!("postgresql://postgres@/no_such_db?host={socket_dir}"),
        "status",
    ])
    .fails(11, "no such database");
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());

    // A database without pgvector, for a user who may not create it.
    let url = pg_database("qa_noext");
    let mut c = pg_client("qa_noext");
    c.batch_execute(
        "DROP EXTENSION IF EXISTS vector; DROP ROLE IF EXISTS plain; CREATE ROLE plain LOGIN; \
         GRANT ALL ON SCHEMA public TO plain",
    )
    .unwrap();
    let plain = url.replacen("postgres:@", "plain@", 1);
    w.run(&["--store", &plain, "index"])
        .fails(11, "no `vector` extension");
    // An empty database is no index yet: status says so.
    let s = w.run(&["--store", &plain, "status"]);
    assert_eq!(s.code, 9, "{s:#?}");
    drop(c);
    let _ = pg_url("postgres");
}

/// A password with every reserved character never leaves the process: not
/// in `index`, `status`, `status --json`, errors, trace logs, nor `serve`'s
/// `/api/status`, whether the URL percent-encodes it or a connection string
/// quotes it.
#[test]
fn passwords_never_leave_the_process() {
    let secret = "Zq9/?#@:&=%'x;,[]!$()*+";
    let encoded: String = secret
        .bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let base = pg_database("qa_secret");
    let socket_dir = base.split("host=").nth(1).unwrap().to_string();
    let url = base.replacen("postgres:@", &format!("postgres:{encoded}@"), 1);
    let keyed = format!(
        "host={socket_dir} user=postgres dbname=qa_secret password='{}'",
        secret.replace('\'', "\\'")
    );
    let w = Work::seeded();
    let leaks = |what: &str, text: &str| {
        for f in [secret, encoded.as_str(), "Zq9"] {
            assert!(!text.contains(f), "{what} shows the password: {text}");
        }
    };
    for store in [&keyed, &url] {
        for args in [
            &["index"][..],
            &["index", "--json"],
            &["status"],
            &["status", "--json"],
            &[
                "ask",
                "--no-update",
                "--json",
                "What is the main goal of the coalition?",
            ],
            &["export"],
        ] {
            let mut full = vec!["--store", store.as_str()];
            full.extend(args);
            let r = w
                .cmd()
                .env("QASEARCH_LOG", "trace")
                .args(&full)
                .output()
                .unwrap();
            assert_eq!(r.status.code(), Some(0), "{args:?}: {r:?}");
            leaks(&format!("{args:?}"), &String::from_utf8_lossy(&r.stdout));
            leaks(&format!("{args:?}"), &String::from_utf8_lossy(&r.stderr));
        }
        // The location it prints is the parsed one.
        let s = w.run(&["--store", store, "status", "--json"]);
        assert_eq!(
            s.json()["index"],
            format!("postgresql://postgres@/qa_secret?host={socket_dir}"),
            "{}",
            s.stdout
        );
        // Errors: a database that is not there, a login refused.
        for bad in [
            store.replace("qa_secret", "qa_no_such_db"),
            store
                .replace("postgres:", "nobody:")
                .replace("user=postgres", "user=nobody"),
        ] {
            let r = w.run(&["--store", &bad, "status", "--json"]);
            assert_eq!(r.code, 11, "{r:#?}");
            leaks("an error", &format!("{}{}", r.stdout, r.stderr));
        }
    }
    // The server's unauthenticated status.
    let served = super::serve::Served::start(&w, &["--store", &url]);
    let status = served.get("/api/status");
    assert_eq!(status.status, 200, "{status:#?}");
    leaks("/api/status", &status.body);
    assert!(
        status.body.contains("postgresql://postgres@/qa_secret"),
        "{}",
        status.body
    );
    let health = served.get("/api/health");
    leaks("/api/health", &health.body);
}

#[test]
fn eval_shows_both_stores_within_a_hundredth() {
    let w = Work::empty();
    let url = pg_database("qa_eval");
    let set = super::util::repo().join("../shared/datasets/xquad-en");
    let cache = w.dir.path().join("cache");
    let r = w.run(&[
        "--store",
        &url,
        "eval",
        "--json",
        "--beir",
        set.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ]);
    r.ok();
    let v = r.json();
    let ndcg = |name: &str| v["systems"][name]["ndcg@10"].as_f64().unwrap();
    for name in ["engine", "dense", "exact"] {
        let (folder, store) = (ndcg(name), ndcg(&format!("{name}@postgres")));
        assert!(
            (folder - store).abs() <= 0.01,
            "{name}: {folder} vs {store}"
        );
    }
    assert!(ndcg("engine@postgres") > 0.8, "{v}");
    let pg = &v["postgres"];
    assert!(pg["ann_recall@10"].as_f64().unwrap() >= 0.98, "{pg}");
    assert_eq!(pg["embedded"], 0, "{pg}");
}

#[test]
fn serve_answers_from_the_store_and_follows_its_builds_under_load() {
    use super::serve::Served;
    use serde_json::json;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let w = Work::seeded();
    let url = pg_database("qa_serve");
    index_json(&w, &url);
    let s = Served::start(&w, &["--store", &url]);
    let question = "What is the main goal of the Coalition of the Willing?";
    let api = s.ask(&json!({"question": question, "k": 3})).json();
    let cli = answers(&w, Some(&url), &[question.to_string()]);
    assert_eq!(api["results"], cli[0]["results"]);
    let generation = s.get("/api/health").json()["generation"].as_u64().unwrap();

    let stop = AtomicBool::new(false);
    let (sent, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let new_question = "Which ferry leaves Lindau harbour before dawn?";
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let r = s.ask(&json!({"question": question, "k": 1}));
                    sent.fetch_add(1, Ordering::Relaxed);
                    if r.status != 200
                        || r.json()["results"][0]["question"] != api["results"][0]["question"]
                    {
                        eprintln!("failed: {r:#?}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        w.write(
            "ferries.txt",
            "Lake ferries.\nWhich ferry leaves Lindau harbour before dawn?\nThe mail boat Hohentwiel leaves Lindau at 5:40 every weekday.\n",
        );
        index_json(&w, &url);
        let switched = Instant::now();
        let mut found = None;
        while switched.elapsed() < Duration::from_secs(5) {
            let r = s.ask(&json!({"question": new_question, "k": 1}));
            if r.json()["results"][0]["doc"] == "ferries.txt" {
                found = Some(switched.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let found = found.expect("the new document answered within 5 s");
        assert!(found < Duration::from_secs(1), "{found:?}");
    });
    assert!(sent.load(Ordering::Relaxed) > 10);
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed");
    let h = s.get("/api/health").json();
    assert_eq!(h["generation"].as_u64().unwrap(), generation + 1, "{h}");
}

#[test]
fn an_export_loads_into_a_new_store_without_embedding() {
    // One machine: a folder index, exported.
    let from = Work::seeded();
    from.write("bikes.txt", BIKES);
    from.index_ok();
    let export = from.dir.path().join("export.jsonl");
    from.run(&["export", "-o", export.to_str().unwrap()]).ok();
    // Another: the same data, no index, a new database.
    let to = Work::seeded();
    to.write("bikes.txt", BIKES);
    let url = pg_database("qa_export");
    let r = to.run(&[
        "--store",
        &url,
        "index",
        "--json",
        "--vectors-from",
        export.to_str().unwrap(),
    ]);
    r.ok();
    assert_eq!(r.json()["embedded"], 0, "{r:#?}");
    let mut questions = seed_and_rewordings();
    questions.push("what does a day ticket for a bike cost".into());
    let a = answers(&from, None, &questions);
    let b = answers(&to, Some(&url), &questions);
    for ((q, x), y) in questions.iter().zip(&a).zip(&b) {
        for (rx, ry) in x["results"]
            .as_array()
            .unwrap()
            .iter()
            .zip(y["results"].as_array().unwrap())
        {
            assert_eq!(rx["question"], ry["question"], "{q}");
            assert_eq!(rx["passage"], ry["passage"], "{q}");
        }
    }
    // An export of another model is not used: everything is embedded.
    let other = Work::seeded();
    let r = other.run(&[
        "--model",
        "minilm-int8",
        "index",
        "--json",
        "--vectors-from",
        export.to_str().unwrap(),
    ]);
    r.ok();
    assert!(r.json()["embedded"].as_u64().unwrap() > 0);
    assert!(r.stderr.contains("another model"), "{r:#?}");
    // A damaged export is refused, naming the file and line.
    let bad = other.dir.path().join("bad.jsonl");
    let text = std::fs::read_to_string(&export).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"question\": 1}";
    std::fs::write(&bad, lines.join("\n")).unwrap();
    other
        .run(&["index", "--vectors-from", bad.to_str().unwrap()])
        .fails(3, "bad.jsonl:3");
}

#[test]
#[cfg(feature = "failpoints")]
fn a_build_that_fails_before_its_commit_changes_nothing() {
    let w = Work::seeded();
    let url = pg_database("qa_abort");
    let first = index_json(&w, &url);
    w.write("bikes.txt", BIKES);
    // The test switch fails the build after every row is written, just
    // before the commit: the transaction is rolled back.
    w.run_env(
        &[("QASEARCH_ABORT_BEFORE_COMMIT", std::ffi::OsStr::new("1"))],
        &["--store", &url, "index"],
    )
    .fails(7, "aborted");
    let s = w.run(&["--store", &url, "status", "--json"]);
    assert_eq!(s.code, 8, "stale: the new document is not in: {s:#?}");
    assert_eq!(s.json()["generation"], first["generation"]);
    let mut c = pg_client("qa_abort");
    let bikes: i64 = c
        .query_one(
            "SELECT count(*) FROM qasearch_rows WHERE text ILIKE '%bike%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(bikes, 0, "no row of the aborted build is left");
    let after = index_json(&w, &url);
    assert_eq!(
        after["generation"].as_u64().unwrap(),
        first["generation"].as_u64().unwrap() + 1
    );
}

#[test]
fn an_export_covering_part_of_the_corpus_leaves_only_the_rest_to_embed() {
    // An export of the seed document alone.
    let seed = Work::seeded();
    seed.index_ok();
    let export = seed.dir.path().join("seed.jsonl");
    seed.run(&["export", "-o", export.to_str().unwrap()]).ok();
    // What the bike document alone costs to embed.
    let bikes = Work::empty();
    bikes.write("bikes.txt", BIKES);
    let alone = bikes.index_ok()["embedded"].as_u64().unwrap();
    // Both documents, into a folder, with the seed's vectors given: only the
    // bike document's texts are embedded, and both answer.
    let both = Work::seeded();
    both.write("bikes.txt", BIKES);
    let r = both.run(&[
        "index",
        "--json",
        "--vectors-from",
        export.to_str().unwrap(),
    ]);
    r.ok();
    assert_eq!(r.json()["embedded"].as_u64().unwrap(), alone, "{r:#?}");
    let q = "What is the main goal of the Coalition of the Willing?";
    assert_eq!(
        answers(&both, None, &[q.to_string()])[0]["results"][0]["question"],
        answers(&seed, None, &[q.to_string()])[0]["results"][0]["question"]
    );
    assert_eq!(
        both.top_doc_as_is("where can I find the bikes"),
        "bikes.txt"
    );
}

#[test]
fn a_damaged_store_is_reported_and_a_full_build_repairs_it() {
    let w = Work::seeded();
    let url = pg_database("qa_damaged");
    index_json(&w, &url);
    let mut c = pg_client("qa_damaged");
    c.execute("UPDATE qasearch_store SET meta = '\\x00ff'::bytea", &[])
        .unwrap();
    ask_store(&w, &url, &[], "what is the coalition").fails(4, "damaged");
    w.run(&["--store", &url, "index"]).fails(4, "damaged");
    let full = w.run(&["--store", &url, "index", "--full", "--json"]);
    full.ok();
    let r = ask_store(
        &w,
        &url,
        &[],
        "What is the main goal of the Coalition of the Willing?",
    );
    r.ok();
    assert_eq!(
        r.json()["results"][0]["question"],
        "What is the main goal of the Coalition of the Willing?"
    );
}
