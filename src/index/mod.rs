//! What an index is made of, as data: the vectors' graph and the lexical
//! postings, and the retrieval settings a build records.
//!
//! Takes vectors and texts; gives searchable structures that [`crate::store`]
//! persists and [`crate::search`] queries. Imports only [`crate::corpus`]
//! (scripts, for lexical terms) and [`crate::model`] (the per-model defaults).

pub mod ann;
pub mod hnsw;
pub mod lexical;
pub mod mmap_graph;
pub mod settings;
