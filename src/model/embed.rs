//! Turns text into unit-length vectors.
//!
//! [`Embedder`] is the seam between the engine and the model. [`OnnxEmbedder`]
//! runs the real model through fastembed and ONNX Runtime (this is the only
//! module that names `fastembed` or `ort`); [`HashEmbedder`] is a
//! deterministic bag-of-words stand-in for fast tests and doc examples.

use std::path::Path;

use crate::error::{Error, ModelFix, Result};
use crate::model::tokenizer::Familiarity;
use crate::model::{ModelFiles, ModelIdentity};

/// Texts per model call by default. With batches sorted by length, 16 was the
/// fastest on 2 cores for both models (default ~170, fast ~430 sentences/s;
/// 32: 165 and 390; 64: 142 and 310).
pub const DEFAULT_BATCH_SIZE: usize = 16;

/// Tokens (estimated from characters) per model call at most, when texts
/// are long: a batch of the longest texts is cut so that it pads to no more
/// than this, which bounds the runtime's working memory (attention grows with
/// the square of the length) without slowing short texts, which still go
/// [`DEFAULT_BATCH_SIZE`] at a time.
pub const TOKENS_PER_BATCH: usize = 2048;

/// Answers of up to this many tokens give their sentences' vectors from the
/// pass that embeds the whole answer (`--answer-vectors in-context`); the
/// sentences of longer ones are embedded alone. all-MiniLM-L6-v2 was trained
/// on texts of up to 128 tokens; past that, a sentence read in context lost
/// on German paragraphs (xquad-de-para −0.030 nDCG@10 without a limit,
/// −0.002 at 192, +0.0005 at 128; docs/benchmarks.md, "Whole-answer vectors").
pub const IN_CONTEXT_MAX_TOKENS: usize = 128;

/// What a text is to the model: a question looking for an answer, or a
/// passage to be found. Some models read the two differently (e5 wants
/// `"query: "` and `"passage: "` in front); see [`Embedder::embed_as`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A question: a user's, or one stored in the corpus.
    Query,
    /// An answer sentence or a whole answer.
    Passage,
}

/// Something that embeds text into L2-normalised vectors.
pub trait Embedder {
    /// Embeds a batch of texts as they are; one vector per text, each of
    /// [`Embedder::dimension`] floats.
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// Embeds texts of one role, with the model's prefix for it (none for
    /// models without such conventions).
    fn embed_as(&mut self, texts: &[&str], role: Role) -> Result<Vec<Vec<f32>>> {
        let prefix = self.identity().settings.prefix(role).to_string();
        if prefix.is_empty() {
            return self.embed_batch(texts);
        }
        let owned: Vec<String> = texts.iter().map(|t| format!("{prefix}{t}")).collect();
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        self.embed_batch(&refs)
    }
    /// True when [`Embedder::embed_in_context`] works for this model.
    fn reads_in_context(&self) -> bool {
        false
    }

    /// Embeds whole passages (with the model's passage prefix) and, from the
    /// same model pass, each of their `spans` (byte ranges of the text): a
    /// span's vector is the normalised mean of its tokens' states read in
    /// the context of the whole passage. Returns, per text, its vector and
    /// one per span — None for every span of a text longer than
    /// [`IN_CONTEXT_MAX_TOKENS`], and for a span without a token the model
    /// read. Only called when [`Embedder::reads_in_context`].
    fn embed_in_context(
        &mut self,
        _texts: &[&str],
        _spans: &[Vec<(usize, usize)>],
    ) -> Result<Vec<InContext>> {
        Err(Error::Embed(
            "this model cannot embed sentences in context".into(),
        ))
    }
    /// The vector length.
    fn dimension(&self) -> usize;
    /// What identifies this model and its settings.
    fn identity(&self) -> &ModelIdentity;
    /// The sparse arm's encoder, when the model was loaded with one
    /// ([`crate::model::sparse::WithSparse`]).
    fn sparse(&mut self) -> Option<&mut dyn crate::model::sparse::SparseEncoder> {
        None
    }
    /// How many of `texts`' words the model's vocabulary holds whole (see
    /// [`crate::model::tokenizer::familiarity`]); None for a model without
    /// a word-piece vocabulary to tell by.
    fn familiarity(&self, _texts: &[&str]) -> Result<Option<Familiarity>> {
        Ok(None)
    }
}

/// A passage's vector and its spans' vectors, read in one model pass (see
/// [`Embedder::embed_in_context`]).
#[derive(Debug, Clone, PartialEq)]
pub struct InContext {
    /// The whole passage's vector, as [`Embedder::embed_as`] gives it.
    pub whole: Vec<f32>,
    /// Each span's vector, None where it has none (see
    /// [`Embedder::embed_in_context`]).
    pub spans: Vec<Option<Vec<f32>>>,
}

/// Embeds many texts in batches of similar length (less padding), reporting
/// progress after each batch. Returns a row-major `texts.len() × dimension`
/// matrix in the order of `texts`.
pub fn embed_all(
    embedder: &mut dyn Embedder,
    texts: &[&str],
    role: Role,
    batch_size: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<f32>> {
    struct Report<'a>(&'a mut dyn FnMut(usize));
    impl Calls for Report<'_> {
        fn after(&mut self, call: &[usize], _vectors: &[Vec<f32>]) {
            (self.0)(call.len());
        }
    }
    embed_all_with(embedder, texts, role, batch_size, &mut Report(progress))
}

/// What happens around each model call of [`embed_all_with`]: a build
/// checkpoints what the model made, and a resumed build skips calls it has
/// the vectors of.
pub trait Calls {
    /// The vectors of a call's texts (indexes into the texts) when every one
    /// is at hand already: the model is not called.
    fn before(&mut self, _call: &[usize]) -> Option<Vec<Vec<f32>>> {
        None
    }
    /// After a call the model made, with its vectors.
    fn after(&mut self, call: &[usize], vectors: &[Vec<f32>]);
}

/// [`embed_all`] with [`Calls`] around each model call. The calls are the
/// same whichever are skipped ([`batches_by_length`] of all `texts`), so a
/// text's vector does not depend on which were.
pub fn embed_all_with(
    embedder: &mut dyn Embedder,
    texts: &[&str],
    role: Role,
    batch_size: usize,
    calls: &mut dyn Calls,
) -> Result<Vec<f32>> {
    let dim = embedder.dimension();
    let mut out = vec![0f32; texts.len() * dim];
    let mut put = |i: usize, v: &[f32]| out[i * dim..(i + 1) * dim].copy_from_slice(v);
    embed_each(embedder, texts, role, batch_size, calls, &mut put)?;
    Ok(out)
}

/// [`embed_all_with`] handing each text's vector to `put` (with its index
/// into `texts`) as its call returns, rather than gathering them: a caller
/// that fills a matrix of its own holds no second one (a full build at a
/// million pairs held three, 3 GB more at its peak than it needed).
pub fn embed_each(
    embedder: &mut dyn Embedder,
    texts: &[&str],
    role: Role,
    batch_size: usize,
    calls: &mut dyn Calls,
    put: &mut dyn FnMut(usize, &[f32]),
) -> Result<()> {
    let dim = embedder.dimension();
    let batches = batches_by_length(texts, embedder.identity().settings.max_length, batch_size);
    for chunk in &batches {
        let (vectors, made) = match calls.before(chunk) {
            Some(v) => (v, false),
            None => {
                let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
                (embedder.embed_as(&batch, role)?, true)
            }
        };
        if vectors.len() != chunk.len() {
            return Err(Error::Embed(format!(
                "model returned {} vectors for {} texts",
                vectors.len(),
                chunk.len()
            )));
        }
        for (&i, v) in chunk.iter().zip(&vectors) {
            if v.len() != dim {
                return Err(Error::Embed(format!(
                    "model returned a {}-d vector, expected {dim}",
                    v.len()
                )));
            }
            put(i, v);
        }
        if made {
            calls.after(chunk, &vectors);
        }
    }
    Ok(())
}

/// The model calls for `texts`: indexes into it, longest first (the
/// slowest batches run while the ETA is still rough), texts of similar
/// length together (less padding), at most `batch_size` a call and at most
/// [`TOKENS_PER_BATCH`] estimated tokens once padded.
pub fn batches_by_length(texts: &[&str], max_tokens: usize, batch_size: usize) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
    // About four characters a token; the model reads at most max_tokens.
    let tokens = |i: usize| {
        let t = texts[i].len() / 4 + 2;
        if max_tokens > 0 {
            t.min(max_tokens)
        } else {
            t
        }
    };
    let mut batches = Vec::new();
    let mut rest = &order[..];
    while !rest.is_empty() {
        // The first text of a batch is its longest (sorted): it sets the padding.
        let fit = (TOKENS_PER_BATCH / tokens(rest[0]).max(1)).clamp(1, batch_size);
        let (batch, tail) = rest.split_at(fit.min(rest.len()));
        batches.push(batch.to_vec());
        rest = tail;
    }
    batches
}

/// What a model session will mostly do; it tunes the runtime's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Answering questions one at a time: lowest latency.
    Interactive,
    /// Embedding a corpus: highest throughput.
    Bulk,
}

impl Workload {
    /// ONNX Runtime's `session.intra_op.allow_spinning` for it. Spinning
    /// worker threads answer one question sooner (p50 1.9 vs 2.6 ms on 2
    /// cores) but steal the core that tokenizes the next batch when indexing
    /// (sentences/s steadier and higher without).
    fn spinning(self) -> &'static str {
        match self {
            Workload::Interactive => "1",
            Workload::Bulk => "0",
        }
    }
}

/// The real model: all-MiniLM-L6-v2 (or a user-supplied one) on ONNX Runtime.
pub struct OnnxEmbedder {
    model: fastembed::TextEmbedding,
    identity: ModelIdentity,
    /// For a SentencePiece Unigram vocabulary (e5-small): texts become
    /// pieces here, and the model's tokenizer reads those (see
    /// [`crate::model::unigram`]).
    pieces: Option<std::sync::Arc<crate::model::unigram::Pieces>>,
}

impl std::fmt::Debug for OnnxEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxEmbedder")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// The largest model or tokenizer file read (an fp32 model of a billion
/// weights is 4 GB).
const MODEL_FILE_LIMIT: u64 = 8 << 30;

fn read(path: &Path) -> Result<Vec<u8>> {
    crate::safe_fs::read_user_file(path, MODEL_FILE_LIMIT).map_err(|e| Error::Model {
        fix: ModelFix::None,
        message: format!("cannot read model file {}: {e}", path.display()),
    })
}

impl OnnxEmbedder {
    /// Loads ONNX Runtime from `files.runtime`, then the model and tokenizer.
    ///
    /// A missing, broken or too old runtime is an [`Error::Model`], never a panic.
    pub fn load(files: &ModelFiles, threads: Option<usize>, workload: Workload) -> Result<Self> {
        Self::make(files, threads, workload, None)
    }

    /// Another session of the same model (a server's second core) with a
    /// copy of this one's tokenizer: copied, not parsed again (e5-small's
    /// 250,000-piece vocabulary takes about 0.2 s to read).
    pub fn another(
        &self,
        files: &ModelFiles,
        threads: Option<usize>,
        workload: Workload,
    ) -> Result<Self> {
        if files.identity != self.identity {
            return Err(Error::Model {
                fix: ModelFix::None,
                message: format!(
                    "another session of {} cannot be made from the files of {}",
                    self.identity.id(),
                    files.identity.id()
                ),
            });
        }
        Self::make(
            files,
            threads,
            workload,
            Some((&self.model.tokenizer, &self.pieces)),
        )
    }

    fn make(
        files: &ModelFiles,
        threads: Option<usize>,
        workload: Workload,
        tokenizer: Option<(
            &tokenizers::Tokenizer,
            &Option<std::sync::Arc<crate::model::unigram::Pieces>>,
        )>,
    ) -> Result<Self> {
        crate::model::mix::refuse_mix(files)?;
        let t = std::time::Instant::now();
        crate::model::runtime::load(&files.runtime)?;
        log::debug!(
            "runtime loaded in {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let tokenizer_files = match tokenizer {
            Some(_) => None,
            None => Some(fastembed::TokenizerFiles {
                tokenizer_file: read(&files.tokenizer[0])?,
                config_file: read(&files.tokenizer[1])?,
                special_tokens_map_file: read(&files.tokenizer[2])?,
                tokenizer_config_file: read(&files.tokenizer[3])?,
            }),
        };
        let settings = &files.identity.settings;
        let pooling = match settings.pooling.as_str() {
            "mean" => fastembed::Pooling::Mean,
            "cls" => fastembed::Pooling::Cls,
            other => {
                return Err(Error::Model {
                    fix: ModelFix::None,
                    message: format!("unknown pooling {other:?} in models/pins.json"),
                })
            }
        };
        let mut options = fastembed::InitOptionsUserDefined::new()
            .with_max_length(settings.max_length)
            .with_session_config("session.intra_op.allow_spinning", workload.spinning())
            .with_environment(crate::model::runtime::environment()?);
        if let Some(t) = threads {
            options = options.with_intra_threads(t.max(1));
        }
        let t = std::time::Instant::now();
        let cannot_load = |e: String| {
            Error::Model {
            fix: ModelFix::None,
            message: format!(
                "cannot load the model {} with its tokenizer ({e}): check the files, or delete {} to fetch them again",
                files.onnx.display(),
                files.onnx.parent().map_or_else(String::new, |p| p.display().to_string())
            ),
        }
        };
        // The runtime session and the tokenizer are the two slow parts of a
        // cold start: made on two threads, the session first with a stand-in
        // tokenizer that is then replaced. The tokenizer starts first, while
        // the model file is read (e5-small's is 76 MB).
        let (model, tokenizer) = std::thread::scope(|scope| {
            let tokenizer = scope.spawn(|| match (tokenizer, &tokenizer_files) {
                (Some((t, pieces)), _) => Ok((t.clone(), pieces.clone())),
                (None, Some(files)) => crate::model::tokenizer::load(files, settings.max_length)
                    .map(|(t, pieces)| (t, pieces.map(std::sync::Arc::new))),
                (None, None) => Err("no tokenizer".into()),
            });
            let model = read(&files.onnx).and_then(|onnx| {
                fastembed::TextEmbedding::try_new_from_user_defined(
                    fastembed::UserDefinedEmbeddingModel::new(
                        onnx,
                        crate::model::tokenizer::stand_in(),
                    )
                    .with_pooling(pooling),
                    options,
                )
                .map_err(|e| cannot_load(e.to_string()))
            });
            let tokenizer = tokenizer
                .join()
                .unwrap_or_else(|_| Err("the tokenizer loader failed".into()));
            (model, tokenizer)
        });
        let mut model = model?;
        let (tokenizer, pieces) = tokenizer.map_err(cannot_load)?;
        model.tokenizer = tokenizer;
        log::debug!(
            "session and tokenizer ready in {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        Ok(OnnxEmbedder {
            model,
            identity: files.identity.clone(),
            pieces,
        })
    }
}

/// Characters kept of a text per token of the model's window before
/// tokenizing. The model reads at most `max_length` tokens and a token holds
/// at least one character, mostly four or five; 32 per token keeps every
/// realistic text whole while a 50 MB answer or question costs no more than
/// a page (the tokenizer would otherwise hold gigabytes for one vector).
pub const CHARS_PER_TOKEN_KEPT: usize = 32;

/// The first `max_chars` characters of `text`.
pub fn clip(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

impl OnnxEmbedder {
    /// Whether each text must go to the model alone. A model of integer maths
    /// quantizes its activations with one scale per call (ONNX Runtime's
    /// `DynamicQuantizeLinear` is per tensor), so a text's vector would
    /// depend on the texts batched with it: 0.991-0.994 (cosine) between a
    /// sentence embedded alone and in a batch of five (docs/arithmetic.md).
    /// Alone, a text gets the same vector whether it is indexed, updated or
    /// asked; fp32 models are unaffected and keep their batches.
    fn one_text_a_call(&self) -> bool {
        self.identity.integer_maths()
    }

    /// One model call for all of `texts`.
    fn call(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let max_chars = self.identity.settings.max_length.max(1) * CHARS_PER_TOKEN_KEPT;
        let clipped: Vec<&str> = texts.iter().map(|t| clip(t, max_chars)).collect();
        match &self.pieces {
            Some(pieces) => {
                let pieced = clipped
                    .iter()
                    .map(|t| pieces.of(t))
                    .collect::<std::result::Result<Vec<String>, String>>()
                    .map_err(Error::Embed)?;
                pieces
                    .prepare(&mut self.model.tokenizer, &pieced)
                    .map_err(Error::Embed)?;
                self.model.embed(&pieced, Some(pieced.len()))
            }
            None => self.model.embed(&clipped, Some(clipped.len())),
        }
        .map_err(|e| Error::Embed(e.to_string()))
    }

    /// One model call for all of `texts`, keeping each one's token states.
    fn call_in_context(
        &mut self,
        texts: &[&str],
        spans: &[Vec<(usize, usize)>],
    ) -> Result<Vec<InContext>> {
        let settings = &self.identity.settings;
        let prefix = settings.prefix(Role::Passage).to_string();
        let max_chars = settings.max_length.max(1) * CHARS_PER_TOKEN_KEPT;
        let owned: Vec<String> = texts
            .iter()
            .map(|t| format!("{prefix}{}", clip(t, max_chars)))
            .collect();
        let fail = |e: String| Error::Embed(e);
        let encodings = self
            .model
            .tokenizer
            .encode_batch(owned.clone(), true)
            .map_err(|e| fail(e.to_string()))?;
        let output = self
            .model
            .transform(&owned, Some(owned.len()))
            .map_err(|e| fail(e.to_string()))?;
        let raw = output.into_raw();
        let batch = raw
            .first()
            .ok_or_else(|| fail("the model returned no output".into()))?;
        let keys = [
            fastembed::OutputKey::OnlyOne,
            fastembed::OutputKey::ByName("last_hidden_state"),
        ];
        let states = batch
            .select_output(&&keys[..])
            .map_err(|e| fail(e.to_string()))?;
        let shape = states.shape().to_vec();
        let dim = settings.dimension;
        if shape.len() != 3 || shape[0] != texts.len() || shape[2] != dim {
            return Err(fail(format!(
                "the model's token states have the shape {shape:?}, expected [{}, _, {dim}]",
                texts.len()
            )));
        }
        let seq = shape[1];
        // The offsets below are those of the tokens the model read.
        if encodings.iter().any(|e| e.get_ids().len() != seq) {
            return Err(fail(
                "the tokenizer's tokens and the model's token states disagree".into(),
            ));
        }
        let states = states.as_standard_layout();
        let data = states
            .as_slice()
            .ok_or_else(|| fail("the model's token states are not contiguous".into()))?;
        let mask = &batch.attention_mask_array;
        let cls = settings.pooling == "cls";
        let mut out = Vec::with_capacity(texts.len());
        for (i, enc) in encodings.iter().enumerate() {
            let token = |j: usize| &data[(i * seq + j) * dim..(i * seq + j + 1) * dim];
            let read = |j: usize| j < seq && mask[[i, j]] == 1;
            let text = TextStates {
                token: &token,
                read: &read,
                seq,
                dim,
            };
            let spans = spans.get(i).map(|s| s.as_slice()).unwrap_or_default();
            out.push(text.pool(enc, cls, spans, prefix.len())?);
        }
        Ok(out)
    }
}

/// The token states of one text of a batch.
struct TextStates<'a> {
    /// The state of token `j`.
    token: &'a dyn Fn(usize) -> &'a [f32],
    /// Whether the model read token `j` (inside the sequence, not padding).
    read: &'a dyn Fn(usize) -> bool,
    seq: usize,
    dim: usize,
}

impl TextStates<'_> {
    /// The normalised mean of `tokens`' states, None for no token.
    fn mean(&self, tokens: &mut dyn Iterator<Item = usize>) -> Option<Vec<f32>> {
        let mut sum = vec![0f32; self.dim];
        let mut n = 0;
        for j in tokens {
            sum.iter_mut()
                .zip((self.token)(j))
                .for_each(|(s, x)| *s += x);
            n += 1;
        }
        (n > 0).then(|| {
            crate::model::vector::normalize(&mut sum);
            sum
        })
    }

    /// The text's vector (its first token's state for CLS pooling, else the
    /// mean of all it read) and each span's: the mean of the tokens inside
    /// the span's bytes (shifted by the prefix), None past
    /// [`IN_CONTEXT_MAX_TOKENS`].
    fn pool(
        &self,
        enc: &tokenizers::Encoding,
        cls: bool,
        spans: &[(usize, usize)],
        prefix_len: usize,
    ) -> Result<InContext> {
        let read = self.read;
        let whole = if cls {
            let mut v = (self.token)(0).to_vec();
            crate::model::vector::normalize(&mut v);
            Some(v)
        } else {
            self.mean(&mut (0..self.seq).filter(|&j| read(j)))
        }
        .ok_or_else(|| Error::Embed("the model read no token of a text".into()))?;
        let long = (0..self.seq).filter(|&j| read(j)).count() > IN_CONTEXT_MAX_TOKENS;
        let offsets = enc.get_offsets();
        let special = enc.get_special_tokens_mask();
        let spans = spans
            .iter()
            .map(|&(a, b)| {
                if long {
                    return None;
                }
                let (a, b) = (a + prefix_len, b + prefix_len);
                self.mean(&mut (0..offsets.len()).filter(|&j| {
                    read(j)
                        && special[j] == 0
                        && offsets[j].1 > offsets[j].0
                        && offsets[j].0 >= a
                        && offsets[j].1 <= b
                }))
            })
            .collect();
        Ok(InContext { whole, spans })
    }
}

impl Embedder for OnnxEmbedder {
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        if !self.one_text_a_call() {
            return self.call(texts);
        }
        let mut out = Vec::with_capacity(texts.len());
        for text in texts {
            out.extend(self.call(std::slice::from_ref(text))?);
        }
        Ok(out)
    }

    fn reads_in_context(&self) -> bool {
        // e5-small's pieces are read from a text of pieces (crate::model::unigram),
        // whose offsets are not the text's. Giving them their offsets was
        // tried: its sentences read in context lost 0.041 nDCG@10 on the
        // bundled data (docs/benchmarks.md, "Whole-answer vectors"), so it reads them
        // alone.
        self.pieces.is_none()
    }

    fn embed_in_context(
        &mut self,
        texts: &[&str],
        spans: &[Vec<(usize, usize)>],
    ) -> Result<Vec<InContext>> {
        if !self.reads_in_context() {
            return Err(Error::Embed(
                "this model cannot embed sentences in context".into(),
            ));
        }
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        if !self.one_text_a_call() {
            return self.call_in_context(texts, spans);
        }
        let mut out = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let span = spans.get(i).map(std::slice::from_ref).unwrap_or_default();
            out.extend(self.call_in_context(std::slice::from_ref(text), span)?);
        }
        Ok(out)
    }

    fn dimension(&self) -> usize {
        self.identity.settings.dimension
    }

    fn identity(&self) -> &ModelIdentity {
        &self.identity
    }

    fn familiarity(&self, texts: &[&str]) -> Result<Option<Familiarity>> {
        // A SentencePiece vocabulary (e5-small's) is read from pieces made
        // here, not words: it has no word of its own to count.
        if self.pieces.is_some() {
            return Ok(None);
        }
        // What the model would read of each: a 20 MB answer is not
        // tokenized whole (see `call`).
        let max_chars = self.identity.settings.max_length.max(1) * CHARS_PER_TOKEN_KEPT;
        let clipped: Vec<&str> = texts.iter().map(|t| clip(t, max_chars)).collect();
        crate::model::tokenizer::familiarity(&self.model.tokenizer, &clipped)
            .map(Some)
            .map_err(Error::Embed)
    }
}

pub use super::hash_embedder::{read_in_context, HashEmbedder};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_all_keeps_input_order_across_sorted_batches() {
        let mut e = HashEmbedder::new(64);
        let texts = [
            "a",
            "a much longer text here",
            "mid text",
            "b",
            "another long one ok",
        ];
        let mut seen = 0;
        let m = embed_all(&mut e, &texts, Role::Passage, 2, &mut |n| seen += n).unwrap();
        assert_eq!(seen, texts.len());
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(&m[i * 64..(i + 1) * 64], e.vector(t).as_slice());
        }
    }

    /// Records the size of every batch it is given.
    struct Recorder {
        inner: HashEmbedder,
        batches: Vec<usize>,
    }
    impl Embedder for Recorder {
        fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            self.batches.push(texts.len());
            self.inner.embed_batch(texts)
        }
        fn dimension(&self) -> usize {
            self.inner.dimension()
        }
        fn identity(&self) -> &ModelIdentity {
            self.inner.identity()
        }
    }

    #[test]
    fn long_texts_go_in_smaller_batches() {
        let mut inner = HashEmbedder::new(8);
        inner.identity.settings.max_length = 256;
        let mut e = Recorder {
            inner,
            batches: Vec::new(),
        };
        let long = "word ".repeat(400); // past the 256-token window
        let short = "a short sentence of some words";
        let mut texts = vec![long.as_str(); 20];
        texts.extend(std::iter::repeat_n(short, 40));
        embed_all(&mut e, &texts, Role::Passage, 16, &mut |_| {}).unwrap();
        // 2048 tokens / 256 = 8 long texts a call; short ones 16 at a time.
        assert_eq!(e.batches, [8, 8, 8, 16, 16, 4]);
    }

    #[test]
    fn clip_keeps_whole_characters() {
        assert_eq!(clip("héllo", 2), "hé");
        assert_eq!(clip("héllo", 5), "héllo");
        assert_eq!(clip("héllo", 50), "héllo");
        assert_eq!(clip("", 3), "");
    }

    #[test]
    fn hash_vectors_are_unit_length_and_lexical() {
        let e = HashEmbedder::new(128);
        let a = e.vector("the cat sat");
        let n: f32 = a.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-5);
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f32>();
        assert!(dot(&a, &e.vector("The cat sat!")) > 0.999);
        assert!(dot(&a, &e.vector("cat")) > dot(&a, &e.vector("dog")));
    }
}
