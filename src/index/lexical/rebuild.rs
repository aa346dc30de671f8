//! An update's lexical index made from the previous one: the terms of the
//! texts it kept are taken, not read again.

use std::collections::HashMap;

use super::{terms, tokenizer, LexicalIndex};

impl LexicalIndex {
    /// The index of `reuse.len()` texts, as [`LexicalIndex::build`] makes
    /// it, taking the terms of each text that `previous` indexed already
    /// (`reuse[i]`: text `i` is `previous`'s document of that number)
    /// instead of reading it again; `text(i)` is read for the others only:
    /// an update tokenises only the texts it changed. When the reused
    /// documents keep their order and are reused once each (an update's
    /// unchanged pairs), each term's postings are the previous ones
    /// renumbered and merged with the new texts', in one pass.
    pub fn rebuild(
        previous: &LexicalIndex,
        reuse: &[Option<u32>],
        text: impl Fn(usize) -> String,
    ) -> Self {
        let stemming = previous.stemming;
        let tok = tokenizer(stemming);
        let reuse: Vec<Option<u32>> = reuse
            .iter()
            .map(|r| r.filter(|&d| (d as usize) < previous.len()))
            .collect();
        // Each new text's terms, by word (numbered below, once every new
        // word is known).
        let mut new_words = std::collections::BTreeSet::new();
        let fresh: Vec<(usize, HashMap<String, u32>, u32)> = (0..reuse.len())
            .filter(|&i| reuse[i].is_none())
            .map(|i| {
                let tokens = terms(tok, &text(i));
                let len = tokens.len() as u32;
                let mut counts: HashMap<String, u32> = HashMap::new();
                for t in tokens {
                    *counts.entry(t).or_default() += 1;
                }
                for w in counts.keys() {
                    if previous.terms.binary_search(w).is_err() {
                        new_words.insert(w.clone());
                    }
                }
                (i, counts, len)
            })
            .collect();
        // Every word, sorted: the previous ones and the new ones merged;
        // each previous word's number among them.
        let mut all: Vec<String> = Vec::with_capacity(previous.terms.len() + new_words.len());
        let mut old_id = Vec::with_capacity(previous.terms.len());
        let mut new_iter = new_words.into_iter().peekable();
        for w in &previous.terms {
            while new_iter.peek().is_some_and(|n| n < w) {
                all.push(new_iter.next().expect("invariant: peeked"));
            }
            old_id.push(all.len() as u32);
            all.push(w.clone());
        }
        all.extend(new_iter);
        // The new texts' postings, by term then document.
        let mut fresh_postings: Vec<(u32, u32, u32)> = Vec::new();
        for (doc, counts, _) in &fresh {
            for (w, &n) in counts {
                let t = all
                    .binary_search(w)
                    .expect("invariant: every word is listed");
                fresh_postings.push((t as u32, *doc as u32, n));
            }
        }
        fresh_postings.sort_unstable();
        let mut lengths = vec![0u32; reuse.len()];
        for (doc, r) in reuse.iter().enumerate() {
            if let Some(d) = r {
                lengths[doc] = previous.lengths[*d as usize];
            }
        }
        for (doc, _, len) in &fresh {
            lengths[*doc] = *len;
        }
        let mut lists = if in_order_once(&reuse) {
            Lists::merged(previous, &reuse, &old_id, all.len(), &fresh_postings)
        } else {
            Lists::by_document(previous, &reuse, &old_id, all.len(), &fresh_postings)
        };
        // Words no document has any longer are dropped.
        let mut index = LexicalIndex {
            stemming,
            offsets: vec![0],
            ..LexicalIndex::default()
        };
        for (t, w) in all.into_iter().enumerate() {
            let (docs, tfs) = lists.of(t);
            if docs.is_empty() {
                continue;
            }
            index.terms.push(w);
            index.docs.extend_from_slice(docs);
            index.tfs.extend_from_slice(tfs);
            index.offsets.push(index.docs.len() as u32);
        }
        lists.clear();
        index.lengths = lengths;
        index
    }
}

/// True when the reused documents of `reuse` are in increasing order, each
/// reused once: a previous term's postings, renumbered, stay in order.
fn in_order_once(reuse: &[Option<u32>]) -> bool {
    let mut last = None;
    reuse.iter().flatten().all(|&d| {
        let ok = last.is_none_or(|l| l < d);
        last = Some(d);
        ok
    })
}

/// The postings of a rebuilt index by term (numbered among every word),
/// documents in order.
struct Lists {
    /// `docs[offsets[t]..offsets[t + 1]]`.
    offsets: Vec<usize>,
    docs: Vec<u32>,
    tfs: Vec<u32>,
}

impl Lists {
    fn of(&self, t: usize) -> (&[u32], &[u32]) {
        let r = self.offsets[t]..self.offsets[t + 1];
        (&self.docs[r.clone()], &self.tfs[r])
    }

    fn clear(&mut self) {
        (self.offsets, self.docs, self.tfs) = (Vec::new(), Vec::new(), Vec::new());
    }

    /// Each term's previous postings renumbered (those of documents not
    /// reused dropped), merged with the new texts' (`fresh`, by term then
    /// document); `reuse` must be [`in_order_once`].
    fn merged(
        previous: &LexicalIndex,
        reuse: &[Option<u32>],
        old_id: &[u32],
        words: usize,
        fresh: &[(u32, u32, u32)],
    ) -> Lists {
        let mut new_of_old = vec![u32::MAX; previous.len()];
        for (doc, r) in reuse.iter().enumerate() {
            if let Some(d) = r {
                new_of_old[*d as usize] = doc as u32;
            }
        }
        // The previous term of each word, if it was one.
        let mut old_of = vec![u32::MAX; words];
        for (old, &t) in old_id.iter().enumerate() {
            old_of[t as usize] = old as u32;
        }
        let mut lists = Lists {
            offsets: Vec::with_capacity(words + 1),
            docs: Vec::with_capacity(previous.docs.len() + fresh.len()),
            tfs: Vec::with_capacity(previous.docs.len() + fresh.len()),
        };
        lists.offsets.push(0);
        let mut f = 0;
        for (t, &old) in old_of.iter().enumerate() {
            let old = match old {
                u32::MAX => 0..0,
                o => {
                    previous.offsets[o as usize] as usize..previous.offsets[o as usize + 1] as usize
                }
            };
            let mut old = old
                .filter_map(|p| {
                    let doc = new_of_old[previous.docs[p] as usize];
                    (doc != u32::MAX).then(|| (doc, previous.tfs[p]))
                })
                .peekable();
            loop {
                let new = fresh.get(f).filter(|p| p.0 as usize == t);
                let (doc, n) = match (old.peek(), new) {
                    (Some(&(o, _)), Some(&(_, d, _))) if o < d => old.next().expect("peeked"),
                    (_, Some(&(_, d, n))) => {
                        f += 1;
                        (d, n)
                    }
                    (Some(_), None) => old.next().expect("peeked"),
                    (None, None) => break,
                };
                lists.docs.push(doc);
                lists.tfs.push(n);
            }
            lists.offsets.push(lists.docs.len());
        }
        lists
    }

    /// The same, for any `reuse` (documents reused in another order or
    /// more than once): each reused document's terms gathered, then laid
    /// out by term.
    fn by_document(
        previous: &LexicalIndex,
        reuse: &[Option<u32>],
        old_id: &[u32],
        words: usize,
        fresh: &[(u32, u32, u32)],
    ) -> Lists {
        let mut by_doc: Vec<Vec<(u32, u32)>> = vec![Vec::new(); previous.len()];
        for (t, &id) in old_id.iter().enumerate() {
            for p in previous.offsets[t] as usize..previous.offsets[t + 1] as usize {
                by_doc[previous.docs[p] as usize].push((id, previous.tfs[p]));
            }
        }
        let mut postings: Vec<(u32, u32, u32)> = fresh.to_vec();
        for (doc, r) in reuse.iter().enumerate() {
            if let Some(d) = r {
                postings.extend(by_doc[*d as usize].iter().map(|&(t, n)| (t, doc as u32, n)));
            }
        }
        postings.sort_unstable();
        let mut lists = Lists {
            offsets: vec![0; words + 1],
            docs: postings.iter().map(|p| p.1).collect(),
            tfs: postings.iter().map(|p| p.2).collect(),
        };
        for p in &postings {
            lists.offsets[p.0 as usize + 1] += 1;
        }
        for t in 0..words {
            lists.offsets[t + 1] += lists.offsets[t];
        }
        lists
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest::proptest! {
        /// An update's index, made from the previous one and the texts it
        /// changed, is the index a full build makes.
        #[test]
        fn a_rebuild_is_the_full_build(
            before in proptest::collection::vec("[a-f ]{0,24}|Über die Brücke|東京の駅", 0..12),
            after in proptest::collection::vec(
                proptest::prop_oneof![
                    (0usize..12).prop_map(Ok),
                    "[a-h ]{0,24}|running runners ran".prop_map(Err),
                ],
                0..14,
            ),
        ) {
            let previous = LexicalIndex::build(before.iter().map(String::as_str), true);
            let texts: Vec<String> = after
                .iter()
                .map(|t| match t {
                    Ok(i) if *i < before.len() => before[*i].clone(),
                    Ok(_) => "gone".to_string(),
                    Err(s) => s.clone(),
                })
                .collect();
            let reuse: Vec<Option<u32>> = after
                .iter()
                .map(|t| match t {
                    Ok(i) if *i < before.len() => Some(*i as u32),
                    _ => None,
                })
                .collect();
            let rebuilt = LexicalIndex::rebuild(&previous, &reuse, |i| texts[i].clone());
            prop_assert_eq!(rebuilt, LexicalIndex::build(texts.iter().map(String::as_str), true));
        }

        /// The same for an update's reuse (documents kept in order, each
        /// once, some dropped, new texts between them): the previous
        /// postings renumbered and merged.
        #[test]
        fn a_rebuild_in_order_is_the_full_build(
            before in proptest::collection::vec("[a-f ]{0,24}|Über die Brücke|東京の駅", 0..12),
            edits in proptest::collection::vec(
                proptest::prop_oneof![
                    3 => Just(None),
                    1 => "[a-h ]{0,24}|running runners ran".prop_map(Some),
                ],
                0..24,
            ),
        ) {
            let previous = LexicalIndex::build(before.iter().map(String::as_str), true);
            // Each edit keeps the next previous text (None) or inserts a new
            // one; every third previous text is dropped.
            let (mut texts, mut reuse) = (Vec::new(), Vec::new());
            let mut next = 0;
            for e in edits {
                match e {
                    Some(t) => {
                        texts.push(t);
                        reuse.push(None);
                    }
                    None if next < before.len() => {
                        if next % 3 != 2 {
                            texts.push(before[next].clone());
                            reuse.push(Some(next as u32));
                        }
                        next += 1;
                    }
                    None => {}
                }
            }
            prop_assert!(in_order_once(&reuse));
            let rebuilt = LexicalIndex::rebuild(&previous, &reuse, |i| texts[i].clone());
            prop_assert_eq!(rebuilt, LexicalIndex::build(texts.iter().map(String::as_str), true));
        }
    }
}
