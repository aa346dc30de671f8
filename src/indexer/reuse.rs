//! What a plan takes from the previous generation without reading every
//! text again: a document whose texts are all as they were gets its
//! occurrences (sentence spans) and rows from the previous metadata, with no
//! splitting and no hashing; only the texts of changed documents are split,
//! hashed and looked up, in one pass over the previous occurrences. An update
//! of one pair thus hashes a handful of texts, not the corpus (issue 29).
//!
//! The result is the plan that keying every text would give (a property test
//! compares the two on random edits): the same distinct texts in the same
//! order, each reusing the same previous row.

use super::*;

/// Documents, pairs and every text occurrence of a corpus (rows not yet
/// assigned), with each occurrence's row in the previous generation when its
/// document is unchanged there ([`NO_ROW`] otherwise).
pub(super) struct Collected {
    pub documents: Vec<DocMeta>,
    pub pairs: Vec<PairMeta>,
    pub occurrences: Vec<Occurrence>,
    pub previous_row: Vec<u32>,
    /// Each pair's number in the previous generation when its document is
    /// unchanged there ([`NO_ROW`] otherwise).
    pub previous_pair: Vec<u32>,
    /// Each document's number in the previous generation when it is
    /// unchanged there ([`NO_ROW`] otherwise).
    pub previous_doc: Vec<u32>,
}

/// No previous row.
pub(super) const NO_ROW: u32 = u32::MAX;

/// The previous generation's metadata, indexed by document.
struct Earlier<'a> {
    meta: &'a Meta,
    /// Each document's index, by key.
    by_key: foldhash::HashMap<&'a str, usize>,
    /// `pairs[pair_start[d]..pair_start[d + 1]]` are document `d`'s pairs
    /// (its passage last).
    pair_start: Vec<usize>,
    /// `occurrences[occurrence_start[p]..occurrence_start[p + 1]]` are pair `p`'s.
    occurrence_start: Vec<usize>,
}

impl<'a> Earlier<'a> {
    fn new(meta: &'a Meta) -> Earlier<'a> {
        let by_key = meta
            .documents
            .iter()
            .enumerate()
            .map(|(d, doc)| (doc.key.as_str(), d))
            .collect();
        Earlier {
            meta,
            by_key,
            pair_start: starts(meta.documents.len(), meta.pairs.iter().map(|p| p.doc)),
            occurrence_start: starts(meta.pairs.len(), meta.occurrences.iter().map(|o| o.pair)),
        }
    }

    /// The previous number of `doc` and its first pair's, when it had the
    /// same key and the very same texts (questions, answers, fields and
    /// passage, in order).
    fn same_document(&self, doc: &corpus::Document) -> Option<(usize, usize)> {
        let d = *self.by_key.get(doc.key.as_str())?;
        let (from, to) = (self.pair_start[d], self.pair_start[d + 1]);
        let passage = !doc.passage.trim().is_empty();
        if to - from != doc.pairs.len() + usize::from(passage) {
            return None;
        }
        let before = &self.meta.pairs[from..to];
        let same_pairs = doc.pairs.iter().zip(before).all(|(p, b)| {
            !b.passage && p.question == b.question && p.answer == b.answer && p.meta == b.meta
        });
        let same_passage = !passage || {
            let b = &before[doc.pairs.len()];
            b.passage && b.answer == doc.passage
        };
        (same_pairs && same_passage).then_some((d, from))
    }

    /// Copies previous pair `pair`'s occurrences as pair `as_pair`'s.
    fn copy(&self, pair: usize, as_pair: u32, to: &mut Vec<Occurrence>, rows: &mut Vec<u32>) {
        let range = self.occurrence_start[pair]..self.occurrence_start[pair + 1];
        for o in &self.meta.occurrences[range] {
            to.push(Occurrence {
                pair: as_pair,
                row: 0,
                ..*o
            });
            rows.push(if (o.row as usize) < self.meta.row_count() {
                o.row
            } else {
                NO_ROW
            });
        }
    }
}

/// Where each group of a sequence sorted by group starts: `starts[g]..starts[g + 1]`
/// are group `g`'s positions (groups past the sequence's end are empty).
fn starts(groups: usize, sorted: impl Iterator<Item = u32>) -> Vec<usize> {
    let mut starts = vec![0usize; groups + 1];
    for g in sorted {
        if let Some(s) = starts.get_mut(g as usize + 1) {
            *s += 1;
        }
    }
    for g in 0..groups {
        starts[g + 1] += starts[g];
    }
    starts
}

/// Documents, pairs and every text occurrence (rows not yet assigned) of a
/// corpus, and which pairs `previous` (metadata made with the same splitter)
/// had in an unchanged document. With `same_layout` (`previous` made with
/// the same `answer_vectors` and `question_vectors`), an unchanged
/// document's occurrences are copied from it with their rows instead of
/// split again.
pub(super) fn collect(
    corpus: &Corpus,
    answer_vectors: AnswerVectors,
    question_vectors: bool,
    previous: Option<&Meta>,
    same_layout: bool,
) -> Collected {
    let earlier = previous.map(Earlier::new);
    let mut documents = Vec::with_capacity(corpus.documents.len());
    // About as many as the previous generation had (an update's), else grown.
    let (pair_room, occurrence_room) =
        previous.map_or((0, 0), |m| (m.pairs.len() + 64, m.occurrences.len() + 256));
    let mut pairs: Vec<PairMeta> = Vec::with_capacity(pair_room);
    let mut occurrences = Vec::with_capacity(occurrence_room);
    let mut previous_row = Vec::with_capacity(occurrence_room);
    let mut previous_pair = Vec::with_capacity(corpus.documents.len());
    let mut previous_doc = Vec::with_capacity(corpus.documents.len());
    for doc in &corpus.documents {
        let doc_id = documents.len() as u32;
        documents.push(DocMeta {
            key: doc.key.clone(),
            source: doc.source.clone(),
        });
        let same = earlier
            .as_ref()
            .and_then(|e| Some((e, e.same_document(doc)?)));
        previous_doc.push(same.map_or(NO_ROW, |(_, (d, _))| d as u32));
        let same = same.map(|(e, (_, from))| (e, from));
        let kept = same.filter(|_| same_layout);
        let count = doc.pairs.len() + usize::from(!doc.passage.trim().is_empty());
        match same {
            Some((_, from)) => previous_pair.extend((from..from + count).map(|p| p as u32)),
            None => previous_pair.resize(previous_pair.len() + count, NO_ROW),
        }
        for (k, pair) in doc.pairs.iter().enumerate() {
            let pair_id = pairs.len() as u32;
            if let Some((e, from)) = kept {
                e.copy(from + k, pair_id, &mut occurrences, &mut previous_row);
            } else {
                let start = occurrences.len();
                split_pair(
                    pair,
                    pair_id,
                    answer_vectors,
                    question_vectors,
                    &mut occurrences,
                );
                previous_row.resize(previous_row.len() + occurrences.len() - start, NO_ROW);
            }
            pairs.push(PairMeta {
                doc: doc_id,
                question: pair.question.clone(),
                answer: pair.answer.clone(),
                line: pair.line as u32,
                meta: pair.meta.clone(),
                passage: false,
            });
        }
        // The passage after its document's pairs: on a tie, a pair wins.
        if !doc.passage.trim().is_empty() {
            let pair_id = pairs.len() as u32;
            if let Some((e, from)) = kept {
                e.copy(
                    from + doc.pairs.len(),
                    pair_id,
                    &mut occurrences,
                    &mut previous_row,
                );
            } else {
                let start = occurrences.len();
                occurrences.extend(split::sentences(&doc.passage).into_iter().map(|span| {
                    Occurrence {
                        pair: pair_id,
                        row: 0,
                        start: span.start as u32,
                        end: span.end as u32,
                        kind: Kind::Passage,
                    }
                }));
                previous_row.resize(previous_row.len() + occurrences.len() - start, NO_ROW);
            }
            pairs.push(PairMeta {
                doc: doc_id,
                question: Text::empty(),
                answer: doc.passage.clone(),
                line: doc.passage_line as u32,
                meta: Vec::new(),
                passage: true,
            });
        }
    }
    Collected {
        documents,
        pairs,
        occurrences,
        previous_row,
        previous_pair,
        previous_doc,
    }
}

/// The documents `meta` was collected from ([`collect`] in reverse): each
/// document with its pairs in order and its passage (kept as a pair
/// without a question). A document without a passage has no passage line,
/// as the reader gives it.
pub(super) fn documents_of(meta: &Meta) -> Vec<corpus::Document> {
    let mut documents: Vec<corpus::Document> = (meta.documents.iter())
        .map(|d| corpus::Document {
            key: d.key.clone(),
            source: d.source.clone(),
            passage: Text::empty(),
            passage_line: 0,
            pairs: Vec::new(),
        })
        .collect();
    for p in &meta.pairs {
        let Some(doc) = documents.get_mut(p.doc as usize) else {
            continue;
        };
        if p.passage {
            doc.passage = p.answer.clone();
            doc.passage_line = p.line as usize;
        } else {
            doc.pairs.push(corpus::QaPair {
                question: p.question.clone(),
                answer: p.answer.clone(),
                line: p.line as usize,
                meta: p.meta.clone(),
            });
        }
    }
    documents
}

/// The occurrences of `pair` (numbered `pair_id`): its answer's sentences,
/// the whole answer when it has several, its question.
fn split_pair(
    pair: &corpus::QaPair,
    pair_id: u32,
    answer_vectors: AnswerVectors,
    question_vectors: bool,
    occurrences: &mut Vec<Occurrence>,
) {
    let spans = split::sentences(&pair.answer);
    for span in &spans {
        occurrences.push(Occurrence {
            pair: pair_id,
            row: 0,
            start: span.start as u32,
            end: span.end as u32,
            kind: Kind::Sentence,
        });
    }
    if answer_vectors != AnswerVectors::Off && spans.len() > 1 {
        occurrences.push(Occurrence {
            pair: pair_id,
            row: 0,
            start: 0,
            end: pair.answer.len() as u32,
            kind: Kind::Answer,
        });
    }
    if question_vectors && !pair.question.trim().is_empty() {
        occurrences.push(Occurrence {
            pair: pair_id,
            row: 0,
            start: 0,
            end: pair.question.len() as u32,
            kind: Kind::Question,
        });
    }
}

/// Texts' lengths, as a set with false positives: most previous texts
/// need no hashing to know they are none of the few changed ones.
struct Lengths(Vec<u64>);

impl Lengths {
    const BITS: usize = 1 << 16;

    fn new() -> Lengths {
        Lengths(vec![0; Self::BITS / 64])
    }
    fn insert(&mut self, len: usize) {
        let b = len % Self::BITS;
        self.0[b / 64] |= 1 << (b % 64);
    }
    fn may_hold(&self, len: usize) -> bool {
        let b = len % Self::BITS;
        self.0[b / 64] & (1 << (b % 64)) != 0
    }
}

impl BuildPlan {
    /// Distinct texts without a previous generation: keyed by text.
    pub(super) fn distinct(&mut self) {
        let mut distinct: foldhash::HashMap<RowKey<'_>, usize> =
            foldhash::HashMap::with_capacity_and_hasher(self.occurrences.len(), Default::default());
        let (mut first, mut text_id) = (Vec::new(), Vec::with_capacity(self.occurrences.len()));
        for i in 0..self.occurrences.len() {
            let id = *distinct.entry(self.key_of(i)).or_insert_with(|| {
                first.push(i);
                first.len() - 1
            });
            text_id.push(id);
        }
        drop(distinct);
        self.reuse = vec![None; first.len()];
        (self.first, self.text_id) = (first, text_id);
    }

    /// Distinct texts and the previous row each reuses. An occurrence with
    /// a `previous_row` (its document unchanged) is its row's text; the
    /// others are keyed, and the keys found among the previous rows (the
    /// first row holding a key, as keying every row would give) in one
    /// pass over `prev`'s occurrences. Texts are numbered in order of first
    /// occurrence; two occurrences share a number when they share a key.
    pub(super) fn distinct_reusing(&mut self, prev: Previous<'_>, previous_row: &[u32]) {
        let n = self.occurrences.len();
        // The keys of changed documents' texts.
        let mut slot_of: foldhash::HashMap<RowKey<'_>, u32> = Default::default();
        let mut lengths = Lengths::new();
        let mut slot = vec![NO_ROW; n];
        for i in (0..n).filter(|&i| previous_row[i] == NO_ROW) {
            let key = self.key_of(i);
            lengths.insert(key.text.len());
            let next = slot_of.len() as u32;
            slot[i] = *slot_of.entry(key).or_insert(next);
        }
        let slot_row = rows_holding(prev, self.queries_apart, &slot_of, &lengths);
        drop(slot_of);
        // Numbered in order of first occurrence.
        let mut id_of_row = vec![usize::MAX; prev.meta.row_count()];
        let mut id_of_slot = vec![usize::MAX; slot_row.len()];
        let (mut first, mut reuse) = (Vec::new(), Vec::new());
        let mut text_id = Vec::with_capacity(n);
        for i in 0..n {
            let row = match previous_row[i] {
                NO_ROW => slot_row[slot[i] as usize],
                row => row,
            };
            let (id, row) = match id_of_row.get_mut(row as usize) {
                Some(id) => (id, Some(row as usize)),
                None => (&mut id_of_slot[slot[i] as usize], None),
            };
            if *id == usize::MAX {
                *id = first.len();
                first.push(i);
                reuse.push(row);
            }
            text_id.push(*id);
        }
        (self.first, self.text_id, self.reuse) = (first, text_id, reuse);
    }

    /// The row key of occurrence `i`.
    pub(super) fn key_of(&self, i: usize) -> RowKey<'_> {
        let o = &self.occurrences[i];
        let pair = &self.pairs[o.pair as usize];
        row_key(
            self.answer_vectors,
            self.queries_apart,
            o,
            occurrence_text(&self.pairs, o),
            &pair.answer,
            self.several[o.pair as usize],
        )
    }
}

/// For each key of `slot_of`, the first row of `prev` holding it
/// ([`NO_ROW`] when none does).
fn rows_holding(
    prev: Previous<'_>,
    apart: bool,
    slot_of: &foldhash::HashMap<RowKey<'_>, u32>,
    lengths: &Lengths,
) -> Vec<u32> {
    let mut slot_row = vec![NO_ROW; slot_of.len()];
    if slot_of.is_empty() {
        return slot_row;
    }
    let meta = prev.meta;
    let mut seen = vec![false; meta.row_count()];
    let mut from = 0;
    while from < meta.occurrences.len() {
        let pair = meta.occurrences[from].pair;
        let to = from
            + meta.occurrences[from..]
                .iter()
                .take_while(|o| o.pair == pair)
                .count();
        let several = meta.occurrences[from..to]
            .iter()
            .any(|o| o.kind == Kind::Answer);
        for o in &meta.occurrences[from..to] {
            let row = o.row as usize;
            if seen.get(row) != Some(&false) {
                continue;
            }
            seen[row] = true;
            let (Some(text), Some(p)) = (meta.text(o), meta.pairs.get(pair as usize)) else {
                continue;
            };
            let several = several && o.kind == Kind::Sentence;
            let key = row_key(
                prev.manifest.answer_vectors,
                apart,
                o,
                text,
                &p.answer,
                several,
            );
            if !lengths.may_hold(key.text.len()) {
                continue;
            }
            if let Some(&s) = slot_of.get(&key) {
                let r = &mut slot_row[s as usize];
                *r = (*r).min(row as u32);
            }
        }
        from = to;
    }
    slot_row
}
