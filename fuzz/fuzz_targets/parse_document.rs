//! The document parser and sentence splitter on arbitrary bytes: no panic,
//! and every pair and sentence span is well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qasearch::{corpus, split};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = corpus::decode(data) else {
        return;
    };
    for parsed in [
        corpus::parse_txt("f.txt", text),
        corpus::parse_jsonl("f.jsonl", text),
    ] {
        for doc in &parsed.documents {
            assert!(!doc.pairs.is_empty());
            let _ = doc.fingerprint();
            for pair in &doc.pairs {
                assert!(!pair.question.trim().is_empty());
                assert!(!pair.answer.trim().is_empty());
                let mut last = 0;
                for span in split::sentences(&pair.answer) {
                    assert!(span.start >= last && span.start < span.end);
                    assert!(pair.answer.get(span.clone()).is_some());
                    last = span.end;
                }
            }
        }
        for w in &parsed.warnings {
            assert!(w.line.is_some_and(|l| l >= 1));
        }
    }
    // The splitter on the raw text too.
    let spans = split::sentences(text);
    let kept: usize = spans
        .iter()
        .map(|r| {
            text[r.clone()]
                .chars()
                .filter(|c| !c.is_whitespace())
                .count()
        })
        .sum();
    assert_eq!(kept, text.chars().filter(|c| !c.is_whitespace()).count());
});
