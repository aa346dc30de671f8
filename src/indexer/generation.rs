//! Making a generation: embedding what the plan says is new, laying out
//! vectors and metadata, extending or rebuilding the graph, calibrating, and
//! writing it through the store.

use super::embedding::embed_new;
use super::graphs::{graph_for, Laid, SideGraph};
use super::*;
use crate::index::lexical_delta::Lexical;
use crate::store::meta_delta::MetaBase;
use crate::store::Side;

/// A generation made in memory, calibrated, not yet written: its manifest
/// has generation 0 and no files until its store writes it.
#[derive(Debug)]
pub struct NewGeneration {
    /// The generation, vectors in memory.
    pub snapshot: Snapshot,
    /// Texts embedded.
    pub embedded: usize,
    /// Texts whose vectors were reused.
    pub reused: usize,
    /// Texts whose vectors a stopped build had checkpointed.
    pub resumed: usize,
    /// Rows no pair holds any longer (kept in an extended graph).
    pub hidden: usize,
    /// The first rows, the previous generation's every row, as it had them
    /// (an extended graph's); 0 when the rows were laid out anew.
    pub kept_rows: usize,
    /// Seconds in the model.
    pub embed_seconds: f64,
    /// How the graph was made.
    pub graph: &'static str,
    /// Why nothing was reused, when that is the case.
    pub full_reason: Option<String>,
    /// Set when the corpus is mostly in a script the model cannot read.
    pub language_warning: Option<String>,
    /// Pairs the sparse model read (None: no sparse arm).
    pub sparse_encoded: Option<usize>,
}

impl NewGeneration {
    /// The build's summary, once written at `location`.
    pub fn summary(&self, corpus: &Corpus, started: Instant, location: String) -> IndexSummary {
        IndexSummary {
            embedded: self.embedded,
            reused: self.reused,
            resumed: self.resumed,
            hidden: self.hidden,
            embed_seconds: self.embed_seconds,
            embedded_per_second: self.embedded as f64 / self.embed_seconds.max(1e-9),
            graph: self.graph,
            lexical: match self.snapshot.lexical.delta() {
                Some(_) => "delta",
                None => "whole",
            },
            full_reason: self.full_reason.clone(),
            sparse_encoded: self.sparse_encoded,
            ..IndexSummary::unchanged(
                &self.snapshot.manifest,
                corpus,
                started,
                location,
                self.language_warning.clone(),
            )
        }
    }
}

/// Makes the next generation of `corpus` in memory: plans against
/// `previous` (a generation of the same model and splitter, see
/// [`reusable`]), embeds only what it lacks, lays out the rows (with a graph
/// in [`GraphMode::Build`]), builds the lexical arm and calibrates fusion
/// and abstention. None when nothing changed.
pub fn make_generation(
    corpus: &Corpus,
    data_dir: &Path,
    mut previous: Option<&mut Snapshot>,
    embedder: &mut dyn Embedder,
    config: &IndexConfig,
    making: Making<'_>,
    progress: &mut dyn Progress,
) -> Result<Option<NewGeneration>> {
    let (graph_mode, checkpoint) = (making.graph, making.checkpoint);
    let config = &config_for(config, embedder);
    let language_warning = language_warning(corpus, &*embedder);
    let identity = embedder.identity().clone();
    let dim = embedder.dimension();
    let mut laps = Laps::start();
    let Some(mut plan) = plan_against(corpus, previous.as_deref(), config) else {
        return Ok(None);
    };
    laps.lap("plan");
    let sentence_count = plan.sentences();
    let reused = plan.reused();
    // Texts this update embeds or drops: how far it moves the corpus.
    let changed = (plan.to_embed_ids().len()
        + previous
            .as_ref()
            .map_or(0, |p| p.manifest.counts.vectors.saturating_sub(reused)))
        as u64;
    let known = known_vectors(config, embedder)?;
    let embed_started = Instant::now();
    let (new_vectors, embedded, resumed) = embed_new(
        &plan,
        known,
        embedder,
        config.batch_size,
        progress,
        checkpoint,
    )?;
    let embed_seconds = embed_started.elapsed().as_secs_f64();
    let reused = reused + (plan.to_embed_ids().len() - embedded - resumed);
    let new_vectors = plan.fresh_vectors(new_vectors, previous.as_deref(), dim)?;
    laps.lap("embed");

    let mut laid = graph_for(
        previous.as_deref_mut(),
        &plan,
        new_vectors,
        dim,
        config,
        graph_mode,
        progress,
    )?;
    laps.lap("graph");
    let previous = previous.as_deref();
    let (hidden, how, kept_rows) = (laid.hidden, laid.how, laid.kept_rows);
    let main_graph = (laid.recall, laid.unestimated);
    let probes = laid.take_probes();
    let question_graph = laid.take_side(Side::Questions);
    let passage_graph = laid.take_side(Side::Passages);
    let live_vectors = plan.first.len();
    let previous_pair = std::mem::take(&mut plan.previous_pair);
    let previous_doc = std::mem::take(&mut plan.previous_doc);
    let (meta, vectors, graph) = lay_out(plan, laid, dim);
    laps.lap("lay out rows and metadata");
    let rows = vectors.len() / dim.max(1);
    let (meta_base, arms) = beside_carried(&meta, previous, &previous_doc, || {
        let lexical = lexical_index(&meta, previous, &previous_pair);
        let sparse =
            crate::indexer::sparse::arm(config.sparse, &meta, previous, embedder, progress);
        let counts = counts_of(&meta, sentence_count, live_vectors, rows);
        let known = fingerprints(corpus, previous.map(|p| &p.manifest), &previous_doc);
        let manifest = new_manifest(corpus, data_dir, identity, config, counts, known);
        Ok::<_, Error>((lexical, sparse?, manifest))
    });
    let (lexical, (sparse, sparse_encoded), mut manifest) = arms?;
    record_graphs(&mut manifest, main_graph, [&question_graph, &passage_graph]);
    laps.lap("lexical index, sparse arm and manifest (meta.bin's base carried over beside)");
    let mut snapshot = Snapshot::in_memory(manifest, meta, graph, lexical, vectors);
    snapshot.sparse = sparse;
    snapshot.probes = probes;
    snapshot.meta_base = meta_base;
    snapshot.question_graph = question_graph.map(|g| g.graph);
    snapshot.passage_graph = passage_graph.map(|g| g.graph);
    let snapshot = fitted(snapshot, previous, config, changed, live_vectors, embedder)?;
    laps.lap("calibrate");
    Ok(Some(NewGeneration {
        snapshot,
        embedded,
        reused,
        resumed,
        hidden,
        kept_rows,
        embed_seconds,
        graph: how,
        full_reason: None,
        language_warning,
        sparse_encoded,
    }))
}

/// `work`, while where the documents of `meta` lie in the `meta.bin` that
/// `previous` was read from, for a delta over it ([`MetaBase::carried`]:
/// every record compared, 60 ms at a million pairs), is found on a thread
/// of its own.
fn beside_carried<T>(
    meta: &Meta,
    previous: Option<&Snapshot>,
    previous_doc: &[u32],
    work: impl FnOnce() -> T,
) -> (Option<MetaBase>, T) {
    let carry = || {
        let p = previous?;
        MetaBase::carried(meta, &p.meta, p.meta_base.as_ref()?, previous_doc)
    };
    if previous.is_none_or(|p| p.meta_base.is_none()) {
        return (None, work());
    }
    std::thread::scope(|s| {
        let thread = std::thread::Builder::new().name("qasearch-carry".into());
        match thread.spawn_scoped(s, carry) {
            Ok(carrying) => {
                let done = work();
                let carried = carrying.join();
                (
                    carried.unwrap_or_else(|p| std::panic::resume_unwind(p)),
                    done,
                )
            }
            Err(_) => (carry(), work()),
        }
    })
}

/// The plan of `corpus` against `previous`; None when nothing changed at
/// all and the current generation stays. When only the sparse arm is to be
/// added or dropped, every row of the previous generation is reused
/// (nothing embedded, the graph kept by an extension of no rows).
fn plan_against(
    corpus: &Corpus,
    previous: Option<&Snapshot>,
    config: &IndexConfig,
) -> Option<BuildPlan> {
    // Nothing to do: said before the plan copies a million pairs to find it.
    if previous.is_some_and(|p| {
        p.sparse.is_some() == config.sparse && unchanged(corpus, &p.manifest, config)
    }) {
        return None;
    }
    let before = previous.map(|p| Previous {
        manifest: &p.manifest,
        meta: &p.meta,
    });
    let mut plan = plan(corpus, before, config);
    if let (GraphAction::Keep, Some(prev), Some(before)) = (&plan.graph, previous, before) {
        if prev.sparse.is_some() == config.sparse {
            return None;
        }
        plan.graph = plan.graph_after(before, config);
    }
    Some(plan)
}

/// The settings a build runs with: queries apart when the model's roles
/// differ, sentences alone when the embedder cannot read them in context.
fn config_for(config: &IndexConfig, embedder: &dyn Embedder) -> IndexConfig {
    IndexConfig {
        queries_apart: embedder.identity().settings.roles_differ(),
        answer_vectors: match config.answer_vectors {
            AnswerVectors::InContext if !embedder.reads_in_context() => {
                log::info!(
                    "{} cannot read sentences in the context of their answer: embedding them alone",
                    embedder.identity().settings.name
                );
                AnswerVectors::Embedded
            }
            how => how,
        },
        ..config.clone()
    }
}

/// The vectors given (an export of the same model), checked against the
/// model; None when none were given or another model made them.
fn known_vectors<'a>(
    config: &'a IndexConfig,
    embedder: &mut dyn Embedder,
) -> Result<Option<&'a KnownVectors>> {
    let known = config
        .known
        .as_deref()
        .filter(|k| k.model == *embedder.identity() && k.dimension == embedder.dimension());
    if config.known.is_some() && known.is_none() {
        log::warn!("the vectors given were made by another model: embedding instead");
    }
    if let Some(k) = known {
        k.check_made_by(embedder)?;
    }
    Ok(known)
}

/// The plan's documents, pairs and occurrences, each occurrence pointing at
/// its row in the laid-out vectors; gives the metadata, vectors and graph.
fn lay_out(plan: BuildPlan, laid: Laid, dim: usize) -> (Meta, Matrix, MmapGraph) {
    let Laid {
        row_of_text,
        vectors,
        graph,
        ..
    } = laid;
    let BuildPlan {
        documents,
        pairs,
        mut occurrences,
        text_id,
        ..
    } = plan;
    for (o, id) in occurrences.iter_mut().zip(&text_id) {
        o.row = row_of_text[*id] as u32;
    }
    let rows = vectors.len() / dim.max(1);
    (
        Meta::new(documents, pairs, occurrences, rows),
        vectors,
        graph,
    )
}

/// Records in `manifest` each graph's recall as built and the rows changed
/// since its recall was estimated: the main graph's (`main`: recall,
/// rows) and the side graphs'.
fn record_graphs(
    manifest: &mut Manifest,
    (recall, unestimated): (Option<f64>, u64),
    sides: [&Option<SideGraph>; 2],
) {
    manifest.graph_recall = recall;
    manifest.unestimated.graph = unestimated;
    for side in sides.into_iter().flatten() {
        match side.side {
            Side::Questions => {
                manifest.question_graph_recall = Some(side.recall);
                manifest.unestimated.questions = side.unestimated;
            }
            Side::Passages => {
                manifest.passage_graph_recall = Some(side.recall);
                manifest.unestimated.passages = side.unestimated;
            }
        }
    }
}

/// The lexical arm's index of every pair. Pairs of a document unchanged
/// since `previous` (`previous_pair`, see [`BuildPlan::previous_pair`]) keep
/// their terms: only changed pairs are read again, and a small change is a
/// delta over the previous base ([`Lexical::updated`]).
fn lexical_index(meta: &Meta, previous: Option<&Snapshot>, previous_pair: &[u32]) -> Lexical {
    use crate::index::lexical::LexicalIndex;
    let t = Instant::now();
    let lexical = match previous {
        Some(prev) if prev.lexical.len() == prev.meta.pairs.len() && indexes_passages(prev) => {
            let reuse: Vec<Option<u32>> = (0..meta.pairs.len())
                .map(|i| {
                    previous_pair
                        .get(i)
                        .copied()
                        .filter(|&p| (p as usize) < prev.lexical.len())
                })
                .collect();
            Lexical::updated(&prev.lexical, &reuse, |i| lexical_text(&meta.pairs[i]))
        }
        _ => {
            let texts: Vec<String> = meta.pairs.iter().map(lexical_text).collect();
            Lexical::whole(LexicalIndex::build(texts.iter().map(String::as_str), true))
        }
    };
    log::debug!(
        "lexical index of {} pairs built in {:.1} ms ({})",
        meta.pairs.len(),
        t.elapsed().as_secs_f64() * 1e3,
        match lexical.delta() {
            Some(d) => format!("a delta of {} pairs over the base", d.pairs()),
            None => "whole".to_string(),
        }
    );
    lexical
}

/// The manifest of a new generation, with the model's default fusion and
/// abstention (calibrated afterwards). `fingerprints`: each document's
/// fingerprint where the previous generation knew it.
fn new_manifest(
    corpus: &Corpus,
    data_dir: &Path,
    identity: crate::model::ModelIdentity,
    config: &IndexConfig,
    counts: Counts,
    fingerprints: Vec<DocFingerprint>,
) -> Manifest {
    let (fusion, abstention) = crate::index::settings::model_defaults(&identity);
    Manifest {
        format_version: store::FORMAT_VERSION,
        vector_files: Vec::new(),
        meta_columns: false,
        qasearch_version: env!("CARGO_PKG_VERSION").to_string(),
        generation: 0,
        created_unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: identity,
        splitter_version: split::SPLITTER_VERSION,
        hnsw: config.hnsw,
        answer_vectors: config.answer_vectors,
        question_vectors: config.question_vectors,
        fusion,
        abstention,
        changed_since_calibration: 0,
        graph_recall: None,
        question_graph_recall: None,
        passage_graph_recall: None,
        unestimated: Default::default(),
        counts,
        data_dir: data_dir.display().to_string(),
        sources: corpus.files.clone(),
        read_at_ns: corpus.read_at_ns,
        documents: fingerprints,
        files: BTreeMap::new(),
    }
}

/// Each document's key and fingerprint: taken from `previous` for a
/// document unchanged there (`previous_doc`, see
/// [`BuildPlan::previous_doc`]), computed for the others. An update thus
/// hashes the documents it changed, not the corpus.
fn fingerprints(
    corpus: &Corpus,
    previous: Option<&Manifest>,
    previous_doc: &[u32],
) -> Vec<DocFingerprint> {
    let known = |i: usize, d: &corpus::Document| -> Option<String> {
        let was = previous?.documents.get(*previous_doc.get(i)? as usize)?;
        // The plan compares texts, not the passage's blanks: a passage is
        // empty or holds something (`corpus::keep_meaningful`), as it was.
        let blank = !d.passage.is_empty() && d.passage.trim().is_empty();
        (was.key == d.key && !blank).then(|| was.fingerprint.clone())
    };
    (corpus.documents.iter().enumerate())
        .map(|(i, d)| DocFingerprint {
            key: d.key.clone(),
            fingerprint: known(i, d).unwrap_or_else(|| d.fingerprint()),
        })
        .collect()
}

/// The counts of a generation laid out as `meta`.
fn counts_of(meta: &Meta, sentences: usize, vectors: usize, rows: usize) -> Counts {
    let of = |kind: Kind| meta.occurrences.iter().filter(|o| o.kind == kind).count();
    Counts {
        documents: meta.documents.len(),
        qa_pairs: meta.pairs.iter().filter(|p| !p.passage).count(),
        sentences,
        vectors,
        rows,
        questions: of(Kind::Question),
        passage_sentences: of(Kind::Passage),
    }
}

/// `snapshot` with its fusion and abstention: the previous generation's
/// when it [`keeps_calibration`] (`changed` texts away from it), else
/// fitted anew.
fn fitted(
    mut snapshot: Snapshot,
    previous: Option<&Snapshot>,
    config: &IndexConfig,
    changed: u64,
    vectors: usize,
    embedder: &mut dyn Embedder,
) -> Result<Snapshot> {
    let kept = previous
        .filter(|p| p.sparse.is_some() == config.sparse)
        .and_then(|p| keeps_calibration(&p.manifest, changed, vectors).map(|d| (p, d)));
    match kept {
        Some((prev, drift)) => {
            log::debug!("calibration kept: {drift} texts changed since it was fitted");
            snapshot.manifest.fusion = prev.manifest.fusion.clone();
            snapshot.manifest.abstention = prev.manifest.abstention.clone();
            snapshot.manifest.changed_since_calibration = drift;
            Ok(snapshot)
        }
        None => calibrated(snapshot, embedder),
    }
}

/// Corpora of fewer vectors than this are calibrated at every build (it
/// takes milliseconds there); at 10,000 pairs it took 20 s of a one-pair
/// update (`cargo bench --bench update`).
pub const CALIBRATE_ALWAYS_BELOW: usize = 5_000;

/// The share of a corpus's texts that may change before its fit is redone.
pub const RECALIBRATE_SHARE: f64 = 0.05;

/// Whether a generation of `vectors` live vectors, `changed` texts away
/// from the one of `previous`, keeps its calibration: Some(the texts changed
/// since it was fitted) while they stay within [`RECALIBRATE_SHARE`] of a
/// corpus of at least [`CALIBRATE_ALWAYS_BELOW`] vectors, built by this
/// version of qasearch. The fit is a
/// statistic of hundreds of the corpus's own questions; a few pairs more or
/// less do not move it, and refitting cost most of a small update.
pub fn keeps_calibration(previous: &Manifest, changed: u64, vectors: usize) -> Option<u64> {
    let drift = previous.changed_since_calibration.saturating_add(changed);
    // Another qasearch may fit (or default) otherwise.
    let same_version = previous.qasearch_version == env!("CARGO_PKG_VERSION");
    (same_version
        && vectors >= CALIBRATE_ALWAYS_BELOW
        && drift as f64 <= RECALIBRATE_SHARE * vectors as f64)
        .then_some(drift)
}

fn calibrated(mut snapshot: Snapshot, embedder: &mut dyn Embedder) -> Result<Snapshot> {
    let t = Instant::now();
    let sparse = crate::indexer::calibrate::SparseQueries::of(&snapshot, embedder)?;
    let (start, threshold) = crate::indexer::calibrate::starting(&snapshot, embedder)?;
    snapshot.manifest.fusion = start.clone();
    snapshot.manifest.abstention = threshold.clone();
    if let Some(fusion) = crate::indexer::calibrate::fusion(&snapshot, sparse.as_ref(), &start)? {
        log::debug!("fusion calibrated: {}", fusion.source);
        snapshot.manifest.fusion = fusion;
    }
    let abstention = crate::indexer::calibrate::abstention(&snapshot, sparse.as_ref(), &threshold)?;
    log::debug!(
        "abstention calibrated in {:.1} ms: {abstention:?}",
        t.elapsed().as_secs_f64() * 1e3
    );
    if let Some(a) = abstention {
        snapshot.manifest.abstention = a;
    }
    Ok(snapshot)
}

/// Whether `snapshot`'s lexical arm holds its passages' words: one built
/// before passages were indexed (2026-12-04) has them empty, and is not
/// updated from but built anew (milliseconds a thousand pairs). Only a
/// passage without terms is read again (to tell "It is." from an old arm).
fn indexes_passages(snapshot: &Snapshot) -> bool {
    let lexical = &snapshot.lexical;
    snapshot
        .meta
        .pairs
        .iter()
        .enumerate()
        .all(|(i, p)| !p.passage || lexical.terms_of(i) > 0 || !lexical.has_terms(&p.answer))
}

/// The text the lexical arm indexes for a pair: question and answer; a
/// passage's own text (a result like a pair, its words are evidence as a
/// pair's are; `search::views` keeps it only where the passage view found it).
pub(super) fn lexical_text(p: &PairMeta) -> String {
    if p.passage {
        return p.answer.to_string();
    }
    format!("{}\n{}", p.question, p.answer)
}

pub(super) fn occurrence_text<'a>(pairs: &'a [PairMeta], o: &Occurrence) -> &'a str {
    let pair = &pairs[o.pair as usize];
    let whole = match o.kind {
        Kind::Question => &pair.question,
        _ => &pair.answer,
    };
    &whole[o.start as usize..o.end as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH_PASSAGE: &str = "The talks in Paris were led by Keith Kellogg.\n\
        Who chairs the coalition?\nThe coalition is chaired by France.\n";
    const TERMLESS_PASSAGE: &str = "It is.\nWho chairs the coalition?\nFrance does.\n";

    #[test]
    fn passages_words_are_indexed_and_an_arm_without_them_is_built_anew() {
        let (_d, snap) = crate::indexer::testing::built(&[("a.txt", WITH_PASSAGE)]);
        let passage = snap.meta.pairs.iter().position(|p| p.passage).unwrap();
        assert!(snap.lexical.terms_of(passage) > 0);
        assert!(indexes_passages(&snap));
        let hits = snap.lexical.search("Kellogg", 5);
        assert_eq!(hits.first().map(|h| h.0), Some(passage), "{hits:?}");

        // An arm built before passages were indexed: updated from, it would
        // keep their words out; it is built anew instead.
        let (_d, mut old) = crate::indexer::testing::built(&[("a.txt", WITH_PASSAGE)]);
        old.lexical = Lexical::whole(crate::index::lexical::LexicalIndex::build(
            old.meta
                .pairs
                .iter()
                .map(|p| {
                    if p.passage {
                        String::new()
                    } else {
                        lexical_text(p)
                    }
                })
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
            true,
        ));
        assert!(!indexes_passages(&old));
        let every: Vec<u32> = (0..old.meta.pairs.len() as u32).collect();
        let updated = lexical_index(&snap.meta, Some(&old), &every);
        assert!(
            updated.merged() == snap.lexical.merged(),
            "not a full build's"
        );

        // A passage with no term to index is not taken for an old arm.
        let (_d, termless) = crate::indexer::testing::built(&[("a.txt", TERMLESS_PASSAGE)]);
        let passage = termless.meta.pairs.iter().position(|p| p.passage).unwrap();
        assert_eq!(termless.lexical.terms_of(passage), 0);
        assert!(indexes_passages(&termless));
    }
}
