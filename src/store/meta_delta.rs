//! `meta.delta.bin` (format 12, [`super::META_DELTA_FORMAT`]): the
//! metadata of a small update as the `meta.bin` it read, linked, and the
//! documents that changed.
//!
//! In columns, `meta.bin` was still written whole by every update: 314 MB
//! and 0.6–0.75 s at a million pairs for one document added. Now an update
//! whose documents are mostly those of the `meta.bin` it read links that
//! file into the new generation (the base) and writes beside it which of
//! the base's documents are kept, in order, and the records and texts of
//! the others. Reading takes the base's documents in the spans the delta
//! lists and the others from the delta, in their order, and numbers pairs
//! and occurrences again: the metadata a whole file would have given. A
//! later update's delta is over the same base, until what changed since it
//! passes 1/[`SHARE`] of its pairs; then `meta.bin` is written whole again
//! (as [`crate::index::lexical_delta`] does for the lexical arm).
//!
//! ```text
//! magic "QAMDELTA"
//! u64 × 4: the base's length, the base's CRC-32, its documents, spans
//! spans:   u8 kind (0: documents of the base, 1: documents of this file),
//!          u32 first, u32 count
//! then this file's documents with their pairs and occurrences, in
//! columns (super::meta_columns): pairs name their document and
//! occurrences their pair within this file; the row count is the
//! generation's
//! ```
//!
//! All little-endian. The base's spans ascend without overlapping; this
//! file's take its documents in order, each once. A base document is kept
//! only when the update found it unchanged with the very same records
//! (texts, lines, fields, and the row of every occurrence): the delta is a
//! shorter spelling of the metadata, never a second source of it.

use std::io::{self, Write};

use super::meta_columns::{self, Cursor};
use super::{DocMeta, Meta, Occurrence, PairMeta};
use crate::corpus::Text;

/// The first bytes of a `meta.delta.bin`.
pub const MAGIC: &[u8; 8] = b"QAMDELTA";

/// A delta is written while what changed since its base (pairs dropped
/// from it, pairs new to it) is at most 1/`SHARE` of the base's pairs.
pub const SHARE: usize = 8;

/// A document new to the base.
const NONE: u32 = u32::MAX;

const SPAN_BYTES: usize = 9;

/// Where the documents of a generation's metadata lie in a `meta.bin` in
/// columns: the file it was read from, or the one its next generation's
/// delta would be over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaBase {
    /// Length and CRC-32 of the base's file.
    pub file: (u64, u32),
    /// Documents of the base.
    docs: usize,
    /// Pairs of the base.
    pairs: usize,
    /// Per document of the metadata: its number in the base, or [`NONE`].
    doc_of: Vec<u32>,
    /// Pairs of the metadata that are the base's.
    kept: usize,
}

impl MetaBase {
    /// `meta`, read whole from a file of length and CRC-32 `file`, as the
    /// base of its own documents. (Metadata whose pairs are not in
    /// document order, or occurrences not in pair order, carries no
    /// document over: [`MetaBase::carried`].)
    pub fn whole(meta: &Meta, file: (u64, u32)) -> MetaBase {
        MetaBase {
            file,
            docs: meta.documents.len(),
            pairs: meta.pairs.len(),
            doc_of: (0..meta.documents.len() as u32).collect(),
            kept: meta.pairs.len(),
        }
    }

    /// The base of `meta`, the next generation's metadata, when `previous`
    /// was read over `base`: a document that `previous_doc` (per document
    /// of `meta`, see [`crate::indexer::plan::BuildPlan::previous_doc`])
    /// says is unchanged since `previous`, with the very same records
    /// there, keeps its place in the base; the others are new to it. None
    /// when no document is kept, or either is out of order.
    pub fn carried(
        meta: &Meta,
        previous: &Meta,
        base: &MetaBase,
        previous_doc: &[u32],
    ) -> Option<MetaBase> {
        let (now, before) = (starts(meta)?, starts(previous)?);
        if base.doc_of.len() != previous.documents.len() {
            return None;
        }
        let mut doc_of = vec![NONE; meta.documents.len()];
        let (mut last, mut kept) = (None, 0);
        for (d, slot) in doc_of.iter_mut().enumerate() {
            let Some(&p) = previous_doc.get(d) else { break };
            let Some(&b) = base.doc_of.get(p as usize) else {
                continue;
            };
            if b == NONE || last.is_some_and(|l| b <= l) {
                continue;
            }
            if same_records((meta, &now, d), (previous, &before, p as usize)) {
                *slot = b;
                last = Some(b);
                kept += now.pairs[d + 1] - now.pairs[d];
            }
        }
        (kept > 0).then_some(MetaBase {
            file: base.file,
            docs: base.docs,
            pairs: base.pairs,
            doc_of,
            kept,
        })
    }

    /// Whether a delta over the base is worth writing for `meta` (whose
    /// base this is): what changed since the base, its pairs dropped and
    /// the pairs new to it, is at most 1/[`SHARE`] of the base's pairs.
    pub fn worth_a_delta(&self, meta: &Meta) -> bool {
        let kept = self.kept.min(meta.pairs.len());
        let changed = self.pairs.saturating_sub(kept) + (meta.pairs.len() - kept);
        self.doc_of.len() == meta.documents.len() && changed * SHARE <= self.pairs
    }
}

/// Writes the delta of `meta` over `base` (its base: [`MetaBase::carried`]).
pub fn write(meta: &Meta, base: &MetaBase, out: &mut impl Write) -> io::Result<()> {
    let s = starts(meta).ok_or_else(|| io::Error::other("metadata out of document order"))?;
    let spans = spans(&base.doc_of);
    out.write_all(MAGIC)?;
    let (len, crc) = base.file;
    for n in [len, u64::from(crc), base.docs as u64, spans.len() as u64] {
        out.write_all(&n.to_le_bytes())?;
    }
    for (kind, first, count) in &spans {
        out.write_all(&[*kind])?;
        out.write_all(&first.to_le_bytes())?;
        out.write_all(&count.to_le_bytes())?;
    }
    meta_columns::write(&new_to_base(meta, &s, &base.doc_of), out)
}

/// `base` (decoded from a `meta.bin` of length and CRC-32 `file`) with the
/// delta `bytes` over it: the generation's metadata, unindexed, and where
/// its documents lie in the base. The error is a short reason.
pub fn apply(base: Meta, file: (u64, u32), bytes: &[u8]) -> Result<(Meta, MetaBase), String> {
    let mut at = Cursor(bytes);
    if at.take(MAGIC.len())? != MAGIC {
        return Err("not a delta of metadata (its first bytes are not the format's)".into());
    }
    let mut words = [0u64; 4];
    for w in &mut words {
        *w = u64::from_le_bytes(at.array()?);
    }
    let [len, crc, docs, spans] = words;
    if (len, crc) != (file.0, u64::from(file.1)) {
        return Err(format!(
            "over another meta.bin (of {len} bytes, CRC-32 {crc:08x})"
        ));
    }
    if docs != base.documents.len() as u64 {
        return Err(format!(
            "over a base of {docs} documents; meta.bin has {}",
            base.documents.len()
        ));
    }
    let span_bytes = usize::try_from(spans)
        .ok()
        .and_then(|n| n.checked_mul(SPAN_BYTES))
        .filter(|&n| n <= at.0.len())
        .ok_or_else(|| format!("{spans} spans: more than the file holds"))?;
    let spans = at.take(span_bytes)?;
    let added = meta_columns::decode(at.0).map_err(|e| format!("its documents: {e}"))?;
    let from_base = Source::of(base, "the base's")?;
    let from_delta = Source::of(added, "its")?;
    assemble(from_base, from_delta, spans, file)
}

/// Metadata whose documents are being taken, with where each document's
/// pairs and each pair's occurrences begin.
struct Source {
    meta: Meta,
    starts: Starts,
}

impl Source {
    fn of(meta: Meta, whose: &str) -> Result<Source, String> {
        let starts = starts(&meta)
            .ok_or_else(|| format!("{whose} pairs or occurrences are out of order"))?;
        Ok(Source { meta, starts })
    }
}

/// The metadata the spans make of the base's documents and the delta's:
/// the spans checked, then the base's vectors rearranged in place (a run
/// of documents that keeps its place moves nothing; one that moves is
/// swapped along, without allocating), the delta's documents put in the
/// places left, and pairs and occurrences numbered again where they moved.
fn assemble(
    base: Source,
    added: Source,
    spans: &[u8],
    file: (u64, u32),
) -> Result<(Meta, MetaBase), String> {
    let runs = runs(&base, &added, spans)?;
    let (docs, pairs) = runs.last().map_or((0, 0), |r| {
        (r.docs.to + r.docs.len, r.pairs.to + r.pairs.len)
    });
    number(docs)?;
    number(pairs)?;
    let meta_base = MetaBase {
        file,
        docs: base.meta.documents.len(),
        pairs: base.meta.pairs.len(),
        doc_of: (runs.iter())
            .flat_map(|r| {
                (0..r.docs.len).map(move |k| {
                    if r.in_base {
                        (r.docs.from + k) as u32
                    } else {
                        NONE
                    }
                })
            })
            .collect(),
        kept: (runs.iter().filter(|r| r.in_base))
            .map(|r| r.pairs.len)
            .sum(),
    };
    let (mut base, mut added) = (base.meta, added.meta);
    let filler = || DocMeta {
        key: String::new(),
        source: String::new(),
    };
    assemble::place(
        &mut base.documents,
        &mut added.documents,
        &runs,
        |r| r.docs,
        filler,
    );
    assemble::place(
        &mut base.pairs,
        &mut added.pairs,
        &runs,
        |r| r.pairs,
        placeholder,
    );
    let filler = || Occurrence {
        pair: 0,
        row: 0,
        start: 0,
        end: 0,
        kind: super::Kind::Sentence,
    };
    let occurrences = |r: &Run| r.occurrences;
    assemble::place(
        &mut base.occurrences,
        &mut added.occurrences,
        &runs,
        occurrences,
        filler,
    );
    assemble::renumber(&mut base.pairs, &mut base.occurrences, &runs);
    let meta = Meta::unindexed(base.documents, base.pairs, base.occurrences, added.rows);
    Ok((meta, meta_base))
}

/// Items of one kind moved together: `len` of them, from `from` (in the
/// base, or in the delta) to `to` in the metadata.
#[derive(Debug, Clone, Copy)]
struct Move {
    from: usize,
    len: usize,
    to: usize,
}

/// A span of documents with their pairs and occurrences.
#[derive(Debug, Clone, Copy)]
struct Run {
    in_base: bool,
    docs: Move,
    pairs: Move,
    occurrences: Move,
}

/// The spans, checked: the base's ascending without overlapping and within
/// its documents, the delta's taking its documents in order, each once.
fn runs(base: &Source, added: &Source, spans: &[u8]) -> Result<Vec<Run>, String> {
    let mut runs = Vec::with_capacity(spans.len() / SPAN_BYTES);
    let (mut next_base, mut next_new) = (0, 0);
    let mut to = (0, 0, 0);
    for r in spans.chunks_exact(SPAN_BYTES) {
        let word = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]) as usize;
        let (first, count) = (word(1), word(5));
        let end = first + count;
        let (in_base, from) = match r[0] {
            0 if first >= next_base && end <= base.meta.documents.len() => {
                next_base = end;
                (true, base)
            }
            1 if first == next_new && end <= added.meta.documents.len() => {
                next_new = end;
                (false, added)
            }
            0 | 1 => return Err(format!("a span out of order or past its documents: {r:?}")),
            k => return Err(format!("a span of kind {k}")),
        };
        let s = &from.starts;
        let (p, o) = (s.pairs[first], s.occurrences[s.pairs[first]]);
        let (pairs, occurrences) = (s.pairs[end] - p, s.occurrences[s.pairs[end]] - o);
        runs.push(Run {
            in_base,
            docs: Move {
                from: first,
                len: count,
                to: to.0,
            },
            pairs: Move {
                from: p,
                len: pairs,
                to: to.1,
            },
            occurrences: Move {
                from: o,
                len: occurrences,
                to: to.2,
            },
        });
        to = (to.0 + count, to.1 + pairs, to.2 + occurrences);
    }
    if next_new != added.meta.documents.len() {
        return Err(format!(
            "{} of its documents in no span",
            added.meta.documents.len() - next_new
        ));
    }
    Ok(runs)
}

/// A document's or pair's number as the metadata keeps it.
fn number(n: usize) -> Result<u32, String> {
    u32::try_from(n)
        .ok()
        .filter(|&n| n != NONE)
        .ok_or_else(|| format!("more than {NONE} documents or pairs"))
}

/// What a pair taken from its place leaves there.
fn placeholder() -> PairMeta {
    PairMeta {
        doc: 0,
        question: Text::empty(),
        answer: Text::empty(),
        line: 0,
        meta: Vec::new(),
        passage: false,
    }
}

/// Runs of documents: (0, first, count) for consecutive documents of the
/// base, (1, first, count) for documents new to it (numbered in the order
/// the delta holds them).
fn spans(doc_of: &[u32]) -> Vec<(u8, u32, u32)> {
    let mut spans: Vec<(u8, u32, u32)> = Vec::new();
    let mut added = 0u32;
    for &b in doc_of {
        let (kind, first) = match b {
            NONE => (1, added),
            b => (0, b),
        };
        match spans.last_mut() {
            Some((k, f, n)) if *k == kind && *f + *n == first => *n += 1,
            _ => spans.push((kind, first, 1)),
        }
        added += u32::from(b == NONE);
    }
    spans
}

/// The documents of `meta` new to its base, with their pairs and
/// occurrences numbered among themselves.
fn new_to_base(meta: &Meta, s: &Starts, doc_of: &[u32]) -> Meta {
    let mut out = Meta::default();
    out.rows = meta.rows;
    for (d, _) in doc_of.iter().enumerate().filter(|(_, &b)| b == NONE) {
        let doc = out.documents.len() as u32;
        out.documents.push(meta.documents[d].clone());
        for p in s.pairs[d]..s.pairs[d + 1] {
            let pair = out.pairs.len() as u32;
            out.pairs.push(PairMeta {
                doc,
                ..meta.pairs[p].clone()
            });
            let occurrences = &meta.occurrences[s.occurrences[p]..s.occurrences[p + 1]];
            (out.occurrences).extend(occurrences.iter().map(|o| Occurrence { pair, ..*o }));
        }
    }
    out
}

/// Where each document's pairs and each pair's occurrences begin (one more
/// entry than documents or pairs).
struct Starts {
    pairs: Vec<usize>,
    occurrences: Vec<usize>,
}

/// None when `meta`'s pairs are not in document order or its occurrences
/// not in pair order (or name one past the end).
fn starts(meta: &Meta) -> Option<Starts> {
    Some(Starts {
        pairs: grouped(meta.pairs.iter().map(|p| p.doc), meta.documents.len())?,
        occurrences: grouped(meta.occurrences.iter().map(|o| o.pair), meta.pairs.len())?,
    })
}

/// For `keys` ascending, each below `n`: where the run of each key from 0
/// to `n` begins (`n + 1` entries, the last the number of keys).
fn grouped(keys: impl Iterator<Item = u32>, n: usize) -> Option<Vec<usize>> {
    let mut start = Vec::with_capacity(n + 1);
    let mut last = 0;
    let mut count = 0;
    for (i, k) in keys.enumerate() {
        let k = k as usize;
        if k >= n || k < last {
            return None;
        }
        while start.len() <= k {
            start.push(i);
        }
        (last, count) = (k, i + 1);
    }
    start.resize(n + 1, count);
    Some(start)
}

/// Whether document `d` of one metadata has the very records of document
/// `e` of another (but for the numbers pairs and occurrences point with).
fn same_records((a, sa, d): (&Meta, &Starts, usize), (b, sb, e): (&Meta, &Starts, usize)) -> bool {
    let (pa, pb) = (sa.pairs[d]..sa.pairs[d + 1], sb.pairs[e]..sb.pairs[e + 1]);
    a.documents[d] == b.documents[e]
        && pa.len() == pb.len()
        && pa.zip(pb).all(|(i, j)| {
            let (oa, ob) = (
                sa.occurrences[i]..sa.occurrences[i + 1],
                sb.occurrences[j]..sb.occurrences[j + 1],
            );
            same_pair(&a.pairs[i], &b.pairs[j])
                && oa.len() == ob.len()
                && oa.zip(ob).all(|(x, y)| {
                    let (x, y) = (a.occurrences[x], b.occurrences[y]);
                    Occurrence { pair: y.pair, ..x } == y
                })
        })
}

/// Whether two pairs are the same but for their documents' numbers.
fn same_pair(a: &PairMeta, b: &PairMeta) -> bool {
    // Every field named, so that a new one is compared too.
    let PairMeta {
        doc: _,
        question,
        answer,
        line,
        meta,
        passage,
    } = a;
    *question == b.question
        && *answer == b.answer
        && *line == b.line
        && *meta == b.meta
        && *passage == b.passage
}

mod assemble;

#[cfg(test)]
#[path = "meta_delta_tests.rs"]
pub(super) mod tests;
