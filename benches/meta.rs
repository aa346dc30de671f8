//! What `meta.bin` costs to write and to read, in columns (format 11,
//! `store::meta_columns`) and as serde and bincode encoded it before: the
//! metadata of N synthetic pairs of the update bench's shape (a question and
//! a two-sentence answer each, ten pairs and a passage to a document; four
//! occurrences a pair), encoded into memory and decoded back, each way in
//! turn, `--runs` times. Decoding includes the checks and the row index
//! every opening builds; the bytes are the same in both (asserted).
//! Then the delta a small update writes over such a `meta.bin` (format 12,
//! `store::meta_delta`: its first document removed, its last changed),
//! written, and read with its base as an opening does, beside the base read alone (in turn with
//! it: `base_alone` is the columns' reading again, in the same state of
//! memory as the delta's).
//!
//! With `--lexical FILE` (a generation's `lexical.bin`), that file decoded
//! instead, through serde and bincode and as `store::decode_lexical` reads
//! it, in turn (the same index, asserted).
//!
//! ```sh
//! cargo bench --bench meta -- [--pairs 300000,1000000] [--runs 5]
//! cargo bench --bench meta -- --lexical INDEX/gen-N/lexical.bin [--runs 5]
//! ```

use std::time::Instant;

use qasearch::store::meta_delta::{self, MetaBase};
use qasearch::store::{self, meta_columns, DocMeta, Kind, Meta, Occurrence, PairMeta};

mod common;

fn words(rng: &mut common::Rng, n: usize) -> String {
    const VOCABULARY: [&str; 16] = [
        "keeper", "harbour", "light", "north", "ship", "storm", "night", "tower", "stone",
        "signal", "coast", "winter", "rope", "lamp", "tide", "bell",
    ];
    let w: Vec<&str> = (0..n).map(|_| VOCABULARY[rng.below(16)]).collect();
    w.join(" ")
}

/// The metadata of `pairs` pairs.
fn synthetic(pairs: usize) -> Meta {
    let mut rng = common::Rng(7);
    let (mut documents, mut out, mut occurrences) = (Vec::new(), Vec::new(), Vec::new());
    let mut row = 0u32;
    let mut occ = |pair: usize, start: usize, end: usize, kind: Kind| {
        row += 1;
        Occurrence {
            pair: pair as u32,
            row: row - 1,
            start: start as u32,
            end: end as u32,
            kind,
        }
    };
    for p in 0..pairs {
        let doc = p / 10;
        if p % 10 == 0 {
            documents.push(DocMeta {
                key: format!("docs/{doc:07}.txt"),
                source: format!("docs/{doc:07}.txt"),
            });
        }
        let question = format!("{}?", words(&mut rng, 8));
        let (first, second) = (words(&mut rng, 12), words(&mut rng, 14));
        let answer = format!("{first}. {second}.");
        let id = out.len();
        occurrences.push(occ(id, 0, first.len() + 1, Kind::Sentence));
        occurrences.push(occ(id, first.len() + 2, answer.len(), Kind::Sentence));
        occurrences.push(occ(id, 0, answer.len(), Kind::Answer));
        occurrences.push(occ(id, 0, question.len(), Kind::Question));
        out.push(PairMeta {
            doc: doc as u32,
            question: question.into(),
            answer: answer.into(),
            line: (p % 10 * 2 + 3) as u32,
            meta: Vec::new(),
            passage: false,
        });
        if p % 10 == 9 || p + 1 == pairs {
            let passage = format!("{}.", words(&mut rng, 20));
            let id = out.len();
            occurrences.push(occ(id, 0, passage.len(), Kind::Passage));
            out.push(PairMeta {
                doc: doc as u32,
                question: "".into(),
                answer: passage.into(),
                line: 1,
                meta: Vec::new(),
                passage: true,
            });
        }
    }
    Meta::new(documents, out, occurrences, row as usize)
}

/// Decoded, checked and indexed, as an opening does.
fn opened(meta: Result<Meta, String>) -> Meta {
    let mut meta = meta.unwrap();
    store::check_meta(&meta).unwrap();
    meta.index_rows();
    meta
}

/// `meta` with its first document removed and its last changed (a
/// question's letters changed, its length kept), as the update bench's
/// second update: every other document moves up one. With each document's
/// number in `meta` when unchanged.
fn first_removed_last_changed(meta: &Meta) -> (Meta, Vec<u32>) {
    let gone = meta.pairs.iter().take_while(|p| p.doc == 0).count();
    let mut pairs: Vec<PairMeta> = meta.pairs[gone..].to_vec();
    for p in &mut pairs {
        p.doc -= 1;
    }
    let last = pairs.iter().rposition(|p| !p.passage).unwrap();
    pairs[last].question = pairs[last].question.to_uppercase().as_str().into();
    let occurrences: Vec<Occurrence> = (meta.occurrences.iter())
        .filter(|o| o.pair as usize >= gone)
        .map(|o| Occurrence {
            pair: o.pair - gone as u32,
            ..*o
        })
        .collect();
    let docs = meta.documents.len() as u32;
    let previous_doc = (1..docs)
        .map(|d| if d + 1 == docs { u32::MAX } else { d })
        .collect();
    let documents = meta.documents[1..].to_vec();
    let next = Meta::new(documents, pairs, occurrences, meta.rows as usize);
    (next, previous_doc)
}

/// A small update's delta over `columns` (the `meta.bin` of `base`), and
/// the milliseconds of writing it, of reading the base alone and of
/// reading it with its base (the two readings in turn, each after the
/// other's metadata is dropped).
fn delta_over(base: &Meta, columns: &[u8], runs: usize) -> (usize, f64, f64, f64) {
    let file = (columns.len() as u64, crc32fast::hash(columns));
    let read = opened(meta_columns::decode(columns));
    let at = MetaBase::whole(&read, file);
    let (next, previous_doc) = first_removed_last_changed(base);
    let carried = MetaBase::carried(&next, &read, &at, &previous_doc).unwrap();
    assert!(carried.worth_a_delta(&next));
    let (mut write, mut alone, mut apply) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        bytes.clear();
        meta_delta::write(&next, &carried, &mut bytes).unwrap();
        write.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        drop(opened(meta_columns::decode(columns)));
        alone.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let decoded = meta_columns::decode(columns).unwrap();
        let back = opened(meta_delta::apply(decoded, file, &bytes).map(|(m, _)| m));
        apply.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(back == next);
    }
    (bytes.len(), median(write), median(alone), median(apply))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        let at = args.iter().position(|a| a == name)?;
        args.get(at + 1).cloned()
    };
    let sizes: Vec<usize> = arg("--pairs")
        .unwrap_or_else(|| "100000".into())
        .split(',')
        .map(|s| s.parse().expect("--pairs N[,N...]"))
        .collect();
    let runs: usize = arg("--runs").map_or(5, |s| s.parse().expect("--runs N"));
    if let Some(file) = arg("--lexical") {
        return lexical(
            &std::fs::read(&file).expect("--lexical FILE: a lexical.bin"),
            runs,
        );
    }
    for pairs in sizes {
        let meta = synthetic(pairs);
        let (mut times, mut sizes) = (vec![Vec::new(); 4], [0usize; 2]);
        for _ in 0..runs {
            let t = Instant::now();
            let bincode = store::encode(&meta);
            times[0].push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let columns = meta_columns::encode(&meta);
            times[1].push(t.elapsed().as_secs_f64() * 1e3);
            sizes = [bincode.len(), columns.len()];
            let t = Instant::now();
            let back = opened(store::decode(&bincode));
            times[2].push(t.elapsed().as_secs_f64() * 1e3);
            assert!(back == meta);
            drop((back, bincode));
            let t = Instant::now();
            let back = opened(meta_columns::decode(&columns));
            times[3].push(t.elapsed().as_secs_f64() * 1e3);
            assert!(back == meta);
        }
        let [enc_b, enc_c, dec_b, dec_c] = [0, 1, 2, 3].map(|i| median(times[i].clone()));
        let columns = meta_columns::encode(&meta);
        let (delta_bytes, enc_d, dec_base, dec_d) = delta_over(&meta, &columns, runs);
        println!(
            "{{\"pairs\": {pairs}, \"runs\": {runs}, \
             \"bytes\": {{\"bincode\": {}, \"columns\": {}, \"delta\": {delta_bytes}}}, \
             \"encode_ms\": {{\"bincode\": {enc_b:.1}, \"columns\": {enc_c:.1}, \"delta\": {enc_d:.1}}}, \
             \"decode_ms\": {{\"bincode\": {dec_b:.1}, \"columns\": {dec_c:.1}, \"base_alone\": {dec_base:.1}, \"base_and_delta\": {dec_d:.1}}}}}",
            sizes[0], sizes[1]
        );
    }
}

/// `lexical.bin`'s bytes decoded through serde, then as `decode_lexical`
/// reads them, `runs` times in turn: median ms of each.
fn lexical(bytes: &[u8], runs: usize) {
    use qasearch::index::lexical::LexicalIndex;
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..runs {
        let t = Instant::now();
        let serde: LexicalIndex = store::decode(bytes).expect("a lexical.bin");
        times[0].push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let fast = store::decode_lexical(bytes).expect("a lexical.bin");
        times[1].push(t.elapsed().as_secs_f64() * 1e3);
        assert!(serde == fast);
    }
    let [serde, fast] = times.map(median);
    println!(
        "{{\"lexical_bytes\": {}, \"runs\": {runs}, \"decode_ms\": {{\"serde\": {serde:.1}, \"decode_lexical\": {fast:.1}}}}}",
        bytes.len()
    );
}
