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
    assert_eq!(
        lines.len() - 1,
        indexed["qa_pairs"].as_u64().unwrap() as usize
    );
    let sentences: usize = lines[1..]
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
