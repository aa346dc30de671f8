//! Embedding what a build lacks: texts read in the context of their
//! answers, the rest alone, each model call told to the build's checkpoint
//! (and skipped when a stopped build checkpointed all it gives).

use super::checkpoint::Checkpoint;
use super::*;

/// The vectors of every text the plan must embed ([`BuildPlan::to_embed_ids`],
/// in order): those `known` has, those a stopped build checkpointed, and
/// the model's for the rest. Returns them, how many texts the model
/// embedded and how many came from the checkpoint.
pub(super) fn embed_new(
    plan: &BuildPlan,
    known: Option<&KnownVectors>,
    embedder: &mut dyn Embedder,
    batch_size: usize,
    progress: &mut dyn Progress,
    checkpoint: Option<&mut Checkpoint>,
) -> Result<(Vec<f32>, usize, usize)> {
    let dim = embedder.dimension();
    let ids = plan.to_embed_ids();
    let found: Vec<Option<&[f32]>> = ids
        .iter()
        .map(|&id| known.and_then(|k| k.get(plan.key(id))))
        .collect();
    let todo: Vec<usize> = ids
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(&id, _)| id)
        .collect();
    let resumable = checkpoint.as_deref().map_or(0, |c| {
        todo.iter()
            .filter(|&&id| c.get(&plan.key(id)).is_some())
            .count()
    });
    if resumable > 0 {
        log::info!(
            "resuming: {}% already embedded ({resumable} of {} texts, checkpointed by a build that stopped)",
            resumable * 100 / todo.len(),
            todo.len()
        );
    }
    progress.start(Stage::Embedding, (todo.len() - resumable) as u64);
    let mut sink = Sink {
        plan,
        todo: &todo,
        checkpoint,
        progress,
        embedded: 0,
        resumed: 0,
    };
    let fresh = embed_fresh(embedder, batch_size, &mut sink)?;
    let (embedded, resumed) = (sink.embedded, sink.resumed);
    if let Some(c) = sink.checkpoint {
        c.flush();
    }
    progress.finish();
    if todo.len() == ids.len() {
        return Ok((fresh, embedded, resumed));
    }
    let mut fresh = fresh.chunks_exact(dim.max(1));
    let mut all = Vec::with_capacity(ids.len() * dim);
    for f in &found {
        match f {
            Some(v) => all.extend_from_slice(v),
            None => all.extend_from_slice(
                fresh
                    .next()
                    .ok_or_else(|| Error::Embed("fewer vectors than texts to embed".into()))?,
            ),
        }
    }
    Ok((all, embedded, resumed))
}

/// Where the vectors of one build's model calls go besides the build: its
/// checkpoint (and where a resumed build finds them), its progress.
struct Sink<'a> {
    plan: &'a BuildPlan,
    /// The plan's texts to embed; `k` below is a place in it.
    todo: &'a [usize],
    checkpoint: Option<&'a mut Checkpoint>,
    progress: &'a mut dyn Progress,
    /// Texts the model embedded.
    embedded: usize,
    /// Texts taken from the checkpoint.
    resumed: usize,
}

impl Sink<'_> {
    /// The vectors of places `ks` when a stopped build checkpointed every one.
    fn resume(&mut self, ks: &[usize]) -> Option<Vec<Vec<f32>>> {
        let c = self.checkpoint.as_deref()?;
        let (plan, todo) = (self.plan, self.todo);
        let vectors: Option<Vec<Vec<f32>>> = ks
            .iter()
            .map(|&k| c.get(&plan.key(todo[k])).map(<[f32]>::to_vec))
            .collect();
        if vectors.is_some() {
            self.resumed += ks.len();
        }
        vectors
    }

    /// The vector of place `k`, when a stopped build checkpointed it.
    fn resume_one(&mut self, k: usize) -> Option<Vec<f32>> {
        let c = self.checkpoint.as_deref()?;
        let v = c.get(&self.plan.key(self.todo[k]))?.to_vec();
        self.resumed += 1;
        Some(v)
    }

    /// Whether a stopped build checkpointed the passes over all these
    /// answers (and so every sentence vector those passes gave; a sentence
    /// a pass cannot give is embedded alone either way).
    fn passes_done<'t>(&self, mut answers: impl Iterator<Item = &'t str>) -> bool {
        self.checkpoint
            .as_deref()
            .is_some_and(|c| c.found() > 0 && answers.all(|a| c.get(&pass_key(a)).is_some()))
    }

    /// A pass over `answer` is over; `whole` is its vector.
    fn pass_made(&mut self, answer: &str, whole: &[f32]) {
        if let Some(c) = self.checkpoint.as_deref_mut() {
            c.mark(&pass_key(answer), whole);
        }
    }

    /// The model made the vector of place `k`.
    fn made(&mut self, k: usize, vector: &[f32]) {
        self.embedded += 1;
        if let Some(c) = self.checkpoint.as_deref_mut() {
            c.record(&self.plan.key(self.todo[k]), vector);
        }
    }

    /// A model call is over, having made `n` vectors.
    fn call_done(&mut self, n: usize) {
        self.progress.advance(n as u64);
        if let Some(c) = self.checkpoint.as_deref_mut() {
            c.call_done();
        }
    }
}

/// The checkpoint's mark of a pass over a whole answer: a key no row has
/// (a sentence read in context always has its span).
fn pass_key(answer: &str) -> RowKey<'_> {
    RowKey {
        how: Made::InContext,
        text: answer,
        span: None,
    }
}

/// The texts embedded alone, told to the sink by their places in `todo`.
struct Alone<'s, 'a> {
    sink: &'s mut Sink<'a>,
    /// Each text's place in `todo`.
    at: &'s [usize],
}

impl Calls for Alone<'_, '_> {
    fn before(&mut self, call: &[usize]) -> Option<Vec<Vec<f32>>> {
        let ks: Vec<usize> = call.iter().map(|&i| self.at[i]).collect();
        self.sink.resume(&ks)
    }
    fn after(&mut self, call: &[usize], vectors: &[Vec<f32>]) {
        for (&i, v) in call.iter().zip(vectors) {
            self.sink.made(self.at[i], v);
        }
        self.sink.call_done(call.len());
    }
}

/// The model's vectors of the sink's texts, in order. The sentences read in
/// context come from passes over their whole answers (which give those
/// answers' own vectors too); the rest — and the sentences of answers too
/// long to read in context — are embedded alone.
fn embed_fresh(
    embedder: &mut dyn Embedder,
    batch_size: usize,
    sink: &mut Sink<'_>,
) -> Result<Vec<f32>> {
    let (plan, todo) = (sink.plan, sink.todo);
    let dim = embedder.dimension();
    let mut out = vec![0f32; todo.len() * dim];
    let mut done = vec![false; todo.len()];
    in_context(embedder, batch_size, sink, &mut out, &mut done)?;
    let alone: Vec<usize> = (0..todo.len()).filter(|&k| !done[k]).collect();
    let texts: Vec<&str> = alone.iter().map(|&k| plan.text(todo[k])).collect();
    let roles: Vec<Role> = alone.iter().map(|&k| plan.role(todo[k])).collect();
    log::debug!("embedding: {} of {} texts alone", alone.len(), todo.len());
    let mut calls = Alone { sink, at: &alone };
    let mut put = |i: usize, v: &[f32]| {
        let k = alone[i];
        out[k * dim..(k + 1) * dim].copy_from_slice(v);
    };
    embed_roles(embedder, &texts, &roles, batch_size, &mut calls, &mut put)?;
    Ok(out)
}

/// The passes over whole answers a build makes: each answer to read, the
/// sentences it gives (place in `todo`, span), and the texts the model
/// would read as passages alone (a pass over the same text gives them).
struct Passes<'p> {
    answers: Vec<&'p str>,
    sentences: Vec<Vec<(usize, (usize, usize))>>,
    plain_at: HashMap<&'p str, usize>,
}

fn passes<'p>(plan: &'p BuildPlan, todo: &[usize]) -> Passes<'p> {
    let mut p = Passes {
        answers: Vec::new(),
        sentences: Vec::new(),
        plain_at: HashMap::new(),
    };
    let mut answer_at: HashMap<&str, usize> = HashMap::new();
    for (k, &id) in todo.iter().enumerate() {
        let key = plan.key(id);
        match (key.how, key.span) {
            (Made::InContext, Some((start, end))) => {
                let a = *answer_at.entry(key.text).or_insert_with(|| {
                    p.answers.push(key.text);
                    p.sentences.push(Vec::new());
                    p.answers.len() - 1
                });
                p.sentences[a].push((k, (start as usize, end as usize)));
            }
            (Made::Embedded, _) => {
                p.plain_at.insert(key.text, k);
            }
            _ => {}
        }
    }
    p
}

/// The passes over whole answers that give their sentences' vectors in
/// context (and the answers' own): fills `out` and `done` at their places.
fn in_context(
    embedder: &mut dyn Embedder,
    batch_size: usize,
    sink: &mut Sink<'_>,
    out: &mut [f32],
    done: &mut [bool],
) -> Result<()> {
    let dim = embedder.dimension();
    let Passes {
        answers,
        sentences,
        plain_at,
    } = passes(sink.plan, sink.todo);
    if answers.is_empty() {
        return Ok(());
    }
    log::debug!(
        "embedding: {} answers read with their sentences in context",
        answers.len()
    );
    let max_length = embedder.identity().settings.max_length;
    for batch in batches_by_length(&answers, max_length, batch_size) {
        // The places this call fills; skipped when all were checkpointed.
        let gives: Vec<usize> = batch
            .iter()
            .flat_map(|&a| {
                let whole = plain_at.get(answers[a]).copied();
                whole
                    .into_iter()
                    .chain(sentences[a].iter().map(|&(k, _)| k))
            })
            .filter(|&k| !done[k])
            .collect();
        if sink.passes_done(batch.iter().map(|&a| answers[a])) {
            for k in gives {
                if let Some(v) = sink.resume_one(k) {
                    out[k * dim..(k + 1) * dim].copy_from_slice(&v);
                    done[k] = true;
                }
            }
            continue;
        }
        let texts: Vec<&str> = batch.iter().map(|&a| answers[a]).collect();
        let spans: Vec<Vec<(usize, usize)>> = batch
            .iter()
            .map(|&a| sentences[a].iter().map(|&(_, span)| span).collect())
            .collect();
        let read = embedder.embed_in_context(&texts, &spans)?;
        if read.len() != batch.len() {
            return Err(Error::Embed(format!(
                "model read {} of {} answers",
                read.len(),
                batch.len()
            )));
        }
        for (&a, r) in batch.iter().zip(&read) {
            sink.pass_made(answers[a], &r.whole);
        }
        // Each text's vector, set once.
        let mut n = 0;
        let mut set = |k: usize, v: &[f32]| -> Result<()> {
            if done[k] {
                return Ok(());
            }
            if v.len() != dim {
                return Err(Error::Embed(format!(
                    "model returned a {}-d vector, expected {dim}",
                    v.len()
                )));
            }
            out[k * dim..(k + 1) * dim].copy_from_slice(v);
            done[k] = true;
            sink.made(k, v);
            n += 1;
            Ok(())
        };
        for (&a, r) in batch.iter().zip(&read) {
            if let Some(&k) = plain_at.get(answers[a]) {
                set(k, &r.whole)?;
            }
            for (&(k, _), v) in sentences[a].iter().zip(&r.spans) {
                if let Some(v) = v {
                    set(k, v)?;
                }
            }
        }
        sink.call_done(n);
    }
    Ok(())
}
