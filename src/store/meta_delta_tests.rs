use super::*;
use crate::store::Kind;

/// A document: its key and its pairs' answers with the row of each
/// answer's one sentence.
pub(crate) type Doc<'a> = (&'a str, Vec<(&'a str, u32)>);

/// Metadata of `docs` in order, each pair with a question, a field on the
/// first, and one sentence occurrence; `rows` in all.
pub(crate) fn meta_of(docs: &[Doc<'_>], rows: u32) -> Meta {
    let (mut documents, mut pairs, mut occurrences) = (Vec::new(), Vec::new(), Vec::new());
    for (d, (key, answers)) in docs.iter().enumerate() {
        documents.push(DocMeta {
            key: key.to_string(),
            source: format!("{key}.txt"),
        });
        for (i, (answer, row)) in answers.iter().enumerate() {
            occurrences.push(Occurrence {
                pair: pairs.len() as u32,
                row: *row,
                start: 0,
                end: answer.len() as u32,
                kind: Kind::Sentence,
            });
            pairs.push(PairMeta {
                doc: d as u32,
                question: format!("What of {key}, {i}?").as_str().into(),
                answer: (*answer).into(),
                line: 1 + 2 * i as u32,
                meta: match i {
                    0 => vec![("topic".into(), format!("ü {key}"))],
                    _ => Vec::new(),
                },
                passage: false,
            });
        }
    }
    Meta::new(documents, pairs, occurrences, rows as usize)
}

/// `n` documents of two pairs each, rows in order.
pub(crate) fn docs(n: usize) -> Vec<Doc<'static>> {
    (0..n)
        .map(|d| {
            let key: &'static str = Box::leak(format!("doc{d:03}").into_boxed_str());
            (
                key,
                vec![("One is one.", 2 * d as u32), ("Two.", 2 * d as u32 + 1)],
            )
        })
        .collect()
}

/// `meta` written whole and read back, as the base of itself; with the
/// file's bytes.
pub(crate) fn read_whole(meta: &Meta) -> (Meta, MetaBase, Vec<u8>) {
    let bytes = meta_columns::encode(meta);
    let mut read = meta_columns::decode(&bytes).unwrap();
    read.index_rows();
    let base = MetaBase::whole(&read, file_of(&bytes));
    (read, base, bytes)
}

fn file_of(bytes: &[u8]) -> (u64, u32) {
    (bytes.len() as u64, crc32fast::hash(bytes))
}

fn delta(meta: &Meta, base: &MetaBase) -> Vec<u8> {
    let mut out = Vec::new();
    write(meta, base, &mut out).unwrap();
    out
}

/// The delta applied to the base `bytes`, indexed as an opening does.
pub(crate) fn applied(bytes: &[u8], delta: &[u8]) -> Result<(Meta, MetaBase), String> {
    let base = meta_columns::decode(bytes).unwrap();
    let (mut meta, base) = apply(base, file_of(bytes), delta)?;
    crate::store::check_meta(&meta)?;
    meta.index_rows();
    Ok((meta, base))
}

/// The next generation of 60 documents: the second removed, the fifth
/// changed (a new answer on a new row), one added after the seventh and
/// one at the end. With each document's number before (`NONE`: new or
/// changed).
fn next_of_sixty() -> (Meta, Vec<u32>) {
    let mut next = docs(60);
    next.remove(1);
    next[3].1[0] = ("Changed.", 120);
    next.insert(6, ("added", vec![("Added.", 121), ("Two.", 1)]));
    next.push(("zlast", vec![("Last.", 122)]));
    let previous_doc: Vec<u32> = (next.iter())
        .map(|(key, _)| match key.strip_prefix("doc") {
            Some(n) if *key != "doc004" => n.parse().unwrap(),
            _ => NONE,
        })
        .collect();
    (meta_of(&next, 123), previous_doc)
}

#[test]
fn a_delta_over_the_meta_bin_read_reads_back_as_the_metadata() {
    let (previous, base, base_bytes) = read_whole(&meta_of(&docs(60), 120));
    let (next, previous_doc) = next_of_sixty();
    let carried = MetaBase::carried(&next, &previous, &base, &previous_doc).unwrap();
    // The changed and the added documents are new to the base; the others
    // keep their numbers there.
    let new: Vec<&str> = (next.documents.iter().zip(&carried.doc_of))
        .filter(|(_, &b)| b == NONE)
        .map(|(d, _)| d.key.as_str())
        .collect();
    assert_eq!(new, ["doc004", "added", "zlast"]);
    assert_eq!(carried.doc_of[..4], [0, 2, 3, NONE]);
    // Four pairs of the base dropped (a document removed, one changed),
    // five new: 9 of 120, under an eighth.
    assert!(carried.worth_a_delta(&next));
    let bytes = delta(&next, &carried);
    assert!(
        bytes.len() * 10 < meta_columns::encode(&next).len(),
        "{}",
        bytes.len()
    );
    let (back, back_base) = applied(&base_bytes, &bytes).unwrap();
    assert_eq!(back, next);
    assert_eq!(back_base, carried);

    // The next update's delta is over the same base: the first document
    // removed, one added at the front.
    let answers = |d: usize| -> Vec<(&str, u32)> {
        (back.occurrences.iter())
            .filter(|o| back.pairs[o.pair as usize].doc as usize == d)
            .map(|o| (back.pairs[o.pair as usize].answer.as_str(), o.row))
            .collect()
    };
    let mut again: Vec<Doc<'_>> = (1..back.documents.len())
        .map(|d| (back.documents[d].key.as_str(), answers(d)))
        .collect();
    again.insert(0, ("aaa", vec![("First now.", 123)]));
    let again = meta_of(&again, 124);
    let previous_doc: Vec<u32> = std::iter::once(NONE)
        .chain(1..back.documents.len() as u32)
        .collect();
    let carried = MetaBase::carried(&again, &back, &back_base, &previous_doc).unwrap();
    assert_eq!(carried.doc_of[..3], [NONE, 2, 3]);
    assert!(carried.worth_a_delta(&again));
    let (twice, _) = applied(&base_bytes, &delta(&again, &carried)).unwrap();
    assert_eq!(twice, again);
}

/// A document the plan calls unchanged whose records differ (a row moved,
/// as after a graph rebuilt) is written in the delta, not taken from the
/// base; so is a document out of the base's order.
#[test]
fn a_document_with_other_records_is_written_in_the_delta() {
    let (previous, base, base_bytes) = read_whole(&meta_of(&docs(60), 120));
    let mut next = docs(60);
    next[3].1[0].1 = 7;
    next.swap(10, 11);
    let next = meta_of(&next, 120);
    let mut previous_doc: Vec<u32> = (0..60).collect();
    previous_doc.swap(10, 11);
    let carried = MetaBase::carried(&next, &previous, &base, &previous_doc).unwrap();
    assert_eq!(carried.doc_of[3], NONE);
    assert_eq!(carried.doc_of[9..12], [9, 11, NONE]);
    let (back, _) = applied(&base_bytes, &delta(&next, &carried)).unwrap();
    assert_eq!(back, next);
}

/// A delta is worth writing while what changed since its base is at most
/// an eighth of the base's pairs.
#[test]
fn a_delta_is_written_while_the_change_is_an_eighth_of_the_base() {
    let (previous, base, _) = read_whole(&meta_of(&docs(40), 80));
    for (changed, worth) in [(2, true), (3, false)] {
        // Each document changed drops two pairs of the base and adds two:
        // 8 of 80 pairs changed is an eighth.
        let mut next = docs(40);
        for doc in next.iter_mut().take(changed) {
            doc.1[0].0 = "Changed.";
        }
        let next = meta_of(&next, 80);
        let previous_doc: Vec<u32> = (0..40)
            .map(|d| if d < changed { NONE } else { d as u32 })
            .collect();
        let carried = MetaBase::carried(&next, &previous, &base, &previous_doc).unwrap();
        assert_eq!(carried.worth_a_delta(&next), worth, "{changed} changed");
    }
    // Nothing kept: no base.
    let next = meta_of(&docs(40), 80);
    assert!(MetaBase::carried(&next, &previous, &base, &[NONE; 40]).is_none());
}

/// A delta that disagrees with its base or with itself is refused with
/// the reason, never read past or applied in part.
#[test]
fn a_delta_that_disagrees_with_its_base_is_refused() {
    let (previous, base, base_bytes) = read_whole(&meta_of(&docs(60), 120));
    let (next, previous_doc) = next_of_sixty();
    let carried = MetaBase::carried(&next, &previous, &base, &previous_doc).unwrap();
    let good = delta(&next, &carried);
    assert!(applied(&base_bytes, &good).is_ok());
    let refused = |bytes: &[u8], why: &str| {
        let e = applied(&base_bytes, bytes).unwrap_err();
        assert!(e.contains(why), "{e:?} lacks {why:?}");
    };
    for cut in 0..good.len() {
        assert!(applied(&base_bytes, &good[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = good.clone();
    longer.push(0);
    assert!(applied(&base_bytes, &longer).is_err());
    let with = |at: usize, bytes: &[u8]| {
        let mut d = good.clone();
        d[at..at + bytes.len()].copy_from_slice(bytes);
        d
    };
    refused(&with(0, b"QAMETA\0\x0b"), "not a delta of metadata");
    refused(&with(8, &1u64.to_le_bytes()), "over another meta.bin");
    refused(&with(16, &7u64.to_le_bytes()), "over another meta.bin");
    refused(
        &with(24, &59u64.to_le_bytes()),
        "over a base of 59 documents",
    );
    refused(
        &with(32, &u64::MAX.to_le_bytes()),
        "spans: more than the file holds",
    );
    // The spans: base [0], base [2, 4), new [0], base [5, 7), new [1], ...
    let span = |i: usize| 40 + i * SPAN_BYTES;
    refused(&with(span(0), &[2]), "a span of kind 2");
    refused(&with(span(1) + 1, &0u32.to_le_bytes()), "out of order");
    refused(
        &with(span(1) + 5, &60u32.to_le_bytes()),
        "past its documents",
    );
    refused(&with(span(2) + 1, &1u32.to_le_bytes()), "out of order");
    // A document of the delta left out: the last span, one shorter.
    let spans = spans(&carried.doc_of);
    let last = span(spans.len() - 1) + 5;
    refused(
        &with(last, &0u32.to_le_bytes()),
        "1 of its documents in no span",
    );
    // Over a base whose pairs are out of document order.
    let mut shuffled = meta_of(&docs(60), 120);
    shuffled.pairs.swap(0, 2);
    let shuffled = meta_columns::encode(&shuffled);
    let mut over = good.clone();
    over[8..16].copy_from_slice(&(shuffled.len() as u64).to_le_bytes());
    over[16..24].copy_from_slice(&u64::from(crc32fast::hash(&shuffled)).to_le_bytes());
    let e = apply(
        meta_columns::decode(&shuffled).unwrap(),
        file_of(&shuffled),
        &over,
    );
    assert!(e
        .unwrap_err()
        .contains("the base's pairs or occurrences are out of order"));
}

#[test]
fn runs_of_documents_are_spans() {
    assert!(spans(&[]).is_empty());
    assert_eq!(
        spans(&[0, 1, 2, NONE, NONE, 4, 5, NONE, 9]),
        [(0, 0, 3), (1, 0, 2), (0, 4, 2), (1, 2, 1), (0, 9, 1)]
    );
    assert_eq!(
        grouped([0, 0, 2, 2, 2].into_iter(), 4),
        Some(vec![0, 2, 2, 5, 5])
    );
    assert_eq!(grouped([1, 0].into_iter(), 4), None);
    assert_eq!(grouped([4].into_iter(), 4), None);
    assert_eq!(grouped(std::iter::empty(), 2), Some(vec![0, 0, 0]));
}
