//! `qasearch export`: the index's pairs with their vectors, as JSON Lines.

use crate::util::Work;

#[test]
fn export_writes_every_pair_with_its_vectors() {
    let w = Work::seeded();
    let indexed = w.index_ok();
    let r = w.run(&["export"]);
    r.ok();
    let lines = r.json_lines();
    let header = &lines[0];
    assert_eq!(header["format"], "qasearch-export");
    assert_eq!(header["dimension"], 384);
    assert_eq!(header["pairs"], indexed["qa_pairs"]);
    // The pairs, then the seed's news paragraph, a line of its own.
    let pairs = indexed["qa_pairs"].as_u64().unwrap() as usize;
    assert_eq!(lines.len() - 1, pairs + 1);
    assert!(lines[1..=pairs].iter().all(|l| l["kind"] == "pair"));
    let passage = &lines[pairs + 1];
    assert_eq!(
        (&passage["kind"], &passage["question"]),
        (&"passage".into(), &"".into())
    );
    assert!(passage["answer"]
        .as_str()
        .unwrap()
        .starts_with("Recent meetings"));
    assert_eq!(passage["sentences"].as_array().unwrap().len(), 6);
    let sentences: usize = lines[1..=pairs]
        .iter()
        .map(|l| l["sentences"].as_array().unwrap().len())
        .sum();
    assert_eq!(sentences as u64, indexed["sentences"].as_u64().unwrap());
    let questions = crate::util::seed_questions();
    for (line, q) in lines[1..].iter().zip(&questions) {
        assert_eq!(&line["question"], q);
        let answer = line["answer"].as_str().unwrap();
        for s in line["sentences"].as_array().unwrap() {
            let (a, b) = (
                s["start"].as_u64().unwrap() as usize,
                s["end"].as_u64().unwrap() as usize,
            );
            assert_eq!(&answer[a..b], s["text"].as_str().unwrap());
            let v: Vec<f64> = s["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert_eq!(v.len(), 384);
            let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "unit vectors: {norm}");
        }
        assert!(line["question_vector"].is_array(), "{line}");
    }

    // --output never replaces a file, and writes the same lines.
    let out = w.dir.path().join("pairs.jsonl");
    std::fs::write(&out, "keep me").unwrap();
    w.run(&["export", "--output", out.to_str().unwrap()])
        .fails(2, "exists already");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    std::fs::remove_file(&out).unwrap();
    w.run(&["export", "-o", out.to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), r.stdout);
}

#[test]
fn export_without_an_index_says_so() {
    let w = Work::seeded();
    w.run(&["export"]).fails(4, "index");
}

/// `index --vectors-from` trusts nothing it can check: vectors of another
/// length than 1, not finite, on an endless line, in a FIFO, or made by
/// another model under this one's label are refused, naming the file (and
/// line), and the index is left as it was.
#[test]
fn vectors_from_outside_are_checked_before_they_are_used() {
    let w = Work::seeded();
    w.index_ok();
    let export = w.run(&["export"]);
    export.ok();
    let lines = export.json_lines();
    let fresh = Work::seeded();
    let edit = |name: &str, change: &dyn Fn(&mut Vec<f64>)| -> std::path::PathBuf {
        let mut out = String::new();
        for (i, l) in lines.iter().enumerate() {
            let mut l = l.clone();
            if i == 2 {
                let mut v: Vec<f64> = serde_json::from_value(l["question_vector"].clone()).unwrap();
                change(&mut v);
                l["question_vector"] = serde_json::json!(v);
            }
            out.push_str(&format!("{l}\n"));
        }
        let path = w.dir.path().join(name);
        std::fs::write(&path, out).unwrap();
        path
    };
    let refused = |path: &std::path::Path, says: &str| {
        let r = fresh.run(&["index", "--vectors-from", path.to_str().unwrap()]);
        assert_eq!(r.code, 3, "{r:#?}");
        assert!(r.stderr.contains(says), "{says}: {r:#?}");
        assert!(
            r.stderr
                .contains(path.file_name().unwrap().to_str().unwrap()),
            "{r:#?}"
        );
        assert!(!fresh.index().join("CURRENT").exists(), "{r:#?}");
    };
    let scaled = edit("scaled.jsonl", &|v| v.iter_mut().for_each(|x| *x *= 1000.0));
    refused(&scaled, ":3");
    refused(&scaled, "length 1");
    let huge = edit("huge.jsonl", &|v| v[0] = 1e300);
    refused(&huge, ":3");
    // Unit length and finite, but not this model's: the coordinates of
    // every vector reversed, as another model's vectors relabelled would be.
    let mut relabelled = String::new();
    for (i, l) in lines.iter().enumerate() {
        let mut l = l.clone();
        if i > 0 {
            for key in ["question_vector", "answer_vector"] {
                if let Some(a) = l[key].as_array_mut() {
                    a.reverse();
                }
            }
            for s in l["sentences"].as_array_mut().unwrap() {
                s["vector"].as_array_mut().unwrap().reverse();
            }
        }
        relabelled.push_str(&format!("{l}\n"));
    }
    let other = w.dir.path().join("relabelled.jsonl");
    std::fs::write(&other, relabelled).unwrap();
    refused(&other, "not made by the model");
    #[cfg(unix)]
    {
        let fifo = w.dir.path().join("fifo.jsonl");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        refused(&fifo, "not a regular file");
        refused(std::path::Path::new("/dev/zero"), "not a regular file");
    }
    // The export as written is taken: nothing embedded but what it lacks.
    let good = w.dir.path().join("good.jsonl");
    std::fs::write(&good, &export.stdout).unwrap();
    let r = fresh.run(&["index", "--json", "--vectors-from", good.to_str().unwrap()]);
    r.ok();
    assert_eq!(r.json()["embedded"], 0, "{}", r.stdout);
}
