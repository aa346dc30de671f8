//! How well a graph finds the exact nearest rows: measured once when a graph
//! is built (kept in the manifest), and asked of every extended graph before
//! it replaces a rebuild.
//!
//! An extension is judged in two steps. First, every new row it inserted (up
//! to [`REACH_CHECKS`]) must be found by its own vector: an unreachable row is
//! an answer no question can find, and no recall estimate over a few queries
//! would notice one. Then recall@10 against exact search is estimated from
//! the graph's probes ([`Probe`]): rows whose exact nearest members the index
//! keeps (`probes.bin`) and each update brings up to date by comparing them
//! with the rows it added only, so the check costs what the update adds
//! rather than a scan of every row per query. Updates of many rows add probes
//! from their new rows (one per [`NEW_ROWS_PER_QUERY`], up to
//! [`NEW_QUERIES`]), found by one exact scan of the graph's rows: asked only
//! of updates whose insertions cost about as much as that scan. The
//! estimate is compared with the recall the graph had when built, less
//! [`RECALL_SLACK`]: the graph is rebuilt when it is [`Z`] standard errors
//! below; an estimate within reach of the threshold keeps it, as a graph
//! built afresh would find about as much.
//!
//! The estimate searches the graph from every probe (about 160 searches
//! at [`CHECK_EF`], a third of a second for the three graphs of a million
//! pairs), whatever the size of the change, while an extension of a few
//! rows cannot move recall by a fraction of the estimate's own standard
//! error. So the rows an extension adds or drops are counted, across
//! extensions, in the manifest ([`crate::store::Unestimated`]), and the
//! estimate is made once they reach [`ESTIMATE_SHARE`]'s share of the
//! graph's members (at once for a graph of fewer members, or without
//! probes); the probes are brought up to date by every extension, and
//! every extension's new rows must be reached. A series of small updates
//! thus pays for an estimate once per share of the graph it changes.

use crate::index::ann::{exact_search_rows, hits_as_good};
use crate::index::mmap_graph::MmapGraph;
use crate::index::probes::{Probe, NEAR};
use crate::model::vector::dot;

/// Breadth of the graph searches of a check.
pub(super) const CHECK_EF: usize = 128;

/// The least recall@10 an extended graph must keep when its graph's recall
/// as built is unknown or higher; see [`least_recall`].
pub const MIN_EXTENDED_RECALL: f64 = 0.99;

/// How much below its recall as built an extended graph may find.
pub const RECALL_SLACK: f64 = 0.01;

/// Rows asked when a graph is built (its recall goes to the manifest; they
/// are its probes).
pub(super) const BUILT_QUERIES: usize = 128;

/// Probes an extension's check must have: below, a fresh set is scanned.
pub(super) const MIN_PROBES: usize = BUILT_QUERIES / 2;

/// Probes a graph keeps, at most (the oldest go first).
pub(super) const MAX_PROBES: usize = BUILT_QUERIES + NEW_QUERIES;

/// New rows an extension asks as probes, at most.
pub(super) const NEW_QUERIES: usize = 32;

/// New rows for each one asked as a probe.
pub(super) const NEW_ROWS_PER_QUERY: usize = 64;

/// New rows searched for by their own vector, at most.
pub(super) const REACH_CHECKS: usize = 256;

/// Old rows searched for by their own vector, at least (the baseline).
pub(super) const MIN_REACH_OLD: usize = 32;

/// An extension estimates its graph's recall once the rows added or
/// dropped since the last estimate reach `1 / ESTIMATE_SHARE` of the
/// graph's members (see the module's documentation).
pub(super) const ESTIMATE_SHARE: u64 = 256;

/// Standard errors between an estimate and the threshold before the check
/// rebuilds (or keeps a graph it could not otherwise judge).
pub(super) const Z: f64 = 2.0;

/// The recall an extension must keep, for a graph that found `built` when
/// it was built (None: an index of an earlier qasearch, held to
/// [`MIN_EXTENDED_RECALL`]). At a million rows a graph built at the default
/// breadth finds 0.98, which no rebuild betters.
pub fn least_recall(built: Option<f64>) -> f64 {
    built.map_or(MIN_EXTENDED_RECALL, |b| {
        MIN_EXTENDED_RECALL.min(b - RECALL_SLACK)
    })
}

/// What the check of an extended graph decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Keep it: it finds about `recall` of the exact top 10, over
    /// `queries` queries.
    Keep {
        /// Recall@10 estimated.
        recall: f64,
        /// Queries asked.
        queries: usize,
    },
    /// Keep it: its new rows are reached, and the rows changed since its
    /// recall was last estimated, `unestimated` with this change's, are
    /// too few to move it (see [`ESTIMATE_SHARE`]).
    Reached {
        /// Rows added or dropped since the last estimate.
        unestimated: u64,
    },
    /// Rebuild the graph, for this reason.
    Rebuild(String),
}

/// Recall@10 of a graph as built over the rows `member` admits, and its
/// probes: [`BUILT_QUERIES`] members spread over all, against exact search
/// over them.
pub fn built_recall(
    graph: &MmapGraph,
    vectors: &[f32],
    dim: usize,
    member: &(dyn Fn(usize) -> bool + Sync),
) -> (f64, Vec<Probe>) {
    let rows: Vec<usize> = (0..vectors.len() / dim.max(1))
        .filter(|&r| member(r))
        .collect();
    let probes = scanned(vectors, dim, member, &spread(&rows, 0, BUILT_QUERIES));
    (mean(&recalls(graph, vectors, dim, member, &probes)), probes)
}

/// What an update did to a graph's rows.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// Rows from here on are new (appended by the update).
    pub first_new: usize,
    /// Rows that are members now and were not before (the new ones and old
    /// rows that joined), in order.
    pub added: &'a [usize],
    /// The probes the previous generation kept for this graph (None: it
    /// kept none, an index of an earlier qasearch).
    pub probes: Option<&'a [Probe]>,
    /// Rows that were members and are no longer.
    pub dropped: usize,
    /// Rows the extensions since the graph's recall was last estimated
    /// added or dropped ([`crate::store::Unestimated`]).
    pub unestimated: u64,
}

/// Judges a graph extended by `change` (rows for which `live` is false are
/// kept in it but hidden) against `least`: its new rows must be reached,
/// and its recall, when estimated (see [`ESTIMATE_SHARE`]), must be within
/// reach of `least`; gives the graph's probes, up to date, with the
/// verdict.
pub fn judge_extension(
    graph: &MmapGraph,
    vectors: &[f32],
    dim: usize,
    live: &(dyn Fn(usize) -> bool + Sync),
    change: Change<'_>,
    least: f64,
) -> (Verdict, Vec<Probe>) {
    let (first_new, rows) = (change.first_new, vectors.len() / dim.max(1));
    let new: Vec<usize> = (first_new..rows).filter(|&r| live(r)).collect();
    let old = || -> Vec<usize> { (0..first_new.min(rows)).filter(|&r| live(r)).collect() };
    let reach = spread(&new, 0, REACH_CHECKS);
    let lost_new = unreached(graph, vectors, dim, live, &reach);
    // The baseline, asked only when a new row is lost (otherwise the
    // verdict is the same whatever it finds).
    let old_reach = match lost_new {
        0 => Vec::new(),
        _ => spread(&old(), 0, reach.len().max(MIN_REACH_OLD)),
    };
    let lost_old = unreached(graph, vectors, dim, live, &old_reach);
    if reach_worse(lost_new, reach.len(), lost_old, old_reach.len()) {
        let why = format!(
            "{lost_new} of {} new rows checked are not found by their own vectors ({lost_old} of {} older rows)",
            reach.len(),
            old_reach.len()
        );
        return (Verdict::Rebuild(why), Vec::new());
    }
    let probes = probes_after(vectors, dim, live, change, &old, &new);
    let unestimated = change
        .unestimated
        .saturating_add((change.added.len() + change.dropped) as u64);
    let members = (0..rows).filter(|&r| live(r)).count() as u64;
    if change.probes.is_some() && unestimated.saturating_mul(ESTIMATE_SHARE) < members {
        return (Verdict::Reached { unestimated }, probes);
    }
    let sample = recalls(graph, vectors, dim, live, &probes);
    let (m, se) = (mean(&sample), standard_error(&sample));
    if m + Z * se < least {
        let why = format!(
            "the extended graph finds {:.1}% of the exact top 10 (± {:.1}, over {} queries), below {:.1}%",
            m * 100.0,
            se * 100.0,
            sample.len(),
            least * 100.0
        );
        return (Verdict::Rebuild(why), probes);
    }
    let keep = Verdict::Keep {
        recall: m,
        queries: sample.len(),
    };
    (keep, probes)
}

/// The probes of a graph after `change`: the previous ones brought up to
/// date, those whose exact answer is no longer known scanned again with a
/// probe per [`NEW_ROWS_PER_QUERY`] new rows, all in one scan; a fresh set
/// spread over the `old` rows when too few are left.
fn probes_after(
    vectors: &[f32],
    dim: usize,
    live: &(dyn Fn(usize) -> bool + Sync),
    change: Change<'_>,
    old: &dyn Fn() -> Vec<usize>,
    new: &[usize],
) -> Vec<Probe> {
    let mut rescan = Vec::new();
    let mut probes: Vec<Probe> = change
        .probes
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.updated(vectors, dim, live, change.added))
        .filter(|p| {
            let known = p.exact_top(10).is_some();
            if !known {
                rescan.push(p.row as usize);
            }
            known
        })
        .collect();
    if probes.len() + rescan.len() < MIN_PROBES {
        probes.clear();
        rescan = spread(&old(), 0, BUILT_QUERIES);
    }
    rescan.extend(spread(
        new,
        0,
        (new.len() / NEW_ROWS_PER_QUERY).min(NEW_QUERIES),
    ));
    probes.extend(scanned(vectors, dim, live, &rescan));
    let over = probes.len().saturating_sub(MAX_PROBES);
    probes.drain(..over);
    probes
}

/// Probes of `rows`, by an exact scan over the rows `member` admits.
fn scanned(
    vectors: &[f32],
    dim: usize,
    member: &(dyn Fn(usize) -> bool + Sync),
    rows: &[usize],
) -> Vec<Probe> {
    exact_search_rows(vectors, dim, rows, NEAR, member)
        .iter()
        .zip(rows)
        .map(|(hits, &r)| Probe::from_exact(r, hits))
        .collect()
}

/// How many of `rows` a search for their own vector does not find (a row
/// as near as itself counts: an identical vector is as good an answer).
fn unreached(
    graph: &MmapGraph,
    vectors: &[f32],
    dim: usize,
    live: &(dyn Fn(usize) -> bool + Sync),
    rows: &[usize],
) -> usize {
    let lost = par_map(rows, |r| {
        let own = &vectors[r * dim..(r + 1) * dim];
        let floor = dot(own, own) - 1e-5;
        let found = graph.search(vectors, dim, own, 10, CHECK_EF, Some(live));
        !found.iter().any(|h| h.score >= floor)
    });
    lost.into_iter().filter(|&l| l).count()
}

/// Whether new rows are found by their own vectors less often than old
/// ones, by more than [`Z`] standard errors of the difference (a graph
/// that cannot reach some of its old rows is not rebuilt for the same share
/// of new ones: a rebuild would do no better; one unreachable new row in a
/// graph that reaches every old one is).
pub(super) fn reach_worse(lost_new: usize, new: usize, lost_old: usize, old: usize) -> bool {
    if new == 0 || lost_new == 0 {
        return false;
    }
    let (pn, po) = (
        lost_new as f64 / new as f64,
        lost_old as f64 / old.max(1) as f64,
    );
    let pooled = (lost_new + lost_old) as f64 / (new + old) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / new as f64 + 1.0 / old.max(1) as f64)).sqrt();
    pn - po > Z * se
}

/// Recall@10 of a graph's search from each probe against the probe's exact
/// answer (probes with no member near them left out).
fn recalls(
    graph: &MmapGraph,
    vectors: &[f32],
    dim: usize,
    live: &(dyn Fn(usize) -> bool + Sync),
    probes: &[Probe],
) -> Vec<f64> {
    let each: Vec<usize> = (0..probes.len()).collect();
    let approx = par_map(&each, |i| {
        let q = probes[i].row as usize;
        graph.search(
            vectors,
            dim,
            &vectors[q * dim..(q + 1) * dim],
            10,
            CHECK_EF,
            Some(live),
        )
    });
    probes
        .iter()
        .zip(&approx)
        .filter_map(|(p, a)| {
            let exact = p.exact_top(10)?;
            (!exact.is_empty()).then(|| hits_as_good(&exact, a) as f64 / exact.len() as f64)
        })
        .collect()
}

/// Up to `n` of `rows`, from the `skip`th on, of a fixed order that spreads
/// every prefix across `rows` (multiplication by a stride coprime to their
/// number near its golden section, so no row comes twice).
pub(super) fn spread(rows: &[usize], skip: usize, n: usize) -> Vec<usize> {
    let len = rows.len();
    if len == 0 {
        return Vec::new();
    }
    let mut stride = (len as f64 * 0.618_033_988_75) as usize;
    while gcd(stride.max(1), len) != 1 {
        stride += 1;
    }
    let stride = stride.max(1);
    (skip..len.min(skip.saturating_add(n)))
        .map(|i| rows[(i * stride) % len])
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        1.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Standard error of the mean (0 below two values).
fn standard_error(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n < 2 {
        return 0.0;
    }
    let m = mean(xs);
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    (var / n as f64).sqrt()
}

/// `f` of each item on every core, in order.
fn par_map<T: Send>(items: &[usize], f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| s.spawn(|| chunk.iter().map(|&i| f(i)).collect::<Vec<T>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("invariant: a recall check does not panic"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::ann::{tests::random_unit, HnswParams};

    #[test]
    fn a_spread_never_repeats_and_covers_every_row() {
        for len in [1, 2, 7, 10, 64, 1000, 1001] {
            let rows: Vec<usize> = (100..100 + len).collect();
            let all = spread(&rows, 0, len + 5);
            let mut sorted = all.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, rows, "len {len}");
            // Rounds continue the same order.
            let (a, b) = (spread(&rows, 0, 3), spread(&rows, 3, 4));
            assert_eq!([a, b].concat(), all[..(7).min(len)].to_vec());
        }
        // A prefix is spread: 10 of 1000 rows fall in ten different tenths.
        let rows: Vec<usize> = (0..1000).collect();
        let mut tenths: Vec<usize> = spread(&rows, 0, 10).iter().map(|r| r / 100).collect();
        tenths.sort_unstable();
        tenths.dedup();
        assert!(tenths.len() >= 8, "{tenths:?}");
    }

    #[test]
    fn new_rows_are_held_to_how_well_old_ones_are_reached() {
        // One unreachable new row in a graph that reaches all old ones.
        assert!(reach_worse(1, 1, 0, 32));
        assert!(reach_worse(200, 200, 0, 200));
        // As often as old rows, or a miss or two by chance.
        assert!(!reach_worse(0, 5, 0, 32));
        assert!(!reach_worse(2, 42, 0, 42));
        assert!(!reach_worse(10, 100, 9, 100));
        assert!(reach_worse(30, 100, 5, 100));
    }

    #[test]
    fn standard_error_of_known_samples() {
        assert_eq!(standard_error(&[1.0]), 0.0);
        assert_eq!(standard_error(&[0.9; 5]), 0.0);
        // sd of [0, 1] with n-1 is 0.7071; over sqrt(2): 0.5.
        assert!((standard_error(&[0.0, 1.0]) - 0.5).abs() < 1e-12);
    }

    fn graph_of(data: &[f32], dim: usize, params: HnswParams) -> MmapGraph {
        crate::index::hnsw::build(data, dim, &params, &mut |_| {})
    }

    #[test]
    fn a_good_extension_is_kept_and_unreached_rows_are_not() {
        let dim = 16;
        let data = random_unit(1200, dim, 5);
        let old = &data[..1000 * dim];
        let graph = graph_of(old, dim, HnswParams::default());
        let (built, probes) = built_recall(&graph, old, dim, &|_| true);
        assert!(built > 0.95, "{built}");
        assert_eq!(probes.len(), BUILT_QUERIES);
        let params = HnswParams::default();
        let extended = crate::index::hnsw::extend(&graph, &data, dim, &params, &mut |_| {});
        let least = least_recall(Some(built));
        let added: Vec<usize> = (1000..1200).collect();
        let change = Change {
            first_new: 1000,
            added: &added,
            probes: Some(&probes),
            dropped: 0,
            unestimated: 0,
        };
        match judge_extension(&extended, &data, dim, &|_| true, change, least) {
            (Verdict::Keep { recall, queries }, after) => {
                assert!(recall >= least - 0.02, "{recall}");
                // The old probes, and one per 64 new rows (3).
                assert_eq!((queries, after.len()), (BUILT_QUERIES + 3, 131));
                // Each brought up to date is what a scan now gives.
                let rows: Vec<usize> = after.iter().map(|p| p.row as usize).collect();
                assert_eq!(after, scanned(&data, dim, &|_| true, &rows));
            }
            v => panic!("a proper extension was judged {v:?}"),
        }
        // The old graph over the new matrix: the 200 new rows are in no
        // graph, so no search finds them, whatever the recall of the rest.
        match judge_extension(&graph, &data, dim, &|_| true, change, least).0 {
            Verdict::Rebuild(why) => assert!(
                why.starts_with("200 of 200 new rows checked are not found by their own vectors (0 of 200 older"),
                "{why}"
            ),
            v => panic!("unreachable rows were judged {v:?}"),
        }
    }

    #[test]
    fn a_graph_below_the_line_is_rebuilt_as_its_probes_say() {
        let dim = 24;
        let data = random_unit(3000, dim, 9);
        // A sparse graph built in haste finds well short of everything.
        let poor = HnswParams {
            m: 3,
            ef_construction: 8,
            max_layer: 16,
        };
        let graph = graph_of(&data, dim, poor);
        let all = |_: usize| true;
        // No new rows (first_new = every row): the reach check has nothing
        // to compare, so the recall estimate alone decides. (Whether a poor
        // graph built on several threads reaches its own rows varies from
        // run to run; its recall on fixed rows is what these thresholds are
        // set from.)
        let (m, probes) = built_recall(&graph, &data, dim, &all);
        let sample = recalls(&graph, &data, dim, &all, &probes);
        let se = standard_error(&sample);
        assert!(se > 0.0 && m < 0.99, "recall {m} ± {se}: not a poor graph");
        // Rows changed since the last estimate: 12 of 3,000 reach the
        // share (12 * 256 >= 3,000).
        let change = Change {
            first_new: 3000,
            added: &[],
            probes: Some(&probes),
            dropped: 0,
            unestimated: 12,
        };
        match judge_extension(&graph, &data, dim, &all, change, m + 3.0 * se + 0.01).0 {
            Verdict::Rebuild(why) => assert!(why.contains("128 queries"), "{why}"),
            v => panic!("{v:?}"),
        }
        // Below the share the recall is not estimated: the graph is kept,
        // whatever it would find, the rows changed counted on; a row
        // dropped counts as one added.
        for (unestimated, dropped) in [(11, 0), (10, 1), (0, 0)] {
            let small = Change {
                unestimated,
                dropped,
                ..change
            };
            match judge_extension(&graph, &data, dim, &all, small, m + 3.0 * se + 0.01) {
                (Verdict::Reached { unestimated: u }, after) => {
                    assert_eq!(u, 11 * u64::from(unestimated > 0));
                    assert_eq!(after, probes, "the probes as they were");
                }
                v => panic!("{v:?}"),
            }
        }
        let at_share = Change {
            unestimated: 11,
            dropped: 1,
            ..change
        };
        assert!(matches!(
            judge_extension(&graph, &data, dim, &all, at_share, m + 3.0 * se + 0.01).0,
            Verdict::Rebuild(_)
        ));
        match judge_extension(&graph, &data, dim, &all, change, m - 3.0 * se - 0.01) {
            (Verdict::Keep { recall, queries }, after) => {
                assert_eq!((recall, queries), (m, BUILT_QUERIES));
                assert_eq!(after, probes, "nothing added: the probes as they were");
            }
            v => panic!("{v:?}"),
        }
        // The verdict rests on the probes kept, not on a scan: probes that
        // say their nearest rows are nearer than any row can be make every
        // search look short of them.
        let wrong: Vec<Probe> = probes
            .iter()
            .map(|p| Probe {
                near: p.near.iter().map(|&(r, _)| (r, 2.0)).collect(),
                ..p.clone()
            })
            .collect();
        let change = Change {
            probes: Some(&wrong),
            ..change
        };
        match judge_extension(&graph, &data, dim, &all, change, 0.5).0 {
            Verdict::Rebuild(why) => assert!(why.contains("finds 0.0%"), "{why}"),
            v => panic!("{v:?}"),
        }
        // Too few probes left (an index made before probes): a fresh set.
        let change = Change {
            probes: None,
            ..change
        };
        match judge_extension(&graph, &data, dim, &all, change, m - 3.0 * se - 0.01) {
            (Verdict::Keep { recall, .. }, after) => assert_eq!((recall, after), (m, probes)),
            v => panic!("{v:?}"),
        }
    }
}
