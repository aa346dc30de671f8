//! How long work reports how far it has come: a build's stages (embedding,
//! the graph, writing), `eval`'s queries. The library reports; front ends
//! draw (the binary's bars, or nothing).

/// A stage of a build, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Embedding new sentences; counted in sentences.
    Embedding,
    /// Building or extending the HNSW graph; counted in rows.
    Graph,
    /// Encoding new or changed pairs for the sparse arm; counted in pairs.
    Sparse,
    /// Writing and syncing files.
    Writing,
    /// Running evaluation queries; counted in queries.
    Queries,
}

/// Receives progress of a build. All methods default to doing nothing.
pub trait Progress {
    /// A stage starts with `total` units of work.
    fn start(&mut self, _stage: Stage, _total: u64) {}
    /// `n` more units are done.
    fn advance(&mut self, _n: u64) {}
    /// The stage is over.
    fn finish(&mut self) {}
}

/// Progress that is not shown.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}
