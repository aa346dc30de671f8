//! qasearch: local semantic search over question-and-answer corpora.
#![warn(missing_docs)]

pub mod ann;
pub mod beir;
pub mod corpus;
pub mod embed;
pub mod error;
pub mod eval;
pub mod flat;
pub mod indexer;
pub mod lexical;
pub mod model;
pub mod search;
pub mod split;
pub mod store;

pub use error::{Error, Result};
