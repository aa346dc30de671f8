//! The build plan: which distinct texts a corpus needs, which rows of the
//! previous generation they reuse, what is left to embed, and what happens
//! to the graph.

use super::reuse::{collect, Collected};
use super::*;

/// The previous generation, as far as planning needs it.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    /// Its manifest.
    pub manifest: &'a Manifest,
    /// Its metadata.
    pub meta: &'a Meta,
}

/// What happens to the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphAction {
    /// Nothing changed: the current generation stays.
    Keep,
    /// The previous graph gets the new rows; `hidden` previous rows answer no more.
    Extend {
        /// Previous rows no pair holds any longer.
        hidden: usize,
    },
    /// A new graph over the live rows only.
    Rebuild,
}

/// What a build will do, decided from the corpus and the previous generation
/// alone: no model, no disk. [`build_corpus`] carries it out.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    /// Documents of the new generation.
    pub documents: Vec<DocMeta>,
    /// Pairs of the new generation.
    pub pairs: Vec<PairMeta>,
    /// Every text occurrence; rows are assigned when the plan is applied.
    pub occurrences: Vec<Occurrence>,
    /// The distinct text of each occurrence.
    pub text_id: Vec<usize>,
    /// Each distinct text, as the index of its first occurrence.
    pub first: Vec<usize>,
    /// Each distinct text's row in the previous generation, if it had it.
    pub reuse: Vec<Option<usize>>,
    /// What happens to the graph.
    pub graph: GraphAction,
    /// How whole answers get their vectors.
    pub answer_vectors: AnswerVectors,
    /// Whether stored questions are embedded as queries (see [`IndexConfig::queries_apart`]).
    pub queries_apart: bool,
    /// Per pair: its answer has several sentences (and a vector of its own).
    pub several: Vec<bool>,
    /// Per pair: its number in the previous generation when its document
    /// is unchanged there (`u32::MAX` otherwise): its lexical terms are
    /// taken from there.
    pub previous_pair: Vec<u32>,
    /// Per document: its number in the previous generation when it is
    /// unchanged there (`u32::MAX` otherwise): its fingerprint is taken
    /// from there.
    pub previous_doc: Vec<u32>,
}

impl BuildPlan {
    /// The text of distinct text `id`.
    pub fn text(&self, id: usize) -> &str {
        occurrence_text(&self.pairs, &self.occurrences[self.first[id]])
    }

    /// The row key of distinct text `id`.
    pub(super) fn key(&self, id: usize) -> RowKey<'_> {
        self.key_of(self.first[id])
    }

    /// True when distinct text `id` is a whole answer pooled from its sentences.
    pub fn is_pooled(&self, id: usize) -> bool {
        self.key(id).how == Made::Pooled
    }

    /// True when distinct text `id` is a sentence whose vector comes from
    /// reading its whole answer (see [`AnswerVectors::InContext`]).
    pub fn is_in_context(&self, id: usize) -> bool {
        self.key(id).how == Made::InContext
    }

    /// How the model reads distinct text `id`.
    pub fn role(&self, id: usize) -> Role {
        if self.key(id).how == Made::AsQuery {
            Role::Query
        } else {
            Role::Passage
        }
    }

    /// The role of each text of [`BuildPlan::to_embed`], in the same order.
    pub fn to_embed_roles(&self) -> Vec<Role> {
        self.to_embed_ids()
            .into_iter()
            .map(|id| self.role(id))
            .collect()
    }

    /// The distinct texts to embed: those the previous generation lacks and
    /// that are not pooled, in order.
    pub fn to_embed_ids(&self) -> Vec<usize> {
        (0..self.first.len())
            .filter(|&id| self.reuse[id].is_none() && !self.is_pooled(id))
            .collect()
    }

    /// The texts to embed (those the previous generation lacks and that are
    /// not pooled), in order.
    pub fn to_embed(&self) -> Vec<&str> {
        self.to_embed_ids()
            .into_iter()
            .map(|id| self.text(id))
            .collect()
    }

    /// The vectors of every distinct text the previous generation lacks, in
    /// order: `embedded` (the model's vectors of [`BuildPlan::to_embed`]),
    /// with each new pooled whole answer made from its sentences' vectors.
    pub fn fresh_vectors(
        &self,
        embedded: Vec<f32>,
        previous: Option<&Snapshot>,
        dim: usize,
    ) -> Result<Vec<f32>> {
        let mut new_pooled = (0..self.first.len())
            .filter(|&id| self.reuse[id].is_none() && self.is_pooled(id))
            .peekable();
        if new_pooled.peek().is_none() {
            return Ok(embedded);
        }
        // Where each embedded text's vector is.
        let mut next = 0;
        let slot: Vec<usize> = (0..self.first.len())
            .map(|id| {
                if self.reuse[id].is_none() && !self.is_pooled(id) {
                    next += 1;
                    next - 1
                } else {
                    usize::MAX
                }
            })
            .collect();
        let vector_of = |id: usize| -> Option<&[f32]> {
            match (self.reuse[id], previous) {
                (Some(row), Some(p)) => Some(p.vector(row)),
                (None, _) if slot[id] != usize::MAX => {
                    embedded.get(slot[id] * dim..(slot[id] + 1) * dim)
                }
                _ => None,
            }
        };
        let mut pooled: HashMap<usize, Vec<f32>> = HashMap::new();
        for id in new_pooled {
            let pair = self.occurrences[self.first[id]].pair;
            let mut sum = vec![0f32; dim];
            let from = self.occurrences.partition_point(|o| o.pair < pair);
            for i in from..self.occurrences.len() {
                let o = &self.occurrences[i];
                if o.pair != pair {
                    break;
                }
                if o.kind == Kind::Sentence {
                    let v = vector_of(self.text_id[i]).ok_or_else(|| {
                        Error::Embed("a sentence of a pooled answer has no vector".into())
                    })?;
                    sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
                }
            }
            crate::model::vector::normalize(&mut sum);
            pooled.insert(id, sum);
        }
        let mut out = Vec::with_capacity((next + pooled.len()) * dim);
        for id in 0..self.first.len() {
            if self.reuse[id].is_some() {
                continue;
            }
            match pooled.get(&id) {
                Some(v) => out.extend_from_slice(v),
                None => out.extend_from_slice(&embedded[slot[id] * dim..(slot[id] + 1) * dim]),
            }
        }
        Ok(out)
    }

    /// Distinct texts whose vectors are reused.
    pub fn reused(&self) -> usize {
        self.reuse.iter().filter(|r| r.is_some()).count()
    }

    /// Answer sentences (occurrences that are not whole answers).
    pub fn sentences(&self) -> usize {
        self.occurrences.iter().filter(|o| o.is_sentence()).count()
    }

    /// Per row of a matrix of `rows` rows, the [`Kind::bit`]s of the texts
    /// laid at it (`row_of_text`: each distinct text's row); 0 for a row no
    /// text of the plan holds (hidden in an extended graph). What a graph of
    /// some kinds only is built over, before the metadata exists.
    pub fn kinds_of_rows(&self, row_of_text: &[usize], rows: usize) -> Vec<u8> {
        let mut kinds = vec![0u8; rows];
        for (o, &id) in self.occurrences.iter().zip(&self.text_id) {
            if let Some(k) = row_of_text.get(id).and_then(|&r| kinds.get_mut(r)) {
                *k |= o.kind.bit();
            }
        }
        kinds
    }
}

/// Embeds `texts`, each in its role (queries and passages in calls of their
/// own), handing each vector to `put` with its index into `texts`; `calls`
/// hears of each model call by indexes into `texts`.
pub(super) fn embed_roles(
    embedder: &mut dyn Embedder,
    texts: &[&str],
    roles: &[Role],
    batch_size: usize,
    calls: &mut dyn Calls,
    put: &mut dyn FnMut(usize, &[f32]),
) -> Result<()> {
    /// The calls of one role's texts, told as indexes into all texts.
    struct Group<'a> {
        at: &'a [usize],
        calls: &'a mut dyn Calls,
    }
    impl Calls for Group<'_> {
        fn before(&mut self, call: &[usize]) -> Option<Vec<Vec<f32>>> {
            let call: Vec<usize> = call.iter().map(|&k| self.at[k]).collect();
            self.calls.before(&call)
        }
        fn after(&mut self, call: &[usize], vectors: &[Vec<f32>]) {
            let call: Vec<usize> = call.iter().map(|&k| self.at[k]).collect();
            self.calls.after(&call, vectors)
        }
    }
    for role in [Role::Passage, Role::Query] {
        let at: Vec<usize> = (0..texts.len()).filter(|&i| roles[i] == role).collect();
        if at.is_empty() {
            continue;
        }
        let group: Vec<&str> = at.iter().map(|&i| texts[i]).collect();
        let mut calls = Group { at: &at, calls };
        let mut put = |k: usize, v: &[f32]| put(at[k], v);
        embed_each(embedder, &group, role, batch_size, &mut calls, &mut put)?;
    }
    Ok(())
}

/// Plans a build: which texts to reuse, which to embed, what to do with the
/// graph. `previous` must be a generation made by the same model (the
/// caller decides that, and passes `None` otherwise); sentence spans are
/// copied from it only when its splitter and vector settings are these
/// (see `indexer/reuse.rs`), its rows are found by text in any case.
pub fn plan(corpus: &Corpus, previous: Option<Previous<'_>>, config: &IndexConfig) -> BuildPlan {
    // Occurrences are copied from a generation that made them the same way
    // (a database's generation is reused across splitter versions: its
    // rows are found by text, its sentence spans are not copied).
    let same_layout = previous.is_some_and(|p| {
        p.manifest.answer_vectors == config.answer_vectors
            && p.manifest.question_vectors == config.question_vectors
            && p.manifest.splitter_version == split::SPLITTER_VERSION
    });
    let Collected {
        documents,
        pairs,
        occurrences,
        previous_row,
        previous_pair,
        previous_doc,
    } = collect(
        corpus,
        config.answer_vectors,
        config.question_vectors,
        previous.map(|p| p.meta),
        same_layout,
    );
    let mut several = vec![false; pairs.len()];
    for o in &occurrences {
        if o.kind == Kind::Answer {
            several[o.pair as usize] = true;
        }
    }
    let mut plan = BuildPlan {
        documents,
        pairs,
        occurrences,
        text_id: Vec::new(),
        first: Vec::new(),
        reuse: Vec::new(),
        graph: GraphAction::Rebuild,
        answer_vectors: config.answer_vectors,
        queries_apart: config.queries_apart,
        several,
        previous_pair,
        previous_doc,
    };
    let Some(prev) = previous else {
        plan.distinct();
        return plan;
    };
    plan.distinct_reusing(prev, &previous_row);
    plan.graph = if unchanged(corpus, prev.manifest, config) {
        GraphAction::Keep
    } else {
        plan.graph_after(prev, config)
    };
    plan
}

/// Whether a build of `corpus` with `config` would make the generation of
/// `manifest` again: the same settings, the same files with the same sizes
/// and times (a touched file gets a new generation that records its new
/// time, reusing every vector, so that later asks need not hash it again),
/// the same documents.
pub fn unchanged(corpus: &Corpus, manifest: &Manifest, config: &IndexConfig) -> bool {
    manifest.sources == corpus.files
        && manifest.hnsw == config.hnsw
        && manifest.answer_vectors == config.answer_vectors
        && manifest.question_vectors == config.question_vectors
        && corpus_freshness(corpus, manifest).is_fresh()
}

impl BuildPlan {
    /// What happens to the graph once the previous rows are reused:
    /// extended, unless the hidden rows would be too many or the graph
    /// settings changed. A plan that kept the previous generation
    /// ([`GraphAction::Keep`]) asks this when the build goes on anyway (the
    /// sparse arm added or dropped): nothing is embedded.
    pub fn graph_after(&self, prev: Previous<'_>, config: &IndexConfig) -> GraphAction {
        let prev_rows = prev.meta.row_count();
        let hidden = prev_rows - self.reused();
        let rows_if_extended = prev_rows + (self.first.len() - self.reused());
        if prev.manifest.hnsw == config.hnsw
            && (hidden as f64) <= config.compact_ratio * rows_if_extended as f64
        {
            GraphAction::Extend { hidden }
        } else {
            GraphAction::Rebuild
        }
    }
}
