//! The graphs of a new generation: the previous ones extended when the plan
//! says so and they keep their recall, otherwise built anew over the kept
//! and fresh vectors. Stored questions have a graph of their own
//! (`questions.graph.bin`); the main graph links every other row.

use super::recall::{self, least_recall, Change, MIN_EXTENDED_RECALL};
use super::*;
use crate::index::hnsw;
use crate::index::probes::{Probe, Probes};

/// The rows and graph of the new generation: the previous graph extended
/// when the plan says so and it keeps recall, otherwise a new one.
pub(super) fn graph_for(
    previous: Option<&Snapshot>,
    plan: &BuildPlan,
    new_vectors: Vec<f32>,
    dim: usize,
    config: &IndexConfig,
    graph_mode: GraphMode,
    progress: &mut dyn Progress,
) -> Result<Laid> {
    let extended = match (previous, &plan.graph, graph_mode) {
        (Some(prev), GraphAction::Extend { hidden }, GraphMode::Build) => {
            extend_graph(prev, plan, &new_vectors, dim, *hidden, progress)
        }
        _ => None,
    };
    match extended {
        Some(laid) => Ok(laid),
        None => rebuild_graph(
            previous,
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
    pub(super) vectors: Vec<f32>,
    pub(super) graph: MmapGraph,
    /// Rows no pair holds any longer.
    pub(super) hidden: usize,
    /// "extended" or "rebuilt".
    pub(super) how: &'static str,
    /// Recall@10 of the graph as built ([`recall::built_recall`]):
    /// measured when it is built, kept when it is extended (the level an
    /// extension must keep). None without a graph.
    pub(super) recall: Option<f64>,
    /// The main graph's probes (see [`recall`]).
    pub(super) probes: Vec<Probe>,
    /// The graph of the stored questions, apart (None: no stored question,
    /// or no graph).
    pub(super) questions: Option<QuestionGraph>,
}

impl Laid {
    /// The probes of each graph, for the check of the next update (None
    /// without a graph).
    pub(super) fn take_probes(&mut self) -> Option<Probes> {
        let questions = self.questions.as_mut();
        (self.how != "none").then(|| Probes {
            main: std::mem::take(&mut self.probes),
            questions: questions.map_or(Vec::new(), |q| std::mem::take(&mut q.probes)),
        })
    }
}

/// The graph of the stored questions, its recall as built and its probes.
#[derive(Debug)]
pub(super) struct QuestionGraph {
    pub(super) graph: MmapGraph,
    pub(super) recall: f64,
    pub(super) probes: Vec<Probe>,
}

/// Whether a row of these kinds is in the graph of the stored questions.
fn in_questions(kinds: u8) -> bool {
    kinds & Kind::Question.bit() != 0
}

/// Whether a row of these kinds is in the main graph: it holds something
/// other than a stored question.
fn in_main(kinds: u8) -> bool {
    kinds & !Kind::Question.bit() != 0
}

/// The previous graph with the new texts inserted (rows keep their numbers,
/// new ones are appended), or None when its files cannot be loaded or the
/// result would lose recall against exact search.
pub(super) fn extend_graph(
    prev: &Snapshot,
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
    let mut row_of_text = Vec::with_capacity(plan.first.len());
    let mut vectors = Vec::with_capacity(prev.vectors().len() + new_vectors.len());
    vectors.extend_from_slice(prev.vectors());
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
    let rows = vectors.len() / dim.max(1);
    if prev.question_graph.is_none() && prev.manifest.counts.questions > 0 {
        log::info!("the index was made by an earlier qasearch, whose graph holds the stored questions with the answers: building them a graph of their own");
        return None;
    }
    let kinds = plan.kinds_of_rows(&row_of_text, rows);
    let main = |r: usize| in_main(kinds[r]);
    let question = |r: usize| in_questions(kinds[r]);
    let params = &prev.manifest.hnsw;
    let mut laps = Laps::start();
    // Rows to insert: the new rows of each graph (a row both a question
    // and an answer is inserted in both), every question when the stored
    // questions get their first graph.
    let fresh = |r: &usize| *r >= prev_rows || prev.question_graph.is_none();
    let todo = (prev_rows..rows).filter(|&r| main(r)).count()
        + (0..rows).filter(|r| fresh(r) && question(*r)).count();
    progress.start(Stage::Graph, todo as u64);
    let mut advance = |n: usize| progress.advance(n as u64);
    let graph = hnsw::extend_over(&prev.graph, &vectors, dim, params, &main, &mut advance);
    let questions = match &prev.question_graph {
        Some(q) => Some((
            hnsw::extend_over(q, &vectors, dim, params, &question, &mut advance),
            true,
        )),
        // The first stored questions of a corpus that had none.
        None if kinds.iter().any(|&k| in_questions(k)) => {
            let threads = hnsw::build_threads();
            let graph = hnsw::build_over(&vectors, dim, params, threads, &question, &mut advance);
            Some((graph, false))
        }
        None => None,
    };
    progress.finish();
    laps.lap("graph: extend");
    let built = prev.manifest.graph_recall;
    let was_main = |r: usize| prev.meta.row_has(r, !Kind::Question.bit());
    let added = joined(rows, prev_rows, &main, &was_main);
    let change = Change {
        first_new: prev_rows,
        added: &added,
        probes: prev.probes.as_ref().map(|p| &p.main[..]),
    };
    let probes = kept("graph", &graph, &vectors, dim, &main, change, built)?;
    let questions = match questions {
        Some((graph, extended)) => {
            let was_question = |r: usize| prev.meta.row_has(r, Kind::Question.bit());
            let added = joined(rows, prev_rows, &question, &was_question);
            let change = Change {
                first_new: prev_rows,
                added: &added,
                probes: prev.probes.as_ref().map(|p| &p.questions[..]),
            };
            let built = extended.then_some(prev.manifest.question_graph_recall);
            Some(question_graph(
                graph, built, &vectors, dim, &question, change,
            )?)
        }
        None => None,
    };
    laps.lap("graph: check recall");
    Some(Laid {
        row_of_text,
        vectors,
        graph,
        hidden,
        how: "extended",
        recall: built,
        probes,
        questions,
    })
}

/// Rows of `rows` that are members now and were not among the first
/// `prev_rows` before.
fn joined(
    rows: usize,
    prev_rows: usize,
    member: &dyn Fn(usize) -> bool,
    was: &dyn Fn(usize) -> bool,
) -> Vec<usize> {
    (0..rows)
        .filter(|&r| member(r) && (r >= prev_rows || !was(r)))
        .collect()
}

/// The graph of the stored questions once extended (`extended`: the recall
/// it had as built) or built, with the recall it is to keep; None when the
/// extension is not kept.
fn question_graph(
    graph: MmapGraph,
    extended: Option<Option<f64>>,
    vectors: &[f32],
    dim: usize,
    member: &(dyn Fn(usize) -> bool + Sync),
    change: Change<'_>,
) -> Option<QuestionGraph> {
    let (recall, probes) = match extended {
        Some(built) => {
            let what = "graph of the stored questions";
            let probes = kept(what, &graph, vectors, dim, member, change, built)?;
            (built.unwrap_or(MIN_EXTENDED_RECALL), probes)
        }
        None => recall::built_recall(&graph, vectors, dim, member),
    };
    Some(QuestionGraph {
        graph,
        recall,
        probes,
    })
}

/// The probes of an extended graph (`what`, for the log) when it is kept:
/// judged over the rows `member` admits against its recall as built (see
/// [`recall::judge_extension`]); None when it is to be rebuilt.
fn kept(
    what: &str,
    graph: &MmapGraph,
    vectors: &[f32],
    dim: usize,
    member: &(dyn Fn(usize) -> bool + Sync),
    change: Change<'_>,
    built: Option<f64>,
) -> Option<Vec<Probe>> {
    let least = least_recall(built);
    match recall::judge_extension(graph, vectors, dim, member, change, least) {
        (recall::Verdict::Keep { recall, queries }, probes) => {
            log::debug!(
                "the extended {what} finds {:.2}% of the exact top 10 over {queries} queries (at least {:.2}% kept)",
                recall * 100.0,
                least * 100.0
            );
            Some(probes)
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
            vectors,
            graph: MmapGraph::empty(),
            hidden: 0,
            how: "none",
            recall: None,
            probes: Vec::new(),
            questions: None,
        });
    }
    let row_of_text: Vec<usize> = (0..plan.first.len()).collect();
    let kinds = plan.kinds_of_rows(&row_of_text, plan.first.len());
    let main = |r: usize| in_main(kinds[r]);
    let question = |r: usize| in_questions(kinds[r]);
    let members = kinds.iter().filter(|&&k| in_main(k)).count();
    let questions = kinds.iter().filter(|&&k| in_questions(k)).count();
    progress.start(Stage::Graph, (members + questions) as u64);
    let threads = hnsw::build_threads();
    let mut advance = |n: usize| progress.advance(n as u64);
    let graph = hnsw::build_over(&vectors, dim, hnsw, threads, &main, &mut advance);
    let (recall, probes) = recall::built_recall(&graph, &vectors, dim, &main);
    log::debug!("the graph finds {:.2}% of the exact top 10", recall * 100.0);
    let questions = (questions > 0).then(|| {
        let graph = hnsw::build_over(&vectors, dim, hnsw, threads, &question, &mut advance);
        let (recall, probes) = recall::built_recall(&graph, &vectors, dim, &question);
        log::debug!(
            "the graph of the stored questions finds {:.2}% of the exact top 10",
            recall * 100.0
        );
        QuestionGraph {
            graph,
            recall,
            probes,
        }
    });
    progress.finish();
    Ok(Laid {
        row_of_text,
        vectors,
        graph,
        hidden: 0,
        how: "rebuilt",
        recall: Some(recall),
        probes,
        questions,
    })
}
