//! The graphs of a new generation: the previous ones extended when the plan
//! says so and they keep their recall, otherwise built anew over the kept
//! and fresh vectors. Stored questions and passages' sentences have graphs
//! of their own ([`Side`]: `questions.graph.bin`, `passages.graph.bin`);
//! the main graph links every other row.

use super::recall::{self, least_recall, Change, MIN_EXTENDED_RECALL};
use super::*;
use crate::index::hnsw;
use crate::index::probes::{Probe, Probes};
use crate::store::Side;

/// The rows and graph of the new generation: the previous graph extended
/// when the plan says so and it keeps recall, otherwise a new one.
pub(super) fn graph_for(
    mut previous: Option<&mut Snapshot>,
    plan: &BuildPlan,
    new_vectors: Vec<f32>,
    dim: usize,
    config: &IndexConfig,
    graph_mode: GraphMode,
    progress: &mut dyn Progress,
) -> Result<Laid> {
    let extended = match (previous.as_deref_mut(), &plan.graph, graph_mode) {
        (Some(prev), GraphAction::Extend { hidden }, GraphMode::Build) => {
            extend_graph(prev, plan, &new_vectors, dim, *hidden, progress)
        }
        _ => None,
    };
    match extended {
        Some(laid) => Ok(laid),
        None => rebuild_graph(
            previous.as_deref(),
            plan,
            new_vectors,
            dim,
            &config.hnsw,
            graph_mode,
            progress,
        ),
    }
}

/// The vectors and graph of a new generation, and where each distinct text went.
pub(super) struct Laid {
    /// The row of each distinct text of the plan.
    pub(super) row_of_text: Vec<usize>,
    /// Row-major vectors.
    pub(super) vectors: Matrix,
    pub(super) graph: MmapGraph,
    /// Rows no pair holds any longer.
    pub(super) hidden: usize,
    /// The first rows, as the previous generation had them: all of its rows
    /// when extended, none otherwise.
    pub(super) kept_rows: usize,
    /// "extended" or "rebuilt".
    pub(super) how: &'static str,
    /// Recall@10 of the graph as built ([`recall::built_recall`]):
    /// measured when it is built, kept when it is extended (the level an
    /// extension must keep). None without a graph.
    pub(super) recall: Option<f64>,
    /// The main graph's probes (see [`recall`]).
    pub(super) probes: Vec<Probe>,
    /// Rows the main graph's extensions changed since its recall was last
    /// estimated (0 when built).
    pub(super) unestimated: u64,
    /// The side graphs, apart (none for a side without rows, or without a
    /// graph).
    pub(super) sides: Vec<SideGraph>,
}

impl Laid {
    /// The probes of each graph, for the check of the next update (None
    /// without a graph).
    pub(super) fn take_probes(&mut self) -> Option<Probes> {
        let mut of = |side: Side| {
            self.sides
                .iter_mut()
                .find(|g| g.side == side)
                .map_or(Vec::new(), |g| std::mem::take(&mut g.probes))
        };
        let (questions, passages) = (of(Side::Questions), of(Side::Passages));
        (self.how != "none").then(|| Probes {
            main: std::mem::take(&mut self.probes),
            questions,
            passages,
        })
    }

    /// A side's graph, taken out.
    pub(super) fn take_side(&mut self, side: Side) -> Option<SideGraph> {
        let at = self.sides.iter().position(|g| g.side == side)?;
        Some(self.sides.remove(at))
    }
}

/// The graph of a side, its recall as built and its probes.
#[derive(Debug)]
pub(super) struct SideGraph {
    pub(super) side: Side,
    pub(super) graph: MmapGraph,
    pub(super) recall: f64,
    pub(super) probes: Vec<Probe>,
    /// As [`Laid::unestimated`].
    pub(super) unestimated: u64,
}

/// Whether the previous generation has rows of a side's kind.
fn has_rows(prev: &Snapshot, side: Side) -> bool {
    match side {
        Side::Questions => !prev.meta.question_rows().is_empty(),
        Side::Passages => !prev.meta.passage_rows().is_empty(),
    }
}

/// The previous graph with the new texts inserted (rows keep their numbers,
/// new ones are appended), or None when its files cannot be loaded or the
/// result would lose recall against exact search. The new matrix is the
/// previous generation's, taken over and grown (no vector copied); it is
/// handed back when the extension is not kept.
pub(super) fn extend_graph(
    prev: &mut Snapshot,
    plan: &BuildPlan,
    new_vectors: &[f32],
    dim: usize,
    hidden: usize,
    progress: &mut dyn Progress,
) -> Option<Laid> {
    let prev_rows = prev.meta.row_count();
    if prev.graph.rows() != prev_rows {
        log::warn!("cannot extend the previous graph (it has {} rows, the index {prev_rows}): rebuilding it from the kept vectors", prev.graph.rows());
        return None;
    }
    if let Some(side) = Side::ALL
        .into_iter()
        .find(|&side| prev.side_graph(side).is_none() && has_rows(prev, side))
    {
        log::info!(
            "the index was made by an earlier qasearch, whose main graph holds the rows of the {0}: building the {0} and the graphs anew",
            side.what()
        );
        return None;
    }
    let kept = prev.vectors().len();
    let mut vectors = prev.take_vectors();
    let Some(row_of_text) = appended(plan, &mut vectors, new_vectors, dim) else {
        prev.restore_vectors(vectors, kept);
        return None;
    };
    match extend_over(prev, plan, &row_of_text, &vectors, dim, progress) {
        Some((graph, (probes, unestimated), sides)) => Some(Laid {
            row_of_text,
            vectors,
            graph,
            hidden,
            kept_rows: kept / dim.max(1),
            how: "extended",
            recall: prev.manifest.graph_recall,
            probes,
            unestimated,
            sides,
        }),
        None => {
            prev.restore_vectors(vectors, kept);
            None
        }
    }
}

/// Appends the plan's new texts' vectors to `vectors` (the previous rows);
/// gives the row of each distinct text, or None when `new_vectors` holds
/// fewer rows than the plan's new texts.
fn appended(
    plan: &BuildPlan,
    vectors: &mut Matrix,
    new_vectors: &[f32],
    dim: usize,
) -> Option<Vec<usize>> {
    vectors.reserve(new_vectors.len());
    let mut row_of_text = Vec::with_capacity(plan.first.len());
    let mut fresh = new_vectors.chunks_exact(dim.max(1));
    for prev_row in &plan.reuse {
        row_of_text.push(match prev_row {
            Some(r) => *r,
            None => {
                vectors.extend_from_slice(fresh.next()?);
                vectors.len() / dim - 1
            }
        });
    }
    Some(row_of_text)
}

/// The main graph extended, its probes with the rows changed since its
/// recall was estimated, and the side graphs.
type Extended = (MmapGraph, (Vec<Probe>, u64), Vec<SideGraph>);

/// Every graph of `prev` extended over `vectors` (its rows, then the new
/// ones), each checked: the main graph, its probes (with the rows changed
/// since its recall was estimated) and the side graphs, or None when one
/// is not kept.
fn extend_over(
    prev: &Snapshot,
    plan: &BuildPlan,
    row_of_text: &[usize],
    vectors: &[f32],
    dim: usize,
    progress: &mut dyn Progress,
) -> Option<Extended> {
    let prev_rows = prev.meta.row_count();
    let rows = vectors.len() / dim.max(1);
    let kinds = plan.kinds_of_rows(row_of_text, rows);
    let main = |r: usize| Side::in_main(kinds[r]);
    let params = &prev.manifest.hnsw;
    let mut laps = Laps::start();
    // Rows to insert: the new rows of each graph (a row both a question
    // and an answer is inserted in both), every row of a side that gets its
    // first graph.
    let fresh = |side: Side, r: usize| r >= prev_rows || prev.side_graph(side).is_none();
    let todo = (prev_rows..rows).filter(|&r| main(r)).count()
        + Side::ALL
            .into_iter()
            .map(|side| {
                (0..rows)
                    .filter(|&r| fresh(side, r) && side.holds(kinds[r]))
                    .count()
            })
            .sum::<usize>();
    progress.start(Stage::Graph, todo as u64);
    let mut advance = |n: usize| progress.advance(n as u64);
    // The rows each graph gets, and how many it loses: its extension looks
    // at those alone among the old rows, its check is told of them.
    let was_main = |r: usize| prev.meta.row_has(r, Side::MAIN_KINDS);
    let (added, dropped) = joined(rows, prev_rows, &main, &was_main);
    let graph = hnsw::extend_joined(
        &prev.graph,
        vectors,
        dim,
        params,
        &main,
        &added,
        &mut advance,
    );
    // Each side's graph extended (true), or built for its first rows.
    let mut sides: Vec<Made> = Vec::new();
    for side in Side::ALL {
        let member = |r: usize| side.holds(kinds[r]);
        let was = |r: usize| prev.meta.row_has(r, side.kind().bit());
        match prev.side_graph(side) {
            Some(g) => {
                let change = joined(rows, prev_rows, &member, &was);
                let graph =
                    hnsw::extend_joined(g, vectors, dim, params, &member, &change.0, &mut advance);
                sides.push((side, graph, true, change));
            }
            None if kinds.iter().any(|&k| side.holds(k)) => {
                let threads = hnsw::build_threads();
                let graph = hnsw::build_over(vectors, dim, params, threads, &member, &mut advance);
                let change = joined(rows, prev_rows, &member, &was);
                sides.push((side, graph, false, change));
            }
            None => {}
        }
    }
    progress.finish();
    laps.lap("graph: extend");
    let built = prev.manifest.graph_recall;
    let change = Change {
        first_new: prev_rows,
        added: &added,
        probes: prev.probes.as_ref().map(|p| &p.main[..]),
        dropped,
        unestimated: prev.manifest.unestimated.graph,
    };
    let probes = kept("graph", &graph, vectors, dim, &main, change, built)?;
    let side_graphs = checked_sides(prev, sides, &kinds, vectors, dim)?;
    laps.lap("graph: check recall");
    Some((graph, probes, side_graphs))
}

/// A side's graph made by an extension: extended (true) or built for its
/// first rows, with the rows it got and how many it lost ([`joined`]).
type Made = (Side, MmapGraph, bool, (Vec<usize>, usize));

/// The side graphs of an extension, each checked: None when one is not
/// kept.
fn checked_sides(
    prev: &Snapshot,
    sides: Vec<Made>,
    kinds: &[u8],
    vectors: &[f32],
    dim: usize,
) -> Option<Vec<SideGraph>> {
    let prev_rows = prev.meta.row_count();
    let mut checked = Vec::new();
    for (side, graph, extended, (added, dropped)) in sides {
        let member = |r: usize| side.holds(kinds[r]);
        let change = Change {
            first_new: prev_rows,
            added: &added,
            probes: prev.probes.as_ref().map(|p| side.probes(p)),
            dropped,
            unestimated: side.unestimated(&prev.manifest),
        };
        let built = extended.then_some(side.recall(&prev.manifest));
        checked.push(side_graph(
            side, graph, built, vectors, dim, &member, change,
        )?);
    }
    Some(checked)
}

/// Rows of `rows` that are members now and were not among the first
/// `prev_rows` before, and how many of those were members and are no
/// longer.
fn joined(
    rows: usize,
    prev_rows: usize,
    member: &dyn Fn(usize) -> bool,
    was: &dyn Fn(usize) -> bool,
) -> (Vec<usize>, usize) {
    let added = (0..rows)
        .filter(|&r| member(r) && (r >= prev_rows || !was(r)))
        .collect();
    let dropped = (0..prev_rows.min(rows))
        .filter(|&r| !member(r) && was(r))
        .count();
    (added, dropped)
}

/// A side's graph once extended (`extended`: the recall it had as built)
/// or built, with the recall it is to keep; None when the extension is not
/// kept.
fn side_graph(
    side: Side,
    graph: MmapGraph,
    extended: Option<Option<f64>>,
    vectors: &[f32],
    dim: usize,
    member: &(dyn Fn(usize) -> bool + Sync),
    change: Change<'_>,
) -> Option<SideGraph> {
    let (recall, (probes, unestimated)) = match extended {
        Some(built) => {
            let kept = kept(side.what(), &graph, vectors, dim, member, change, built)?;
            (built.unwrap_or(MIN_EXTENDED_RECALL), kept)
        }
        None => {
            let (recall, probes) = recall::built_recall(&graph, vectors, dim, member);
            (recall, (probes, 0))
        }
    };
    Some(SideGraph {
        side,
        graph,
        recall,
        probes,
        unestimated,
    })
}

/// The probes of an extended graph (`what`, for the log) when it is kept,
/// with the rows changed since its recall was estimated: judged over the
/// rows `member` admits against its recall as built (see
/// [`recall::judge_extension`]); None when it is to be rebuilt.
fn kept(
    what: &str,
    graph: &MmapGraph,
    vectors: &[f32],
    dim: usize,
    member: &(dyn Fn(usize) -> bool + Sync),
    change: Change<'_>,
    built: Option<f64>,
) -> Option<(Vec<Probe>, u64)> {
    let least = least_recall(built);
    match recall::judge_extension(graph, vectors, dim, member, change, least) {
        (recall::Verdict::Keep { recall, queries }, probes) => {
            log::debug!(
                "the extended {what} finds {:.2}% of the exact top 10 over {queries} queries (at least {:.2}% kept)",
                recall * 100.0,
                least * 100.0
            );
            Some((probes, 0))
        }
        (recall::Verdict::Reached { unestimated }, probes) => {
            log::debug!(
                "the extended {what} reaches its new rows ({unestimated} rows changed since its recall was estimated)"
            );
            Some((probes, unestimated))
        }
        (recall::Verdict::Rebuild(why), _) => {
            log::info!("{what}: {why}: rebuilding the graphs");
            None
        }
    }
}

/// A new graph over the live texts only, numbered afresh in corpus order.
pub(super) fn rebuild_graph(
    previous: Option<&Snapshot>,
    plan: &BuildPlan,
    new_vectors: Vec<f32>,
    dim: usize,
    hnsw: &HnswParams,
    graph_mode: GraphMode,
    progress: &mut dyn Progress,
) -> Result<Laid> {
    let vectors = if plan.reused() == 0 {
        // Every text is new: the fresh vectors are the matrix, in order.
        new_vectors
    } else {
        let mut vectors = Vec::with_capacity(plan.first.len() * dim);
        let mut fresh = new_vectors.chunks_exact(dim.max(1));
        for prev_row in &plan.reuse {
            match (prev_row, previous) {
                (Some(r), Some(p)) => vectors.extend_from_slice(p.vector(*r)),
                _ => vectors.extend_from_slice(
                    fresh
                        .next()
                        .ok_or_else(|| Error::Embed("fewer vectors than texts to embed".into()))?,
                ),
            }
        }
        vectors
    };
    if vectors.len() != plan.first.len() * dim {
        return Err(Error::Embed("fewer vectors than texts to embed".into()));
    }
    if graph_mode == GraphMode::None {
        return Ok(Laid {
            row_of_text: (0..plan.first.len()).collect(),
            vectors: vectors.into(),
            graph: MmapGraph::empty(),
            hidden: 0,
            kept_rows: 0,
            how: "none",
            recall: None,
            probes: Vec::new(),
            unestimated: 0,
            sides: Vec::new(),
        });
    }
    let row_of_text: Vec<usize> = (0..plan.first.len()).collect();
    let kinds = plan.kinds_of_rows(&row_of_text, plan.first.len());
    let main = |r: usize| Side::in_main(kinds[r]);
    let members = kinds.iter().filter(|&&k| Side::in_main(k)).count();
    let side_rows = |side: Side| kinds.iter().filter(|&&k| side.holds(k)).count();
    let todo = members + Side::ALL.into_iter().map(side_rows).sum::<usize>();
    progress.start(Stage::Graph, todo as u64);
    let threads = hnsw::build_threads();
    let mut advance = |n: usize| progress.advance(n as u64);
    let graph = hnsw::build_over(&vectors, dim, hnsw, threads, &main, &mut advance);
    let (recall, probes) = recall::built_recall(&graph, &vectors, dim, &main);
    log::debug!("the graph finds {:.2}% of the exact top 10", recall * 100.0);
    let mut sides = Vec::new();
    for side in Side::ALL.into_iter().filter(|&side| side_rows(side) > 0) {
        let member = |r: usize| side.holds(kinds[r]);
        let graph = hnsw::build_over(&vectors, dim, hnsw, threads, &member, &mut advance);
        let (recall, probes) = recall::built_recall(&graph, &vectors, dim, &member);
        log::debug!(
            "the {} finds {:.2}% of the exact top 10",
            side.what(),
            recall * 100.0
        );
        sides.push(SideGraph {
            side,
            graph,
            recall,
            probes,
            unestimated: 0,
        });
    }
    progress.finish();
    Ok(Laid {
        row_of_text,
        vectors: vectors.into(),
        graph,
        hidden: 0,
        kept_rows: 0,
        how: "rebuilt",
        recall: Some(recall),
        probes,
        unestimated: 0,
        sides,
    })
}
