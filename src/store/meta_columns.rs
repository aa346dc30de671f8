//! `meta.bin` in columns (format 11, [`super::COLUMNS_FORMAT`]): the
//! documents, pairs, fields and occurrences as fixed-width records, then
//! every text of them in one run of UTF-8.
//!
//! Encoded by serde and bincode, the metadata cost a million-pair update
//! 1.1 s to decode (three million strings allocated one by one, every
//! integer a varint) and 0.6–0.9 s to write. Here the records are read and
//! written as they lie, and the texts are copied into one buffer that the
//! pairs' [`Text`]s share: decoding allocates a handful of vectors and one
//! buffer, and a text costs a range.
//!
//! ```text
//! magic "QAMETA\0\x0b"
//! u64 × 6: documents, pairs, fields, occurrences, rows, text bytes
//! documents:   u32 key length, u32 source length
//! pairs:       u32 document, u32 line, u32 question length,
//!              u32 answer length, u32 fields, u8 passage (0 or 1)
//! fields:      u32 name length, u32 value length
//! occurrences: u32 pair, u32 row, u32 start, u32 end, u8 kind (0–3)
//! texts:       each document's key and source, each pair's question and
//!              answer, each field's name and value, in that order
//! ```
//!
//! All little-endian. A file that disagrees with itself (a count past the
//! file, lengths that do not sum to the texts, a text cut inside a
//! character, bytes left over) is refused with the reason, never read past.

use std::io::{self, Write};
use std::sync::Arc;

use super::{DocMeta, Kind, Meta, Occurrence, PairMeta};
use crate::corpus::Text;

/// The first bytes of a `meta.bin` in columns.
pub const MAGIC: &[u8; 8] = b"QAMETA\0\x0b";

const DOC_BYTES: usize = 8;
const PAIR_BYTES: usize = 21;
const FIELD_BYTES: usize = 8;
const OCCURRENCE_BYTES: usize = 17;

/// Writes `meta` in columns to `out` (in records: `out` should buffer).
pub fn write(meta: &Meta, out: &mut impl Write) -> io::Result<()> {
    let fields: usize = meta.pairs.iter().map(|p| p.meta.len()).sum();
    let texts = text_bytes(meta);
    out.write_all(MAGIC)?;
    for count in [
        meta.documents.len(),
        meta.pairs.len(),
        fields,
        meta.occurrences.len(),
        meta.rows as usize,
        texts,
    ] {
        out.write_all(&(count as u64).to_le_bytes())?;
    }
    for d in &meta.documents {
        put(out, [len(&d.key)?, len(&d.source)?], &[])?;
    }
    for p in &meta.pairs {
        let head = [
            p.doc,
            p.line,
            len(&p.question)?,
            len(&p.answer)?,
            count(p.meta.len())?,
        ];
        put(out, head, &[u8::from(p.passage)])?;
    }
    for (name, value) in meta.pairs.iter().flat_map(|p| &p.meta) {
        put(out, [len(name)?, len(value)?], &[])?;
    }
    for o in &meta.occurrences {
        let kind = match o.kind {
            Kind::Sentence => 0,
            Kind::Answer => 1,
            Kind::Question => 2,
            Kind::Passage => 3,
        };
        put(out, [o.pair, o.row, o.start, o.end], &[kind])?;
    }
    for d in &meta.documents {
        out.write_all(d.key.as_bytes())?;
        out.write_all(d.source.as_bytes())?;
    }
    for p in &meta.pairs {
        out.write_all(p.question.as_bytes())?;
        out.write_all(p.answer.as_bytes())?;
    }
    for (name, value) in meta.pairs.iter().flat_map(|p| &p.meta) {
        out.write_all(name.as_bytes())?;
        out.write_all(value.as_bytes())?;
    }
    Ok(())
}

/// `meta` in columns, in memory.
pub fn encode(meta: &Meta) -> Vec<u8> {
    let mut out = Vec::new();
    write(meta, &mut out).expect("invariant: writing to memory does not fail");
    out
}

/// The bytes of every text of `meta`.
fn text_bytes(meta: &Meta) -> usize {
    let docs: usize = (meta.documents.iter())
        .map(|d| d.key.len() + d.source.len())
        .sum();
    let pairs: usize = (meta.pairs.iter())
        .map(|p| p.question.len() + p.answer.len())
        .sum();
    let fields: usize = (meta.pairs.iter().flat_map(|p| &p.meta))
        .map(|(n, v)| n.len() + v.len())
        .sum();
    docs + pairs + fields
}

/// A text's length as the file keeps it.
fn len(text: &str) -> io::Result<u32> {
    u32::try_from(text.len()).map_err(|_| {
        io::Error::other(format!(
            "a text of {} bytes is too long for the index",
            text.len()
        ))
    })
}

/// A pair's number of fields as the file keeps it.
fn count(fields: usize) -> io::Result<u32> {
    u32::try_from(fields).map_err(|_| {
        io::Error::other(format!(
            "a pair of {fields} fields is too many for the index"
        ))
    })
}

/// Writes `words` (little-endian) and then `tail` as one record.
fn put<const N: usize>(out: &mut impl Write, words: [u32; N], tail: &[u8]) -> io::Result<()> {
    let mut record = [0u8; 24];
    for (i, w) in words.iter().enumerate() {
        record[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    let n = N * 4 + tail.len();
    record[N * 4..n].copy_from_slice(tail);
    out.write_all(&record[..n])
}

/// Reads a `meta.bin` in columns; the metadata has no row index yet
/// ([`Meta::index_rows`], after [`super::check_meta`]). The error is a
/// short reason.
pub fn decode(bytes: &[u8]) -> Result<Meta, String> {
    let mut at = Cursor(bytes);
    if at.take(MAGIC.len())? != MAGIC {
        return Err("not metadata in columns (its first bytes are not the format's)".into());
    }
    let mut count = || -> Result<usize, String> {
        let n = u64::from_le_bytes(at.array()?);
        usize::try_from(n).map_err(|_| format!("a count of {n}: too large"))
    };
    let (documents, pairs, fields, occurrences, rows, texts) =
        (count()?, count()?, count()?, count()?, count()?, count()?);
    let rows = u32::try_from(rows).map_err(|_| format!("{rows} rows: too many"))?;
    // Every record is in the file before anything is allocated for it.
    let records = [
        (documents, DOC_BYTES),
        (pairs, PAIR_BYTES),
        (fields, FIELD_BYTES),
        (occurrences, OCCURRENCE_BYTES),
    ];
    let mut need = texts;
    for (n, size) in records {
        need = n
            .checked_mul(size)
            .and_then(|b| b.checked_add(need))
            .ok_or("counts past any file")?;
    }
    if need != at.0.len() {
        return Err(format!(
            "{} bytes after the counts, which say {need}",
            at.0.len()
        ));
    }
    let doc_records = at.take(documents * DOC_BYTES)?;
    let pair_records = at.take(pairs * PAIR_BYTES)?;
    let field_records = at.take(fields * FIELD_BYTES)?;
    let occurrence_records = at.take(occurrences * OCCURRENCE_BYTES)?;
    let arena =
        std::str::from_utf8(at.take(texts)?).map_err(|e| format!("texts are not UTF-8: {e}"))?;
    let arena = Arc::new(arena.to_string());
    let mut texts = Texts {
        arena: &arena,
        at: 0,
    };
    let documents = read_documents(doc_records, &mut texts)?;
    let pairs = read_pairs(pair_records, field_records, &mut texts)?;
    if texts.at != arena.len() {
        return Err(format!(
            "{} bytes of texts, of which the records use {}",
            arena.len(),
            texts.at
        ));
    }
    let occurrences = read_occurrences(occurrence_records)?;
    Ok(Meta::unindexed(documents, pairs, occurrences, rows))
}

fn read_documents(records: &[u8], texts: &mut Texts<'_>) -> Result<Vec<DocMeta>, String> {
    let mut documents = Vec::with_capacity(records.len() / DOC_BYTES);
    for r in records.chunks_exact(DOC_BYTES) {
        let [key, source] = words(r);
        documents.push(DocMeta {
            key: texts.next(key)?.to_string(),
            source: texts.next(source)?.to_string(),
        });
    }
    Ok(documents)
}

/// The pairs, their texts, then their fields' (in the texts' order).
fn read_pairs(
    records: &[u8],
    field_records: &[u8],
    texts: &mut Texts<'_>,
) -> Result<Vec<PairMeta>, String> {
    let mut field_lengths = field_records.chunks_exact(FIELD_BYTES).map(words::<2>);
    let mut fields_of = Vec::with_capacity(records.len() / PAIR_BYTES);
    let mut pairs = Vec::with_capacity(records.len() / PAIR_BYTES);
    for r in records.chunks_exact(PAIR_BYTES) {
        let [doc, line, question, answer, fields] = words(r);
        let passage = match r[20] {
            0 => false,
            1 => true,
            b => return Err(format!("a pair's passage flag is {b}")),
        };
        pairs.push(PairMeta {
            doc,
            question: texts.next(question)?,
            answer: texts.next(answer)?,
            line,
            meta: Vec::new(),
            passage,
        });
        fields_of.push(fields);
    }
    for (p, n) in pairs.iter_mut().zip(fields_of) {
        for _ in 0..n {
            let [name, value] = field_lengths.next().ok_or("more fields than the count")?;
            let name = texts.next(name)?.to_string();
            p.meta.push((name, texts.next(value)?.to_string()));
        }
    }
    if field_lengths.next().is_some() {
        return Err("fewer fields than the count".into());
    }
    Ok(pairs)
}

fn read_occurrences(records: &[u8]) -> Result<Vec<Occurrence>, String> {
    let mut occurrences = Vec::with_capacity(records.len() / OCCURRENCE_BYTES);
    for r in records.chunks_exact(OCCURRENCE_BYTES) {
        let [pair, row, start, end] = words(r);
        let kind = match r[16] {
            0 => Kind::Sentence,
            1 => Kind::Answer,
            2 => Kind::Question,
            3 => Kind::Passage,
            k => return Err(format!("an occurrence of kind {k}")),
        };
        occurrences.push(Occurrence {
            pair,
            row,
            start,
            end,
            kind,
        });
    }
    Ok(occurrences)
}

/// The bytes not yet read.
pub(super) struct Cursor<'a>(pub(super) &'a [u8]);

impl<'a> Cursor<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err(format!(
                "cut short: {n} bytes wanted, {} left",
                self.0.len()
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}

/// The first `N` little-endian words of a record.
fn words<const N: usize>(record: &[u8]) -> [u32; N] {
    std::array::from_fn(|i| {
        let b = &record[i * 4..i * 4 + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    })
}

/// The texts, handed out in file order as ranges of one buffer.
struct Texts<'a> {
    arena: &'a Arc<String>,
    at: usize,
}

impl Texts<'_> {
    fn next(&mut self, len: u32) -> Result<Text, String> {
        let end = self
            .at
            .checked_add(len as usize)
            .filter(|&end| end <= self.arena.len())
            .ok_or("texts longer than the file's")?;
        let text =
            Text::slice(self.arena, self.at..end).ok_or("a text's bounds cut a character")?;
        self.at = end;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        let pair = |doc, q: &str, a: &str, fields: &[(&str, &str)], passage| PairMeta {
            doc,
            question: q.into(),
            answer: a.into(),
            line: 3 + doc,
            meta: (fields.iter())
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            passage,
        };
        let occ = |pair, row, start, end, kind| Occurrence {
            pair,
            row,
            start,
            end,
            kind,
        };
        Meta::new(
            vec![
                DocMeta {
                    key: "a.jsonl#1".into(),
                    source: "a.jsonl".into(),
                },
                DocMeta {
                    key: "ü/b.txt".into(),
                    source: "ü/b.txt".into(),
                },
            ],
            vec![
                pair(
                    0,
                    "Wer?",
                    "Anna. Sie kam.",
                    &[("topic", "Röme"), ("id", "7")],
                    false,
                ),
                pair(0, "", "A passage.", &[], true),
                pair(1, "Why?", "Because.", &[], false),
            ],
            vec![
                occ(0, 0, 0, 6, Kind::Sentence),
                occ(0, 1, 7, 15, Kind::Sentence),
                occ(0, 2, 0, 15, Kind::Answer),
                occ(0, 3, 0, 4, Kind::Question),
                occ(1, 4, 0, 10, Kind::Passage),
                occ(2, 5, 0, 8, Kind::Sentence),
            ],
            7,
        )
    }

    #[test]
    fn metadata_in_columns_reads_back_as_written_sharing_one_buffer() {
        let meta = meta();
        let bytes = encode(&meta);
        let mut back = decode(&bytes).unwrap();
        back.index_rows();
        assert_eq!(back, meta);
        // The pairs' texts are ranges of one buffer.
        let (q, a) = (&back.pairs[0].question, &back.pairs[2].answer);
        assert_eq!((q.as_str(), a.as_str()), ("Wer?", "Because."));
        let shared = Text::slice(&Arc::new(String::new()), 0..0).unwrap();
        assert!(!shared.same(q));
        assert!(q.clone().same(q));
        // Written through a writer as `encode` gives it.
        let mut written = Vec::new();
        write(&meta, &mut io::BufWriter::new(&mut written)).unwrap();
        assert_eq!(written, bytes);
        // Empty metadata too.
        let empty = Meta::new(vec![], vec![], vec![], 0);
        let mut back = decode(&encode(&empty)).unwrap();
        back.index_rows();
        assert_eq!(back, empty);
    }

    #[test]
    fn metadata_in_columns_that_disagrees_with_itself_is_refused() {
        let bytes = encode(&meta());
        let header = MAGIC.len() + 6 * 8;
        let with = |at: usize, value: &[u8]| {
            let mut b = bytes.clone();
            b[at..at + value.len()].copy_from_slice(value);
            decode(&b).unwrap_err()
        };
        // Every cut and every byte added is refused.
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(b'x');
        assert!(decode(&longer).unwrap_err().contains("after the counts"));
        assert!(with(0, b"QAMETA\0\x0a").contains("not metadata in columns"));
        // Counts past any file, and counts that do not add up.
        assert!(with(MAGIC.len(), &u64::MAX.to_le_bytes()).contains("past any file"));
        assert!(with(MAGIC.len() + 8, &2u64.to_le_bytes()).contains("after the counts"));
        // The second document's key one byte long, its source the rest:
        // the same sum, but the key ends inside the "ü" of "ü/b.txt".
        let pair0 = header + 2 * DOC_BYTES;
        assert_eq!(&bytes[pair0 + 8..pair0 + 12], &4u32.to_le_bytes());
        let key1 = header + DOC_BYTES;
        let mut b = bytes.clone();
        b[key1..key1 + 4].copy_from_slice(&1u32.to_le_bytes());
        b[key1 + 4..key1 + 8].copy_from_slice(&15u32.to_le_bytes());
        assert!(decode(&b).unwrap_err().contains("cut a character"));
        // A text longer than the texts, a flag and a kind out of range.
        assert!(with(pair0 + 12, &u32::MAX.to_le_bytes()).contains("longer than"));
        assert!(with(pair0 + 20, &[2]).contains("passage flag is 2"));
        let occurrences = pair0 + 3 * PAIR_BYTES + 2 * FIELD_BYTES;
        assert!(with(occurrences + 16, &[4]).contains("kind 4"));
        // More fields than the count says (the last pair claims one).
        assert!(with(pair0 + 2 * PAIR_BYTES + 16, &1u32.to_le_bytes())
            .contains("more fields than the count"));
        // Invalid UTF-8 in the texts.
        let last = bytes.len() - 1;
        assert!(with(last, &[0xff]).contains("not UTF-8"));
    }
}
