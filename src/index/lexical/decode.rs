//! `lexical.bin` read in tight loops: the bytes bincode's standard
//! configuration writes for a [`LexicalIndex`] (a bool, the terms as
//! strings, then four lists of integers, every length and integer a
//! varint), decoded straight from the slice. Through serde each of the
//! 22 million postings of a million pairs (`lexical.bin` of 137 MB) is a
//! visitor call and a varint decoded apart: about 0.24 s; here 0.12–0.14 s,
//! a good part of it the kernel's first touch of the lists' memory
//! (`cargo bench --bench meta -- --lexical FILE`).
//!
//! Only the encoding bincode writes is read here: an integer in the
//! fewest bytes, a bool 0 or 1, strings of UTF-8, no bytes left over.
//! Anything else gives None, and the caller asks bincode, whose answer
//! (the index, or the reason it is refused) is the one that counts. Every
//! length is checked against the bytes left before anything is allocated
//! for it (each element takes a byte at least), so a hostile length costs
//! nothing.

use super::LexicalIndex;

/// Varint markers of bincode's standard configuration: a value below
/// `U16` is its own byte; `U16`, `U32` and `U64` are followed by that many
/// little-endian bytes.
const U16: u8 = 251;
const U32: u8 = 252;
const U64: u8 = 253;

impl LexicalIndex {
    /// The index bincode wrote as `bytes`, read without serde; None where
    /// the bytes are not exactly what bincode writes (bincode then decides).
    pub fn decode_fast(bytes: &[u8]) -> Option<LexicalIndex> {
        let mut r = Reader { bytes, at: 0 };
        let stemming = match r.byte()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let n = r.len()?;
        let mut terms = Vec::with_capacity(n);
        for _ in 0..n {
            terms.push(r.string()?);
        }
        let (offsets, docs, tfs, lengths) = (r.u32s()?, r.u32s()?, r.u32s()?, r.u32s()?);
        (r.at == bytes.len())
            .then(|| LexicalIndex::from_parts(stemming, terms, offsets, docs, tfs, lengths))
    }
}

/// A position in the bytes being read.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    /// A varint as bincode writes it (in the fewest bytes).
    fn varint(&mut self) -> Option<u64> {
        let (value, used) = varint(&self.bytes[self.at..])?;
        self.at += used;
        Some(value)
    }

    /// A length of a list whose elements take a byte each at least: no
    /// more than the bytes left.
    fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= self.bytes.len() - self.at).then_some(n)
    }

    fn string(&mut self) -> Option<String> {
        let n = self.len()?;
        let text = std::str::from_utf8(&self.bytes[self.at..self.at + n]).ok()?;
        self.at += n;
        Some(text.to_owned())
    }

    /// A list of u32s: most are one byte, or a marker and four (document
    /// numbers past 65,535), read inline; the rest by [`varint`].
    fn u32s(&mut self) -> Option<Vec<u32>> {
        let n = self.len()?;
        let mut out = vec![0u32; n];
        let (bytes, mut at) = (self.bytes, self.at);
        for slot in &mut out {
            let first = *bytes.get(at)?;
            if first < U16 {
                *slot = u32::from(first);
                at += 1;
            } else if first == U32 {
                let word: [u8; 4] = bytes.get(at + 1..at + 5)?.try_into().ok()?;
                *slot = u32::from_le_bytes(word);
                if *slot < 1 << 16 {
                    return None;
                }
                at += 5;
            } else {
                let (value, used) = varint(&bytes[at..])?;
                *slot = u32::try_from(value).ok()?;
                at += used;
            }
        }
        self.at = at;
        Some(out)
    }
}

/// The varint at the start of `bytes` and the bytes it takes, when it is
/// written in the fewest bytes (as bincode writes).
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    fn le<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
        bytes.get(1..1 + N)?.try_into().ok()
    }
    let (value, used, least) = match *bytes.first()? {
        b if b < U16 => return Some((u64::from(b), 1)),
        U16 => (u64::from(u16::from_le_bytes(le(bytes)?)), 3, u64::from(U16)),
        U32 => (u64::from(u32::from_le_bytes(le(bytes)?)), 5, 1 << 16),
        U64 => (u64::from_le_bytes(le(bytes)?), 9, 1 << 32),
        _ => return None,
    };
    (value >= least).then_some((value, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Indexes of several shapes: empty, small, with stemming, with terms
    /// and counts past each varint width.
    fn indexes() -> Vec<LexicalIndex> {
        let mut texts: Vec<String> = (0..300)
            .map(|i| format!("ferry lamp{} harbour ö{} river", i % 17, i))
            .collect();
        // A text of one term 70,000 times: a frequency past two bytes.
        texts.push("tide ".repeat(70_000));
        let many: Vec<String> = (0..70_000).map(|i| format!("w{i}")).collect();
        vec![
            LexicalIndex::build(std::iter::empty(), false),
            LexicalIndex::build(texts.iter().map(String::as_str), true),
            LexicalIndex::build(texts.iter().map(String::as_str), false),
            LexicalIndex::build([many.join(" ").as_str(), "w1 w2"], false),
        ]
    }

    #[test]
    fn reads_what_bincode_reads() {
        for index in indexes() {
            let bytes = crate::store::encode(&index);
            assert_eq!(LexicalIndex::decode_fast(&bytes), Some(index.clone()));
            let read: LexicalIndex = crate::store::decode(&bytes).unwrap();
            assert_eq!(read, index);
        }
    }

    #[test]
    fn anything_bincode_would_not_write_is_left_to_bincode() {
        let index = &indexes()[1];
        let bytes = crate::store::encode(index);
        // Every cut, and a byte more.
        for cut in 0..bytes.len() {
            assert_eq!(LexicalIndex::decode_fast(&bytes[..cut]), None, "{cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(LexicalIndex::decode_fast(&longer), None);
        // A bool of 2.
        let mut two = bytes.clone();
        two[0] = 2;
        assert_eq!(LexicalIndex::decode_fast(&two), None);
        // A count of terms past the bytes left (bincode: the same refusal).
        let mut huge = bytes[..1].to_vec();
        huge.push(U64);
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(LexicalIndex::decode_fast(&huge), None);
        assert!(crate::store::decode::<LexicalIndex>(&huge).is_err());
        // Varints in more bytes than needed, or a marker bincode has not.
        for (bytes, value) in [
            (&[U16, 7, 0][..], None),
            (&[U32, 0, 1, 0, 0][..], None),
            (&[U64, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0][..], None),
            (&[254][..], None),
            (&[U16][..], None),
            (&[250][..], Some((250, 1))),
            (&[U16, 0xfb, 0][..], Some((251, 3))),
            (&[U32, 0, 0, 1, 0][..], Some((1 << 16, 5))),
            (&[U64, 0, 0, 0, 0, 1, 0, 0, 0][..], Some((1 << 32, 9))),
        ] {
            assert_eq!(varint(bytes), value, "{bytes:?}");
        }
    }
}
