//! qasearch: local semantic search over question-and-answer corpora.
//!
//! The pipeline, one folder a step (docs/architecture.md has the map and
//! what each folder may import):
//! 1. [`corpus`] reads `.txt` / `.jsonl` documents into Q&A pairs and cuts
//!    each answer into sentences;
//! 2. [`model`] resolves the model's pinned files and embeds texts into unit
//!    vectors (fastembed and ONNX Runtime);
//! 3. [`index`] holds what an index is made of (the HNSW graph, the lexical
//!    postings, the recorded settings), which [`store`] keeps as generations
//!    of a folder or in PostgreSQL;
//! 4. [`search`] embeds a question and fuses its views into the best pairs;
//! 5. [`indexer`] builds a new generation from a corpus (embedding only what
//!    changed, calibrating with search); [`eval`] scores it all, and
//!    [`serve`] answers over HTTP and MCP.
//!
//! [`engine::Engine`] ties these together for every front end: it opens,
//! builds or refreshes the index, applies the fallbacks, and answers.
//!
//! ```
//! use qasearch::model::embed::HashEmbedder;
//! use qasearch::indexer::{self, IndexConfig};
//! use qasearch::progress::NoProgress;
//! use qasearch::search::{self, SearchConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let data = dir.path().join("data");
//! std::fs::create_dir(&data)?;
//! std::fs::write(
//!     data.join("bikes.txt"),
//!     "City bikes.\nHow much is a day pass?\nA day pass costs five euros.\n",
//! )?;
//! // A deterministic stand-in for the real model keeps this example offline.
//! let mut embedder = HashEmbedder::new(64);
//! let index = dir.path().join("index");
//! indexer::build(&data, &index, &mut embedder, &IndexConfig::default(), &mut NoProgress)?;
//! let snapshot = qasearch::store::open(&index)?;
//! let answers = search::ask(&snapshot, &mut embedder, "price of a day pass", &SearchConfig::default())?;
//! assert_eq!(answers[0].question, "How much is a day pass?");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod error;
pub mod progress;
pub mod safe_fs;

pub mod corpus;
pub mod engine;
pub mod eval;
pub mod index;
pub mod indexer;
pub mod model;
pub mod search;
pub mod serve;
pub mod store;

pub use error::{Error, Result};
