//! Candidate views: each finds Q&A pairs for a question its own way and
//! scores them, one entry per pair, best first.
//!
//! - `answers`: the question's vector against every answer sentence (and
//!   whole answer); a pair scores by its best one.
//! - `questions`: the question's vector against every stored question (FAQ
//!   retrieval: a user asks what the corpus already asks, in other words).
//! - `lexical`: BM25 over each pair's question and answer.
//! - `sparse`: learned sparse weights of each pair's question and answer
//!   (SPLADE-tiny; an index built with `--sparse`), by dot product.
//! - `passage`: the question's vector against every sentence of documents'
//!   passages (the text before a `.txt` file's pairs, a `.jsonl` document's
//!   `passage`); each passage is a result of its own, without a question.
//!
//! [`crate::search::fuse`] combines them into one score per pair.

use serde::Serialize;

use crate::error::Result;
use crate::index::ann::exact_search;
use crate::index::mmap_graph::MmapGraph;
use crate::search::{Filter, SearchConfig};
use crate::store::{Kind, Side, Snapshot};

/// A way of finding pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// Dense, over answer sentences and whole answers.
    Answers,
    /// Dense, over stored questions.
    Questions,
    /// BM25 over question and answer text.
    Lexical,
    /// Dense, over the sentences of documents' passages.
    Passage,
    /// Learned sparse weights of question and answer.
    Sparse,
}

impl View {
    /// Every view, in the order results explain them.
    pub const ALL: [View; 5] = [
        View::Answers,
        View::Questions,
        View::Lexical,
        View::Sparse,
        View::Passage,
    ];

    /// The view's name in output.
    pub fn name(self) -> &'static str {
        match self {
            View::Answers => "answers",
            View::Questions => "questions",
            View::Lexical => "lexical",
            View::Passage => "passage",
            View::Sparse => "sparse",
        }
    }

    fn kinds(self) -> u8 {
        match self {
            View::Answers => Kind::Sentence.bit() | Kind::Answer.bit(),
            View::Questions => Kind::Question.bit(),
            View::Lexical | View::Sparse => 0,
            View::Passage => Kind::Passage.bit(),
        }
    }

    fn has(self, kind: Kind) -> bool {
        self.kinds() & kind.bit() != 0
    }
}

/// A pair found by a view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewHit {
    /// The pair.
    pub pair: u32,
    /// The view's score: cosine similarity for dense views, BM25 for
    /// lexical, a dot product of weights for sparse.
    pub score: f32,
    /// The vector row that matched (dense views).
    pub row: Option<u32>,
}

/// True when the snapshot has anything for `view` to search.
pub fn available(snapshot: &Snapshot, view: View) -> bool {
    match view {
        View::Lexical => !snapshot.lexical.is_empty(),
        View::Sparse => snapshot.sparse.as_ref().is_some_and(|s| !s.is_empty()),
        _ => (0..snapshot.meta.row_count()).any(|r| snapshot.meta.row_has(r, view.kinds())),
    }
}

/// The best `max(k, pairs)` pairs of a dense view for a query vector, best
/// first: a pair with many sentences holds many of the nearest rows, so the
/// search widens (4× the rows each time) until that many distinct pairs are
/// found, the view has no more, or (past `k`) it has searched
/// [`WIDEST_POOL`] rows a pair wanted. Fusion needs each view's best
/// *pairs*: on a corpus of paragraphs the nearest 40 rows can be ten pairs.
pub fn dense(
    snapshot: &Snapshot,
    query: &[f32],
    view: View,
    k: usize,
    pairs: usize,
    config: &SearchConfig,
) -> Result<Vec<ViewHit>> {
    let wanted = k.max(pairs);
    if !config.filter.is_empty() {
        let scan_up_to = crate::search::filter::scan_up_to(snapshot.meta.row_count());
        return dense_filtered(snapshot, query, view, wanted, config, scan_up_to);
    }
    let meta = &snapshot.meta;
    let mask = view.kinds();
    let rows = meta.row_count();
    let mut n = pairs.max(k * 2 + 16).min(rows);
    let (own_rows, view_rows) = own_rows(snapshot, view);
    // A scan costs the same whatever it keeps: one keeps as many rows as the
    // widening below would come to ask, so that it is not repeated.
    let mut widest = n;
    while widest < WIDEST_POOL * pairs && widest < rows {
        widest *= 4;
    }
    let widest = widest.min(rows);
    loop {
        let hits = match own_rows {
            Some(own) if view != View::Answers && (own.len() <= EXACT_SUBSET || config.exact) => {
                n = widest;
                subset_search(snapshot, own, query, n)
            }
            Some(own) if own.len() > EXACT_SUBSET && !config.exact => {
                let budget = own.len() / WALK_SHARE;
                let (hits, scanned) =
                    walk_or_scan(snapshot, own, query, (n, widest), config, view, budget);
                if scanned {
                    n = widest;
                }
                hits
            }
            _ => {
                let hits = nearest_rows(snapshot, query, n, config, Some(mask))?;
                if hits.len() < n && hits.len() < view_rows && !config.exact {
                    // Fewer hits than asked: either the view has fewer rows, or
                    // the walk could not reach them (a tiny graph whose entry
                    // holds only other kinds). Scanning settles it; it happens
                    // only for views smaller than `n` rows or such graphs.
                    nearest_rows(snapshot, query, n, &exact(config), Some(mask))?
                } else {
                    hits
                }
            }
        };
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for hit in &hits {
            for occ in meta.occurrences_of(hit.row) {
                if view.has(occ.kind) && seen.insert(occ.pair) {
                    out.push(ViewHit {
                        pair: occ.pair,
                        score: hit.score,
                        row: Some(hit.row as u32),
                    });
                    if out.len() == wanted {
                        return Ok(out);
                    }
                }
            }
        }
        // Too few distinct pairs among the hits: look further — for `k`, up
        // to everything; for the rest of the `pairs`, up to WIDEST_POOL times
        // their number of rows (a pair of many sentences fills many rows).
        let enough = out.len() >= wanted || (out.len() >= k && n >= WIDEST_POOL * pairs);
        if enough || n >= rows || hits.len() < n {
            return Ok(out);
        }
        n = (n * 4).min(rows);
    }
}

/// A dense view's own rows, when it should weigh walking against scanning
/// them, and how many rows it has (`usize::MAX`: not counted).
///
/// Each dense view keeps only its own rows of the one graph, so a walk can
/// cost more than scanning them: when few of the rows it meets are the
/// view's, or when the question lands in a crowd of near-identical rows of
/// another kind. A walk is given a [`WALK_SHARE`]th as many comparisons as
/// the view has rows (each costs a random read, where a scan streams), and
/// past that the view is scanned. Stored questions and passages of a few
/// thousand rows are scanned outright. (A database has a graph of the
/// stored questions alone.)
fn own_rows(snapshot: &Snapshot, view: View) -> (Option<&[u32]>, usize) {
    let meta = &snapshot.meta;
    let own = match view {
        _ if snapshot.remote_rows().is_some() => None,
        View::Questions => Some(meta.question_rows()),
        View::Passage => Some(meta.passage_rows()),
        View::Answers => Some(meta.answer_rows()),
        View::Lexical | View::Sparse => None,
    };
    // All the view's rows found: nothing further to scan for.
    let count = match view {
        View::Questions => meta.question_rows().len(),
        View::Passage => meta.passage_rows().len(),
        _ => usize::MAX,
    };
    (own, count)
}

/// Rows searched at most for each pair a view is asked for beyond `k`:
/// one widening (40 pairs: the nearest 160 rows). Searching until every
/// one of 40 pairs is found doubled the p50 of `ask` on StackFAQ (answers
/// of five sentences and more) for no gain in nDCG@10 (docs/benchmarks.md,
/// "Fusion on corpora it was not tuned on").
pub const WIDEST_POOL: usize = 4;

fn exact(config: &SearchConfig) -> SearchConfig {
    SearchConfig {
        exact: true,
        ..config.clone()
    }
}

/// The best `k` pairs of a dense view among those `config.filter` passes:
/// their rows scanned when they are few (`scan_up_to` rows or less;
/// [`dense`] passes [`crate::search::filter::scan_up_to`]), else the
/// graph walked until it holds the usual breadth of rows that pass (so it
/// visits about as many more rows as the filter leaves out).
pub fn dense_filtered(
    snapshot: &Snapshot,
    query: &[f32],
    view: View,
    k: usize,
    config: &SearchConfig,
    scan_up_to: usize,
) -> Result<Vec<ViewHit>> {
    let meta = &snapshot.meta;
    let allowed = config.filter.mask(meta).unwrap_or_default();
    let passes = |o: &crate::store::Occurrence| view.has(o.kind) && allowed[o.pair as usize];
    let mut rows: Vec<u32> = config
        .filter
        .pairs(meta)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|p| meta.pair_occurrences(p))
        .filter(|o| view.has(o.kind))
        .map(|o| o.row)
        .collect();
    rows.sort_unstable();
    rows.dedup();
    let hits = if rows.len() <= scan_up_to || config.exact || snapshot.remote_rows().is_some() {
        let scores = snapshot.row_scores(query, &rows)?;
        let mut hits: Vec<crate::index::ann::Hit> = rows
            .iter()
            .zip(scores)
            .map(|(&row, score)| crate::index::ann::Hit {
                row: row as usize,
                score,
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
        hits
    } else {
        let mut keep_row = vec![false; meta.row_count()];
        rows.iter().for_each(|&r| keep_row[r as usize] = true);
        // The walk goes on until it holds `ef` rows that pass: a filter that
        // keeps a share of the rows widens it by that share already.
        let n = (k * 2 + 16).min(rows.len());
        let ef = config.ef_for(snapshot.manifest.counts.rows).max(n);
        let keep = |row: usize| keep_row[row];
        graph_of(snapshot, view).search(
            snapshot.vectors(),
            snapshot.dimension(),
            query,
            n,
            ef,
            Some(&keep),
        )
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for hit in hits {
        for occ in meta.occurrences_of(hit.row) {
            if passes(occ) && seen.insert(occ.pair) {
                out.push(ViewHit {
                    pair: occ.pair,
                    score: hit.score,
                    row: Some(hit.row as u32),
                });
            }
        }
        if out.len() >= k {
            break;
        }
    }
    out.truncate(k);
    Ok(out)
}

/// The `n` nearest rows holding a kind of `mask` (any live row with `None`),
/// over the graph (or every vector with `config.exact`), best first;
/// searched by the database when the generation lives in one.
pub fn nearest_rows(
    snapshot: &Snapshot,
    query: &[f32],
    n: usize,
    config: &SearchConfig,
    mask: Option<u8>,
) -> Result<Vec<crate::index::ann::Hit>> {
    let ef = config.ef_for(snapshot.manifest.counts.rows).max(n);
    if let Some(remote) = snapshot.remote_rows() {
        let any =
            Kind::Sentence.bit() | Kind::Answer.bit() | Kind::Question.bit() | Kind::Passage.bit();
        return remote.nearest(query, n, mask.unwrap_or(any), ef, config.exact);
    }
    let meta = &snapshot.meta;
    let keep = |row: usize| meta.row_has(row, mask.unwrap_or(0));
    let keep: Option<&dyn Fn(usize) -> bool> = match mask {
        Some(_) => Some(&keep),
        // Every row, unless some are hidden (no pair holds them any longer).
        None if snapshot.manifest.counts.rows != snapshot.manifest.counts.vectors => {
            Some(&|row: usize| meta.is_live(row))
        }
        None => None,
    };
    let (vectors, dim) = (snapshot.vectors(), snapshot.dimension());
    if config.exact {
        return Ok(exact_search(vectors, dim, query, n, keep));
    }
    // Stored questions and passages' sentences live in graphs of their own
    // (in an index made before, in the main graph): each graph that holds
    // a kind asked for is walked, and the walks merged.
    let wants = mask.unwrap_or(!0);
    let wanted = |side: Side| wants & side.kind().bit() != 0;
    let in_main = wants & Side::MAIN_KINDS != 0
        || Side::ALL
            .into_iter()
            .any(|side| wanted(side) && snapshot.side_graph(side).is_none());
    let graphs: Vec<&MmapGraph> = in_main
        .then_some(&snapshot.graph)
        .into_iter()
        .chain(
            Side::ALL
                .into_iter()
                .filter(|&side| wanted(side))
                .filter_map(|side| snapshot.side_graph(side)),
        )
        .collect();
    if let [graph] = graphs[..] {
        return Ok(graph.search(vectors, dim, query, n, ef, keep));
    }
    let mut hits: Vec<crate::index::ann::Hit> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for graph in graphs {
        let more = graph.search(vectors, dim, query, n, ef, keep);
        hits.extend(more.into_iter().filter(|h| seen.insert(h.row)));
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    hits.truncate(n);
    Ok(hits)
}

/// The graph a view walks: the stored questions' own for the question
/// view, the passages' own for the passage view (when the index has them);
/// the main graph for every other.
fn graph_of(snapshot: &Snapshot, view: View) -> &MmapGraph {
    let side = match view {
        View::Questions => Some(Side::Questions),
        View::Passage => Some(Side::Passages),
        _ => None,
    };
    side.and_then(|side| snapshot.side_graph(side))
        .unwrap_or(&snapshot.graph)
}

/// Up to this many rows of a view are scanned rather than searched in the
/// graph.
pub const EXACT_SUBSET: usize = 8192;

/// Comparisons a walk may make for each row a scan of the view would read:
/// a comparison in a walk is a random read of a row, about four times the
/// cost of one in a scan, which streams.
const WALK_SHARE: usize = 4;

/// The `n` nearest of a view's own rows: a graph walk given `budget`
/// comparisons (a [`WALK_SHARE`]th of what scanning `own` makes), or, past
/// that (a crowd of near-identical rows, or few of the view's rows
/// among many) or when the walk finds fewer than `n`, the scan itself, which
/// is exact and keeps `scan_n` rows; true when it scanned.
fn walk_or_scan(
    snapshot: &Snapshot,
    own: &[u32],
    query: &[f32],
    (n, scan_n): (usize, usize),
    config: &SearchConfig,
    view: View,
    budget: usize,
) -> (Vec<crate::index::ann::Hit>, bool) {
    let meta = &snapshot.meta;
    let mask = view.kinds();
    let keep = |row: usize| meta.row_has(row, mask);
    let ef = config.ef_for(snapshot.manifest.counts.rows).max(n);
    let (vectors, dim) = (snapshot.vectors(), snapshot.dimension());
    match graph_of(snapshot, view).search_within(vectors, dim, query, n, ef, Some(&keep), budget) {
        Some(hits) if hits.len() >= n.min(own.len()) => (hits, false),
        _ => (subset_search(snapshot, own, query, scan_n.max(n)), true),
    }
}

/// The `n` nearest of some rows, by brute force, best first (ties by row).
fn subset_search(
    snapshot: &Snapshot,
    rows: &[u32],
    query: &[f32],
    n: usize,
) -> Vec<crate::index::ann::Hit> {
    let mut hits: Vec<crate::index::ann::Hit> = rows
        .iter()
        .map(|&r| crate::index::ann::Hit {
            row: r as usize,
            score: crate::model::vector::dot(snapshot.vector(r as usize), query),
        })
        .collect();
    let by_score = |a: &crate::index::ann::Hit, b: &crate::index::ann::Hit| {
        b.score.total_cmp(&a.score).then(a.row.cmp(&b.row))
    };
    if hits.len() > n {
        hits.select_nth_unstable_by(n, by_score);
        hits.truncate(n);
    }
    hits.sort_by(by_score);
    hits
}

/// The best `k` pairs by BM25 for the question's text (among those
/// `filter` passes).
pub fn lexical(snapshot: &Snapshot, question: &str, k: usize, filter: &Filter) -> Vec<ViewHit> {
    let allowed = filter.mask(&snapshot.meta);
    let keep = |pair: usize| allowed.as_ref().is_none_or(|a| a[pair]);
    snapshot
        .lexical
        .search_where(question, k, allowed.as_ref().map(|_| &keep as _))
        .into_iter()
        .map(|(pair, score)| ViewHit {
            pair: pair as u32,
            score,
            row: None,
        })
        .collect()
}

/// The best `k` pairs of the sparse arm for a question's weights.
pub fn sparse(
    snapshot: &Snapshot,
    weights: &crate::model::sparse::SparseVec,
    k: usize,
    filter: &Filter,
) -> Vec<ViewHit> {
    let Some(index) = &snapshot.sparse else {
        return Vec::new();
    };
    let allowed = filter.mask(&snapshot.meta);
    let keep = |pair: usize| allowed.as_ref().is_none_or(|a| a[pair]);
    index
        .search(weights, k, allowed.as_ref().map(|_| &keep as _))
        .into_iter()
        .map(|(pair, score)| ViewHit {
            pair: pair as u32,
            score,
            row: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::embed::HashEmbedder;
    use crate::search::{self, SearchConfig};

    #[test]
    fn a_tiny_index_always_answers_whatever_the_graph_entry() {
        // One pair: a sentence row and a question row. The graph's entry may be
        // the question, with no link to the sentence; the answers view must
        // still find the sentence.
        for round in 0..50 {
            let (_d, snap) = crate::indexer::testing::built(&[(
                "a.txt",
                "City bikes.\nHow much is a day pass?\nA day pass costs five euros.\n",
            )]);
            let mut e = HashEmbedder::new(32);
            let a = search::ask(
                &snap,
                &mut e,
                "price of a day pass",
                &SearchConfig::default(),
            )
            .unwrap();
            assert_eq!(a.len(), 1, "round {round}");
        }
    }

    #[test]
    fn a_walk_that_spends_its_budget_scans_and_one_that_does_not_is_the_walk() {
        let mut text = String::from("Harbour notes.\n");
        for i in 0..60 {
            text.push_str(&format!(
                "What does record {i} say about the ferry?\nThe ferry of record {i} sails at {} o'clock. It is late.\n",
                i % 12
            ));
        }
        let (_d, snap) = crate::indexer::testing::built(&[("a.txt", text.as_str())]);
        let mut e = HashEmbedder::new(32);
        let config = SearchConfig::default();
        let meta = &snap.meta;
        for (view, own) in [
            (View::Answers, meta.answer_rows()),
            (View::Questions, meta.question_rows()),
            (View::Passage, meta.passage_rows()),
        ] {
            assert!(!own.is_empty(), "{}", view.name());
            let q = search::embed_question(&mut e, "when does the ferry of record 7 sail").unwrap();
            let mask = view.kinds();
            let (scanned, yes) = walk_or_scan(&snap, own, &q, (10, 10), &config, view, 0);
            assert!(yes);
            assert_eq!(
                scanned,
                subset_search(&snap, own, &q, 10),
                "{}",
                view.name()
            );
            let exact = nearest_rows(&snap, &q, 10, &exact(&config), Some(mask)).unwrap();
            assert_eq!(scanned, exact, "a scan of the view's rows is exact search");
            let (walked, _) = walk_or_scan(&snap, own, &q, (10, 10), &config, view, usize::MAX);
            let walk = nearest_rows(&snap, &q, 10, &config, Some(mask)).unwrap();
            if walk.len() >= 10.min(own.len()) {
                assert_eq!(walked, walk, "{}", view.name());
            }
            assert!(walked.iter().all(|h| meta.row_has(h.row, mask)));
        }
    }
}
