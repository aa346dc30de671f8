//! Running a set's queries: every baseline (dense, exact, BM25), the engine
//! as `ask` runs it and each of its views alone, scored per query and
//! summed into an [`EvalReport`].

use std::collections::BTreeMap;
use std::time::Instant;

use super::*;
use crate::index::lexical::Bm25;
use crate::search::views::{View, ViewHit};
use crate::search::{Filter, VIEW_DEPTH};

/// The `p`th percentile of sorted values (nearest rank); zero for none.
pub(super) fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// [`percentile`] of best fused scores, sorting them first.
pub(super) fn score_percentile(scores: &mut [f32], p: f64) -> f32 {
    scores.sort_by(f32::total_cmp);
    percentile(scores, p)
}

#[derive(Default)]
struct Accumulator {
    sum: QueryMetrics,
    /// Summed Recall@k, k = 1..=10.
    curve: [f64; 10],
    latencies_ms: Vec<f64>,
}

impl Accumulator {
    /// Adds one query's run; gives its metrics.
    fn add(&mut self, run: &[(String, f32)], qrels: &Judgements, ms: f64) -> QueryMetrics {
        let m = query_metrics(run, qrels);
        self.sum.ndcg_10 += m.ndcg_10;
        self.sum.mrr_10 += m.mrr_10;
        self.sum.recall_1 += m.recall_1;
        self.sum.recall_5 += m.recall_5;
        self.sum.recall_10 += m.recall_10;
        let mut ordered = run.to_vec();
        trec_order(&mut ordered);
        for (k, sum) in self.curve.iter_mut().enumerate() {
            *sum += recall_at(&ordered, qrels, k + 1);
        }
        self.latencies_ms.push(ms);
        m
    }

    fn report(mut self) -> SystemReport {
        let n = self.latencies_ms.len().max(1) as f64;
        self.latencies_ms.sort_by(f64::total_cmp);
        SystemReport {
            ndcg_10: self.sum.ndcg_10 / n,
            mrr_10: self.sum.mrr_10 / n,
            recall_1: self.sum.recall_1 / n,
            recall_5: self.sum.recall_5 / n,
            recall_10: self.sum.recall_10 / n,
            p50_ms: percentile(&self.latencies_ms, 50.0),
            p95_ms: percentile(&self.latencies_ms, 95.0),
            recall_curve: self.curve.iter().map(|r| r / n).collect(),
        }
    }
}

/// One query's judged run: pair ids and scores, best first.
fn to_run(
    hits: impl IntoIterator<Item = (usize, f32)>,
    doc_id: &dyn Fn(usize) -> String,
) -> Vec<(String, f32)> {
    hits.into_iter()
        .map(|(pair, s)| (doc_id(pair), s))
        .collect()
}

/// The sums over the queries run so far.
#[derive(Default)]
struct Tally {
    dense: Accumulator,
    exact: Accumulator,
    lexical: Accumulator,
    /// The engine and each of its views but `answers` (that is `dense`).
    extra: BTreeMap<&'static str, Accumulator>,
    users: usize,
    user_answered: usize,
    stored: usize,
    stored_answered: usize,
    user_best: Vec<f32>,
    stored_best: Vec<f32>,
    overlap_sum: f64,
    evaluated: usize,
    /// Every query as the engine answered it (the report keeps the worst).
    details: Vec<QueryDetail>,
}

/// What one query is run with.
struct Query<'a> {
    q: &'a EvalQuery,
    vector: Vec<f32>,
    /// Its sparse weights, when the index has a sparse arm.
    sparse: Option<crate::model::sparse::SparseVec>,
    /// The time to make them, added to the sparse arm's and the engine's latency.
    sparse_ms: f64,
    /// The time to embed it, added to every dense latency.
    embed_ms: f64,
    doc_id: &'a dyn Fn(usize) -> String,
}

/// Runs every query through `dense`, `exact` and `bm25`.
///
/// `doc_id` names the Q&A pair (by its index in the snapshot) the way the
/// judgements do. Each query is embedded once; that time is added to the dense
/// and exact latencies. BM25 indexes each pair's full answer.
pub fn run(
    snapshot: &Snapshot,
    embedder: &mut dyn Embedder,
    queries: &[EvalQuery],
    doc_id: &dyn Fn(usize) -> String,
    options: &EvalOptions<'_>,
    progress: &mut dyn FnMut(usize),
) -> Result<EvalReport> {
    let ef_search = options.ef_search;
    let started = Instant::now();
    // The baseline searches the answers, as it always has: a passage is
    // the passage view's to find (an empty text never matches).
    let answers: Vec<&str> = snapshot
        .meta
        .pairs
        .iter()
        .map(|p| if p.passage { "" } else { p.answer.as_str() })
        .collect();
    let bm25 = Bm25::new(&answers);
    let dense_cfg = SearchConfig {
        top_k: 10,
        ef_search,
        ..SearchConfig::default()
    };
    let mut tally = Tally::default();
    let mut dump = options.dump.and_then(dump_file);
    for q in queries {
        if !q.qrels.values().any(|&g| g > 0) {
            continue;
        }
        tally.evaluated += 1;
        let t = Instant::now();
        let vector = search::embed_question(embedder, &q.text)?;
        let embed_ms = ms(t);
        let t = Instant::now();
        let sparse = match snapshot.sparse.is_some() {
            true => search::sparse_question(embedder, &q.text)?,
            false => None,
        };
        let query = Query {
            q,
            vector,
            sparse,
            sparse_ms: ms(t),
            embed_ms,
            doc_id,
        };
        let (d, e) = tally.baselines(snapshot, &bm25, &query, &dense_cfg)?;
        let own_row = tally.engine(snapshot, &query, &dense_cfg)?;
        tally.overlap(&d, &e);
        if let Some(out) = dump.as_mut() {
            dump_candidates(out, snapshot, &query, own_row, &dense_cfg)?;
        }
        progress(1);
    }
    Ok(tally.report(snapshot, &dense_cfg, started, doc_id))
}

/// A pair as a report names it: its stored question, or its text's start.
fn title(snapshot: &Snapshot, pair: usize) -> String {
    let p = &snapshot.meta.pairs[pair];
    match p.question.trim() {
        "" => crate::model::embed::clip(p.answer.trim(), 120).to_string(),
        q => q.to_string(),
    }
}

/// One query as the engine answered it: what it put first, where the right
/// answer went and what each view said of it.
fn detail(
    snapshot: &Snapshot,
    query: &Query<'_>,
    fused: &[crate::search::fuse::Fused],
    ndcg_10: f64,
) -> QueryDetail {
    let q = query.q;
    let grade = |pair: u32| {
        q.qrels
            .get(&(query.doc_id)(pair as usize))
            .copied()
            .unwrap_or(0)
    };
    let right = fused
        .iter()
        .enumerate()
        .filter(|(_, f)| grade(f.pair) > 0)
        .max_by_key(|(i, f)| (grade(f.pair), std::cmp::Reverse(*i)));
    let mut relevant: Vec<(&String, &i64)> = q.qrels.iter().filter(|(_, &g)| g > 0).collect();
    relevant.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    QueryDetail {
        question: q.text.clone(),
        ndcg_10,
        right: right.map_or_else(String::new, |(_, f)| title(snapshot, f.pair as usize)),
        right_rank: right.map(|(i, _)| i + 1),
        first: fused
            .first()
            .map_or_else(String::new, |f| title(snapshot, f.pair as usize)),
        first_right: fused.first().is_some_and(|f| grade(f.pair) > 0),
        views: right.map_or_else(Vec::new, |(_, f)| {
            f.parts
                .iter()
                .map(|p| (p.view.name().to_string(), p.raw, p.rank))
                .collect()
        }),
        relevant: relevant.into_iter().map(|(id, _)| id.clone()).collect(),
    }
}

/// The worst queries by nDCG@10 (worst first, ties in query order; none
/// that scored 1), each missed right answer named by a scan of the pairs.
fn worst(
    mut all: Vec<QueryDetail>,
    snapshot: &Snapshot,
    doc_id: &dyn Fn(usize) -> String,
) -> Vec<QueryDetail> {
    all.retain(|d| d.ndcg_10 < 1.0);
    all.sort_by(|a, b| a.ndcg_10.total_cmp(&b.ndcg_10));
    all.truncate(WORST_QUERIES);
    for d in all.iter_mut().filter(|d| d.right.is_empty()) {
        let found = (0..snapshot.meta.pairs.len()).find(|&p| d.relevant.contains(&doc_id(p)));
        d.right = found.map_or_else(|| d.relevant.join(", "), |p| title(snapshot, p));
    }
    all
}

/// The run's settings, as the report lists them.
fn settings(snapshot: &Snapshot, dense_cfg: &SearchConfig) -> Vec<(String, String)> {
    let m = &snapshot.manifest;
    let f = &m.fusion;
    let sparse = snapshot.sparse.is_some();
    let mut out = vec![
        ("model".to_string(), m.model.id()),
        ("index generation".to_string(), m.generation.to_string()),
        (
            "ef (HNSW search breadth)".to_string(),
            dense_cfg.ef_for(m.counts.rows).to_string(),
        ),
        (
            "fusion".to_string(),
            format!(
                "lexical weight {}, saturation {}, view agreement {} ({})",
                f.lexical_weight, f.lexical_saturation, f.view_agreement, f.source
            ),
        ),
    ];
    if sparse {
        out.push((
            "sparse arm".to_string(),
            format!(
                "weight {}, full at a lead of {}",
                f.sparse_weight, f.sparse_lead
            ),
        ));
    }
    out.push((
        "threshold".to_string(),
        format!(
            "{:.3} on the results' scale ({} of a fused score, {})",
            f.shown(m.abstention.min_score, sparse),
            m.abstention.min_score,
            m.abstention.source
        ),
    ));
    out
}

impl Tally {
    /// Dense (the graph), exact and BM25 alone; gives the dense and exact answers.
    fn baselines(
        &mut self,
        snapshot: &Snapshot,
        bm25: &Bm25,
        query: &Query<'_>,
        dense_cfg: &SearchConfig,
    ) -> Result<(Vec<search::Answer>, Vec<search::Answer>)> {
        let exact_cfg = SearchConfig {
            exact: true,
            ..dense_cfg.clone()
        };
        let (q, embed_ms) = (query.q, query.embed_ms);
        let t = Instant::now();
        let d = search::search_vector(snapshot, &query.vector, dense_cfg)?;
        let dense_ms = ms(t) + embed_ms;
        let t = Instant::now();
        let e = search::search_vector(snapshot, &query.vector, &exact_cfg)?;
        let exact_ms = ms(t) + embed_ms;
        let t = Instant::now();
        let b = bm25.search(&q.text, 10);
        let bm25_ms = ms(t);

        let d_run = to_run(d.iter().map(|a| (a.pair, a.score)), query.doc_id);
        let e_run = to_run(e.iter().map(|a| (a.pair, a.score)), query.doc_id);
        let b_run = to_run(b, query.doc_id);
        self.dense.add(&d_run, &q.qrels, dense_ms);
        self.exact.add(&e_run, &q.qrels, exact_ms);
        self.lexical.add(&b_run, &q.qrels, bm25_ms);
        Ok((d, e))
    }

    /// The engine as `ask` runs it, and each of its views alone (each
    /// view's latency is its own search plus embedding the question for
    /// the dense ones; the engine's is every view, fusion and embedding).
    /// Gives the row of the query's own stored question, left out.
    fn engine(
        &mut self,
        snapshot: &Snapshot,
        query: &Query<'_>,
        dense_cfg: &SearchConfig,
    ) -> Result<Option<u32>> {
        let (q, vector, embed_ms) = (query.q, &query.vector, query.embed_ms);
        let t = Instant::now();
        let mut views = search::views(snapshot, vector, &q.text, query.sparse.as_ref(), dense_cfg)?;
        let views_ms = ms(t);
        let mut view_ms = std::collections::HashMap::new();
        for (view, _) in &views {
            let t = Instant::now();
            let model_ms = match (view, &query.sparse) {
                (View::Lexical, _) => 0.0,
                (View::Sparse, Some(weights)) => {
                    crate::search::views::sparse(snapshot, weights, VIEW_DEPTH, &Filter::default());
                    query.sparse_ms
                }
                _ => {
                    search::view(snapshot, vector, &q.text, *view, dense_cfg)?;
                    embed_ms
                }
            };
            view_ms.insert(*view, ms(t) + model_ms);
        }
        let t = Instant::now();
        let own_row = q
            .stored_pair
            .and_then(|p| snapshot.meta.question_row(p as u32));
        if let Some(row) = own_row {
            search::leave_out(&mut views, row);
        }
        let fused = search::rank(snapshot, &views, &snapshot.manifest.fusion);
        let engine_ms = views_ms + ms(t) + embed_ms + query.sparse_ms;
        let evidence = search::best_evidence(&fused);
        let confident = evidence.is_some_and(|e| e >= snapshot.manifest.abstention.min_score);
        // On the results' scale, as `ask` shows it.
        let best = evidence.map_or(0.0, |e| {
            snapshot.manifest.fusion.shown(e, snapshot.sparse.is_some())
        });
        if q.stored_pair.is_some() {
            self.stored_answered += confident as usize;
            self.stored += 1;
            self.stored_best.push(best);
        } else {
            self.user_answered += confident as usize;
            self.users += 1;
            self.user_best.push(best);
        }
        let run_of = |pairs: Vec<(u32, f32)>| -> Vec<(String, f32)> {
            to_run(
                pairs.into_iter().take(10).map(|(p, s)| (p as usize, s)),
                query.doc_id,
            )
        };
        let e_run = run_of(fused.iter().map(|f| (f.pair, f.score)).collect());
        let m = self
            .extra
            .entry("engine")
            .or_default()
            .add(&e_run, &q.qrels, engine_ms);
        self.details
            .push(detail(snapshot, query, &fused, m.ndcg_10));
        for (view, hits) in &views {
            if *view == View::Answers {
                continue; // that is `dense`
            }
            let run = run_of(hits.iter().map(|h| (h.pair, h.score)).collect());
            self.extra
                .entry(view.name())
                .or_default()
                .add(&run, &q.qrels, view_ms[view]);
        }
        Ok(own_row)
    }

    /// How many of the exact answers the graph found.
    fn overlap(&mut self, d: &[search::Answer], e: &[search::Answer]) {
        if !e.is_empty() {
            let found = d
                .iter()
                .filter(|a| e.iter().any(|x| x.pair == a.pair))
                .count();
            self.overlap_sum += found as f64 / e.len() as f64;
        }
    }

    fn report(
        self,
        snapshot: &Snapshot,
        dense_cfg: &SearchConfig,
        started: Instant,
        doc_id: &dyn Fn(usize) -> String,
    ) -> EvalReport {
        let mut systems = BTreeMap::new();
        systems.insert("dense".to_string(), self.dense.report());
        systems.insert("exact".to_string(), self.exact.report());
        systems.insert("bm25".to_string(), self.lexical.report());
        for (name, acc) in self.extra {
            systems.insert(name.to_string(), acc.report());
        }
        let (n, yes, mut best) = if self.users > 0 {
            (self.users, self.user_answered, self.user_best)
        } else {
            (self.stored, self.stored_answered, self.stored_best)
        };
        let details = Details {
            related_best: best.clone(),
            unrelated_best: Vec::new(),
            worst: worst(self.details, snapshot, doc_id),
            settings: settings(snapshot, dense_cfg),
        };
        EvalReport {
            dataset: String::new(),
            queries: self.evaluated,
            corpus: snapshot.manifest.counts.qa_pairs,
            systems,
            ann_recall_10: self.overlap_sum / self.evaluated.max(1) as f64,
            ef_search: dense_cfg.ef_for(snapshot.manifest.counts.rows),
            index: IndexReport::default(),
            seconds: started.elapsed().as_secs_f64(),
            postgres: None,
            abstention: AbstentionReport {
                min_score: snapshot.manifest.fusion.shown(
                    snapshot.manifest.abstention.min_score,
                    snapshot.sparse.is_some(),
                ),
                related: n,
                related_answered: yes as f64 / n.max(1) as f64,
                related_p05: score_percentile(&mut best, 5.0),
                ..AbstentionReport::default()
            },
            details,
        }
    }
}

/// The file [`EvalOptions::dump`] names, made anew (None when it cannot be).
fn dump_file(path: &std::path::Path) -> Option<std::io::BufWriter<std::fs::File>> {
    crate::safe_fs::clear(path)
        .and_then(|()| crate::safe_fs::create_new(path))
        .ok()
        .map(std::io::BufWriter::new)
}

fn dump_candidates(
    out: &mut impl std::io::Write,
    snapshot: &Snapshot,
    query: &Query<'_>,
    own_row: Option<u32>,
    dense_cfg: &SearchConfig,
) -> Result<()> {
    use crate::search::views;
    let (q, vector) = (query.q, &query.vector);
    let ids = |hits: Vec<ViewHit>, questions: bool| -> Vec<(String, f32)> {
        hits.into_iter()
            .filter(|h| !(questions && own_row.is_some() && h.row == own_row))
            .map(|h| ((query.doc_id)(h.pair as usize), h.score))
            .collect()
    };
    let cfg = SearchConfig {
        top_k: 50,
        ..dense_cfg.clone()
    };
    let line = serde_json::json!({
        "id": q.id,
        "qrels": q.qrels,
        "answers": ids(views::dense(snapshot, vector, View::Answers, 50, 50, &cfg)?, false),
        "questions": ids(views::dense(snapshot, vector, View::Questions, 60, 60, &cfg)?, true),
        "lexical": ids(views::lexical(snapshot, &q.text, 50, &Default::default()), false),
        "sparse": query.sparse.as_ref().map(|w| ids(views::sparse(snapshot, w, 50, &Default::default()), false)),
    });
    let _ = writeln!(out, "{line}");
    Ok(())
}
