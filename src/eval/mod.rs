//! The eval stage. Takes a set (a BEIR folder, or the engine's own corpus with
//! its stored and reworded questions); gives an [`EvalReport`]: every view,
//! the engine, exact search and BM25 scored on the same queries in one run,
//! with latencies and abstention. Metrics are computed as pytrec_eval / BEIR
//! do; the runner is [`run`], the sets' reading [`beir`].
//!
//! Metric conventions (trec_eval): a ranked list is ordered by score, ties
//! broken by document id in descending string order; gains are the graded
//! relevance values (linear, not `2^rel - 1`); a document is relevant when
//! its grade is above 0; the ideal ranking sorts all judged grades. Queries
//! without a relevant document are not evaluated. MRR@k is the reciprocal rank
//! of the first relevant document within the top k (0 if none).

pub mod beir;
pub mod report;
mod run;

pub use run::run;
use run::score_percentile;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Serialize;

use std::path::Path;

use crate::engine::{Engine, EngineOptions, SharedEmbedder};
use crate::error::Result;
use crate::indexer::{self, IndexConfig};
use crate::model::embed::Embedder;
use crate::progress::{Progress, Stage};
use crate::search::{self, SearchConfig};
use crate::store::Snapshot;

/// Relevance grades of one query, by document id.
pub type Judgements = HashMap<String, i64>;

/// Metrics of one ranked list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct QueryMetrics {
    /// nDCG@10.
    pub ndcg_10: f64,
    /// MRR@10.
    pub mrr_10: f64,
    /// Recall@1.
    pub recall_1: f64,
    /// Recall@5.
    pub recall_5: f64,
    /// Recall@10.
    pub recall_10: f64,
}

/// Orders a run as trec_eval does: score descending, then id descending.
pub fn trec_order(run: &mut [(String, f32)]) {
    run.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
}

/// nDCG at `k` with linear gains.
pub fn ndcg_at(run: &[(String, f32)], qrels: &Judgements, k: usize) -> f64 {
    let dcg: f64 = run
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, (id, _))| {
            let gain = qrels.get(id).copied().unwrap_or(0).max(0) as f64;
            gain / ((i + 2) as f64).log2()
        })
        .sum();
    let mut ideal: Vec<i64> = qrels.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &g)| g as f64 / ((i + 2) as f64).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// Reciprocal rank of the first relevant document within the top `k`.
pub fn mrr_at(run: &[(String, f32)], qrels: &Judgements, k: usize) -> f64 {
    run.iter()
        .take(k)
        .position(|(id, _)| qrels.get(id).is_some_and(|&g| g > 0))
        .map_or(0.0, |p| 1.0 / (p + 1) as f64)
}

/// Share of the relevant documents found in the top `k`.
pub fn recall_at(run: &[(String, f32)], qrels: &Judgements, k: usize) -> f64 {
    let relevant = qrels.values().filter(|&&g| g > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = run
        .iter()
        .take(k)
        .filter(|(id, _)| qrels.get(id).is_some_and(|&g| g > 0))
        .count();
    found as f64 / relevant as f64
}

/// All metrics of one run (ordered here as trec_eval would).
pub fn query_metrics(run: &[(String, f32)], qrels: &Judgements) -> QueryMetrics {
    let mut run = run.to_vec();
    trec_order(&mut run);
    QueryMetrics {
        ndcg_10: ndcg_at(&run, qrels, 10),
        mrr_10: mrr_at(&run, qrels, 10),
        recall_1: recall_at(&run, qrels, 1),
        recall_5: recall_at(&run, qrels, 5),
        recall_10: recall_at(&run, qrels, 10),
    }
}

/// One query of an evaluation set.
#[derive(Debug, Clone)]
pub struct EvalQuery {
    /// Query id.
    pub id: String,
    /// Query text.
    pub text: String,
    /// Relevance grades by document id.
    pub qrels: Judgements,
    /// The query is this pair's stored question: the question view must not
    /// find it (leave-one-out).
    pub stored_pair: Option<usize>,
}

/// Averages and latency of one system.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SystemReport {
    /// Mean nDCG@10.
    #[serde(rename = "ndcg@10")]
    pub ndcg_10: f64,
    /// Mean MRR@10.
    #[serde(rename = "mrr@10")]
    pub mrr_10: f64,
    /// Mean Recall@1.
    #[serde(rename = "recall@1")]
    pub recall_1: f64,
    /// Mean Recall@5.
    #[serde(rename = "recall@5")]
    pub recall_5: f64,
    /// Mean Recall@10.
    #[serde(rename = "recall@10")]
    pub recall_10: f64,
    /// Median latency per query, milliseconds (embedding included for dense and exact).
    pub p50_ms: f64,
    /// 95th percentile latency per query, milliseconds.
    pub p95_ms: f64,
    /// Mean Recall@k for k = 1 to 10 (the report's curves; not in JSON).
    #[serde(skip)]
    pub recall_curve: Vec<f64>,
}

/// How the evaluated index was built.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IndexReport {
    /// Answer sentences indexed.
    pub sentences: usize,
    /// Vectors searched.
    pub vectors: usize,
    /// Sentences embedded in this run (0 when the cache held them all).
    pub embedded: usize,
    /// Seconds of this run's indexing.
    pub seconds: f64,
    /// Embedding throughput of this run, sentences per second (0 when cached).
    pub sentences_per_second: f64,
}

/// The result of `qasearch eval`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalReport {
    /// Dataset name.
    pub dataset: String,
    /// Queries evaluated.
    pub queries: usize,
    /// Corpus entries (passages, or Q&A pairs).
    pub corpus: usize,
    /// Metrics by system: `dense`, `exact`, `bm25`.
    pub systems: BTreeMap<String, SystemReport>,
    /// Mean overlap of the engine's top 10 with the exact top 10.
    #[serde(rename = "ann_recall@10")]
    pub ann_recall_10: f64,
    /// The HNSW search breadth used.
    pub ef_search: usize,
    /// Indexing of the evaluated corpus.
    pub index: IndexReport,
    /// Seconds the evaluation took (after indexing).
    pub seconds: f64,
    /// How often the engine answers related questions and abstains on
    /// unrelated ones.
    pub abstention: AbstentionReport,
    /// The same queries over the database store, when one is named
    /// (`systems` then also holds `dense@postgres`, `engine@postgres`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<StoreReport>,
    /// What the HTML report (`eval --report`) draws besides the averages.
    #[serde(skip)]
    pub details: Details,
}

/// The figures of an evaluation behind its averages, for the HTML report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    /// The best score of each related question, on the results' scale.
    pub related_best: Vec<f32>,
    /// The best score of each unrelated question (`--unrelated`).
    pub unrelated_best: Vec<f32>,
    /// The engine's worst queries by nDCG@10, worst first (at most
    /// [`WORST_QUERIES`]).
    pub worst: Vec<QueryDetail>,
    /// The run's settings, in order: model, generation, ef, fusion, threshold.
    pub settings: Vec<(String, String)>,
}

/// Queries the report lists as the engine's worst.
pub const WORST_QUERIES: usize = 20;

/// One query as the engine answered it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryDetail {
    /// The question.
    pub question: String,
    /// The engine's nDCG@10 on it.
    pub ndcg_10: f64,
    /// The best-judged answer: its stored question, or the start of its text.
    pub right: String,
    /// Its 1-based rank in the engine's list; None when fusion had no place
    /// for it.
    pub right_rank: Option<usize>,
    /// What the engine put first, and whether it is judged relevant.
    pub first: String,
    /// Whether `first` is a right answer.
    pub first_right: bool,
    /// Each view that found the right answer: its name, raw score and rank.
    pub views: Vec<(String, f32, usize)>,
    /// Ids of the judged answers, to name `right` when the engine missed it.
    pub(crate) relevant: Vec<String>,
}

/// How the database store did beside the folder.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoreReport {
    /// The store, without its password.
    pub store: String,
    /// Mean overlap of pgvector's HNSW top 10 with the exact top 10.
    #[serde(rename = "ann_recall@10")]
    pub ann_recall_10: f64,
    /// The HNSW search breadth used (pgvector's `hnsw.ef_search`).
    pub ef_search: usize,
    /// Seconds loading the folder's generation into the store (0: it had it).
    pub load_seconds: f64,
    /// Texts embedded for the store (0 when taken from the folder).
    pub embedded: usize,
}

/// Abstention measured: the evaluated (related) questions should be
/// answered, unrelated ones (`--unrelated FILE`) not.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AbstentionReport {
    /// The threshold of a confident answer, on the results' scale (0–1),
    /// as are the percentiles below.
    pub min_score: f32,
    /// Related questions asked (the evaluated queries that are not stored
    /// questions themselves, or all of them where all are).
    pub related: usize,
    /// Share of them answered.
    pub related_answered: f64,
    /// Unrelated questions asked.
    pub unrelated: usize,
    /// Share of them where the engine said it has no confident answer.
    pub unrelated_abstained: f64,
    /// The best fused score that 95% of the related questions reach: a
    /// threshold at or under it answers them.
    pub related_p05: f32,
    /// The best fused score that 95% of the unrelated questions stay under:
    /// a threshold over it abstains on them. A threshold between the two
    /// does both (`ask --min-score`).
    pub unrelated_p95: f32,
}

/// What `qasearch eval` scores.
#[derive(Debug, Clone, Copy)]
pub enum EvalSet<'a> {
    /// A BEIR folder; its index is cached in a folder under `cache_root`
    /// named by the set, the hash of its corpus and `tag` (the model).
    Beir {
        /// The BEIR folder.
        dir: &'a Path,
        /// Where cached evaluation indexes live.
        cache_root: &'a Path,
        /// Names the model in the cache key.
        tag: &'a str,
        /// Re-embed instead of using the cache.
        full: bool,
        /// Whole-answer vectors of the cached index (part of its key).
        answer_vectors: crate::store::AnswerVectors,
        /// Build the cached index with the learned sparse arm (the model
        /// must carry its encoder); the same cache folder, its arm added or
        /// dropped as asked.
        sparse: bool,
    },
    /// The engine's own corpus: every stored question must find its pair,
    /// plus the reworded questions of a TSV file.
    Corpus {
        /// `question<TAB>doc<TAB>corpus question` lines.
        questions: Option<&'a Path>,
        /// Only the file's questions, not the stored ones.
        only_questions: bool,
    },
}

/// How `eval` runs a set.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOptions<'a> {
    /// The HNSW search breadth (the index's default when None).
    pub ef_search: Option<usize>,
    /// Questions about nothing in the set, one a line: how often the engine
    /// abstains on them.
    pub unrelated: Option<&'a Path>,
    /// A file for every view's candidates of every query, as JSON lines, to
    /// study fusion outside the engine (the binary: `QASEARCH_EVAL_DUMP`).
    pub dump: Option<&'a Path>,
}

/// What a set gives to run: the engine, its judged queries, and how to name
/// a pair the way the judgements do.
struct Prepared {
    engine: Engine,
    queries: Vec<EvalQuery>,
    dataset: String,
    index: IndexReport,
    /// BEIR judgements name corpus ids (document keys); corpus ones name pairs.
    by_key: bool,
    /// The database store, when named, with what loading it did.
    store: Option<(crate::store::pg::Postgres, crate::indexer::IndexSummary)>,
}

/// Opens what `set` needs (building or reusing indexes), runs every query
/// through every system, and reports. `options` is used for `Corpus` sets.
pub fn evaluate(
    set: EvalSet<'_>,
    options: &EngineOptions,
    load_model: impl FnOnce() -> Result<SharedEmbedder> + Send,
    eval: &EvalOptions<'_>,
    progress: &mut dyn Progress,
) -> Result<EvalReport> {
    let ef_search = eval.ef_search;
    SearchConfig {
        ef_search,
        ..SearchConfig::default()
    }
    .validate()?;
    let prepared = match set {
        EvalSet::Beir {
            dir,
            cache_root,
            tag,
            full,
            answer_vectors,
            sparse,
        } => {
            if sparse && options.store.is_some() {
                return Err(crate::Error::Usage(
                    "--sparse: the sparse arm is kept in the folder store only; leave out --store or --sparse".into(),
                ));
            }
            let config = IndexConfig {
                full,
                answer_vectors,
                sparse,
                ..IndexConfig::default()
            };
            let cache = BeirCache {
                root: cache_root,
                tag,
            };
            open_beir(dir, &cache, &config, options, load_model()?, progress)?
        }
        EvalSet::Corpus {
            questions,
            only_questions,
        } => open_corpus(questions, only_questions, options, load_model, progress)?,
    };
    let Prepared {
        engine,
        queries,
        dataset,
        index,
        by_key,
        store,
    } = prepared;
    let by_key = &by_key;
    let snapshot = engine.snapshot();
    let doc_id = |pair: usize| {
        if *by_key {
            let doc = snapshot.meta.pairs[pair].doc as usize;
            snapshot.meta.documents[doc].key.clone()
        } else {
            pair.to_string()
        }
    };
    let mut run_on = |on: &Snapshot| {
        progress.start(Stage::Queries, queries.len() as u64);
        let report = engine.with_embedder(|embedder| {
            run(on, embedder, &queries, &doc_id, eval, &mut |n| {
                progress.advance(n as u64)
            })
        });
        progress.finish();
        report
    };
    let mut report = run_on(&snapshot)?;
    if let Some((pg, loaded)) = &store {
        let on_store = run_on(&crate::store::Store::open(pg)?)?;
        add_store_runs(&mut report, on_store, pg, loaded);
    }
    report.dataset = dataset;
    report.index = index;
    if let Some(path) = eval.unrelated {
        abstention_on_unrelated(&mut report, &engine, path, ef_search)?;
    }
    Ok(report)
}

/// Where a BEIR set's indexes are cached, and the model's name in their key.
struct BeirCache<'a> {
    root: &'a Path,
    tag: &'a str,
}

/// A BEIR folder: its index built or reused in the cache, and copied into the
/// database store when one is named.
fn open_beir(
    dir: &Path,
    cache: &BeirCache<'_>,
    config: &IndexConfig,
    options: &EngineOptions,
    mut embedder: SharedEmbedder,
    progress: &mut dyn Progress,
) -> Result<Prepared> {
    let (tag, answer_vectors) = (cache.tag, config.answer_vectors);
    let set = beir::load(dir)?;
    let cache = cache.root.join("eval").join(format!(
        "{}-{}-{tag}-{}",
        set.name,
        &set.corpus_sha256[..12],
        answer_vectors.name(),
    ));
    let source = dir.join("corpus.jsonl");
    let source = source.canonicalize().unwrap_or(source);
    log::info!(
        "{}: {} corpus entries, {} judged queries; index cached in {}",
        set.name,
        set.corpus.len(),
        set.queries.len(),
        cache.display()
    );
    let (summary, _) = indexer::build_corpus(
        set.to_corpus(&source),
        dir,
        &cache,
        embedder.as_mut(),
        config,
        progress,
        indexer::Begun::now(),
    )?;
    // The database store, when named, gets the folder's generation
    // (its vectors, nothing embedded) in a schema of the set's own.
    let store = match &options.store {
        Some(url) => {
            let schema = eval_schema(&set.name, tag, answer_vectors);
            let pg = crate::store::pg::Postgres::connect(url, Some(&schema))?.with_seed(&cache);
            let (loaded, _) = crate::indexer::BuildTarget::build(
                &pg,
                set.to_corpus(&source),
                dir,
                embedder.as_mut(),
                config,
                progress,
                indexer::Begun::now(),
            )?;
            Some((pg, loaded))
        }
        None => None,
    };
    let engine = Engine::from_snapshot(crate::store::open(&cache)?, embedder)?;
    let index = IndexReport {
        sentences: summary.sentences,
        vectors: summary.vectors,
        embedded: summary.embedded,
        seconds: summary.seconds,
        sentences_per_second: if summary.embedded > 0 {
            summary.embedded_per_second
        } else {
            0.0
        },
    };
    Ok(Prepared {
        engine,
        queries: set.queries,
        dataset: set.name,
        index,
        by_key: true,
        store,
    })
}

/// The engine's own corpus: its stored questions (unless `only_questions`)
/// and the reworded questions of a TSV file.
fn open_corpus(
    questions: Option<&Path>,
    only_questions: bool,
    options: &EngineOptions,
    load_model: impl FnOnce() -> Result<SharedEmbedder> + Send,
    progress: &mut dyn Progress,
) -> Result<Prepared> {
    let engine = Engine::open_with(options, load_model, progress, &mut |w| {
        log::warn!("{}/{w}", options.data_dir.display())
    })?;
    let snapshot = engine.snapshot();
    let pairs: Vec<(String, String)> = snapshot
        .meta
        .pairs
        .iter()
        .map(|p| {
            (
                snapshot.meta.documents[p.doc as usize].key.clone(),
                p.question.to_string(),
            )
        })
        .collect();
    let mut queries = if only_questions {
        Vec::new()
    } else {
        beir::corpus_queries(&pairs)
    };
    if let Some(path) = questions {
        queries.extend(beir::tsv_queries(path, &pairs)?);
    }
    let c = snapshot.manifest.counts;
    let index = IndexReport {
        sentences: c.sentences,
        vectors: c.vectors,
        ..Default::default()
    };
    drop(snapshot);
    Ok(Prepared {
        engine,
        queries,
        dataset: options.data_dir.display().to_string(),
        index,
        by_key: false,
        store: None,
    })
}

/// The same queries on the database store: each system again as
/// `NAME@postgres`, and what loading the store did.
fn add_store_runs(
    report: &mut EvalReport,
    on_store: EvalReport,
    pg: &crate::store::pg::Postgres,
    loaded: &crate::indexer::IndexSummary,
) {
    for (name, system) in on_store.systems {
        report.systems.insert(format!("{name}@postgres"), system);
    }
    report.postgres = Some(StoreReport {
        store: crate::store::Store::location(pg),
        ann_recall_10: on_store.ann_recall_10,
        ef_search: on_store.ef_search,
        load_seconds: if loaded.graph == "unchanged" {
            0.0
        } else {
            loaded.seconds
        },
        embedded: loaded.embedded,
    });
}

/// How often the engine abstains on questions about nothing in the set.
fn abstention_on_unrelated(
    report: &mut EvalReport,
    engine: &Engine,
    path: &Path,
    ef_search: Option<usize>,
) -> Result<()> {
    let questions = beir::question_lines(path)?;
    let config = SearchConfig {
        ef_search,
        ..SearchConfig::default()
    };
    let mut abstained = 0;
    let mut best = Vec::with_capacity(questions.len());
    for q in &questions {
        let answers = engine.ask(q, &config)?;
        abstained += !answers.answered as usize;
        best.push(answers.best);
    }
    report.details.unrelated_best = best.clone();
    report.abstention.unrelated_p95 = score_percentile(&mut best, 95.0);
    report.abstention.unrelated = questions.len();
    report.abstention.unrelated_abstained = abstained as f64 / questions.len().max(1) as f64;
    Ok(())
}

/// The schema an evaluation set's store lives in: by set, model and
/// whole-answer vectors, as the folder cache is.
fn eval_schema(set: &str, tag: &str, answer_vectors: crate::store::AnswerVectors) -> String {
    let name = format!("qasearch_eval_{set}_{tag}_{}", answer_vectors.name());
    let mut clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    clean.truncate(63);
    clean
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use run::percentile;

    fn run_of(ids: &[(&str, f32)]) -> Vec<(String, f32)> {
        ids.iter().map(|(i, s)| (i.to_string(), *s)).collect()
    }

    fn qrels(pairs: &[(&str, i64)]) -> Judgements {
        pairs.iter().map(|(i, g)| (i.to_string(), *g)).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn graded_ndcg_by_hand() {
        // Grades 2 at rank 2, 1 at rank 3; ideal has 2 then 1.
        let run = run_of(&[("a", 0.9), ("b", 0.8), ("c", 0.7)]);
        let q = qrels(&[("b", 2), ("c", 1)]);
        let dcg = 2.0 / 3f64.log2() + 1.0 / 4f64.log2();
        let idcg = 2.0 / 2f64.log2() + 1.0 / 3f64.log2();
        let m = query_metrics(&run, &q);
        assert!(close(m.ndcg_10, dcg / idcg), "{}", m.ndcg_10);
        assert!(close(m.mrr_10, 0.5));
        assert!(close(m.recall_1, 0.0));
        assert!(close(m.recall_5, 1.0));
    }

    #[test]
    fn ties_are_broken_by_descending_id() {
        // "a" and "b" tie; trec_eval puts "b" first.
        let run = run_of(&[("a", 0.5), ("b", 0.5)]);
        let q = qrels(&[("a", 1)]);
        let m = query_metrics(&run, &q);
        assert!(close(m.mrr_10, 0.5));
        assert!(close(m.recall_1, 0.0));
        assert!(close(m.ndcg_10, 1.0 / 3f64.log2()));
    }

    #[test]
    fn several_relevant_entries() {
        let run = run_of(&[("x", 0.9), ("r1", 0.8), ("y", 0.7), ("r2", 0.6)]);
        let q = qrels(&[("r1", 1), ("r2", 1), ("r3", 1)]);
        let m = query_metrics(&run, &q);
        assert!(close(m.recall_5, 2.0 / 3.0));
        assert!(close(m.recall_1, 0.0));
        assert!(close(m.mrr_10, 0.5));
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!(close(m.ndcg_10, dcg / idcg));
    }

    #[test]
    fn nothing_relevant_retrieved_scores_zero() {
        let run = run_of(&[("x", 0.9), ("y", 0.8)]);
        let q = qrels(&[("r", 1), ("z", 0)]);
        assert_eq!(query_metrics(&run, &q), QueryMetrics::default());
        assert_eq!(query_metrics(&[], &q), QueryMetrics::default());
    }

    #[test]
    fn only_the_top_ten_count() {
        let mut ids: Vec<(String, f32)> = (0..11)
            .map(|i| (format!("d{i:02}"), 1.0 - i as f32 / 100.0))
            .collect();
        let q = qrels(&[("d10", 1)]);
        assert_eq!(query_metrics(&ids, &q), QueryMetrics::default());
        ids.swap(0, 10);
        ids[0].1 = 2.0;
        assert!(close(query_metrics(&ids, &q).ndcg_10, 1.0));
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile::<f64>(&[], 50.0), 0.0);
        assert_eq!(score_percentile(&mut [0.9, 0.1, 0.5], 95.0), 0.9);
    }
}
