//! What makes two occurrences share a vector row: the text and how its
//! vector is made. The indexer reuses rows by this key; the PostgreSQL store
//! keys its rows by its hash.

use super::{AnswerVectors, Kind, Meta, Occurrence};

/// How a row's vector is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Made {
    /// The model reads the text as a passage.
    Embedded,
    /// The normalised mean of the answer's sentence vectors.
    Pooled,
    /// The model reads the text as a query (a stored question, when the
    /// model's roles differ).
    AsQuery,
    /// A sentence read in the context of its whole answer.
    InContext,
}

impl Made {
    /// Its code, stable across versions: the PostgreSQL store keys rows by it.
    pub fn code(self) -> u8 {
        match self {
            Made::Embedded => 0,
            Made::Pooled => 1,
            Made::AsQuery => 2,
            Made::InContext => 3,
        }
    }
}

/// What makes two occurrences share a row: the same text, made the same way
/// (a pooled whole answer is not the model's vector of its text; with e5, a
/// question is not read as a passage of the same words; a sentence read in
/// context is its answer and its place there, not its words alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowKey<'a> {
    /// How the vector is made.
    pub how: Made,
    /// The text the model reads: the occurrence's own or, for a sentence
    /// read in context, its whole answer.
    pub text: &'a str,
    /// For a sentence read in context: its byte range in `text`.
    pub span: Option<(u32, u32)>,
}

/// The row key of occurrence `o` of `pair`, whose text is `text`;
/// `several`: the pair's answer has several sentences (a vector of its own).
pub(crate) fn row_key<'a>(
    answer_vectors: AnswerVectors,
    queries_apart: bool,
    o: &Occurrence,
    text: &'a str,
    answer: &'a str,
    several: bool,
) -> RowKey<'a> {
    let plain = |how| RowKey {
        how,
        text,
        span: None,
    };
    match o.kind {
        Kind::Answer if answer_vectors == AnswerVectors::Pooled => plain(Made::Pooled),
        Kind::Question if queries_apart => plain(Made::AsQuery),
        Kind::Sentence if answer_vectors == AnswerVectors::InContext && several => RowKey {
            how: Made::InContext,
            text: answer,
            span: Some((o.start, o.end)),
        },
        _ => plain(Made::Embedded),
    }
}

/// True when pair `pair` has a whole-answer occurrence (its answer has
/// several sentences); `occurrences` are in pair order.
fn has_whole_answer(occurrences: &[Occurrence], pair: u32) -> bool {
    let from = occurrences.partition_point(|o| o.pair < pair);
    occurrences[from..]
        .iter()
        .take_while(|o| o.pair == pair)
        .any(|o| o.kind == Kind::Answer)
}

/// How row `row` of a generation was made and its text (what makes rows
/// shared, see [`RowKey`]), or None for a row no pair holds.
pub fn row_key_of(
    meta: &Meta,
    answer_vectors: AnswerVectors,
    queries_apart: bool,
    row: usize,
) -> Option<RowKey<'_>> {
    let o = meta.occurrences_of(row).next()?;
    let text = meta.text(o)?;
    let answer = &meta.pairs.get(o.pair as usize)?.answer;
    let several = o.kind == Kind::Sentence && has_whole_answer(&meta.occurrences, o.pair);
    Some(row_key(
        answer_vectors,
        queries_apart,
        o,
        text,
        answer,
        several,
    ))
}
