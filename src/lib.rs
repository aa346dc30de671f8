//! qasearch: local semantic search over question-and-answer corpora.
//!
//! The pipeline, one module a step:
//! 1. [`corpus`] reads `.txt` / `.jsonl` documents into Q&A pairs;
//! 2. [`split`] cuts each answer into sentences;
//! 3. [`embed`] turns sentences into unit vectors (the real model through
//!    fastembed and ONNX Runtime, files from [`model`]);
//! 4. [`indexer`] stores vectors, metadata and an HNSW graph ([`ann`], [`mmap_graph`])
//!    as a new generation of the index folder ([`store`]);
//! 5. [`search`] embeds a question and returns the best pairs; [`eval`] scores it.
//!
//! [`engine::Engine`] ties these together for every front end: it opens,
//! builds or refreshes the index, applies the fallbacks, and answers.
//!
//! ```
//! use qasearch::model::embed::HashEmbedder;
//! use qasearch::indexer::{self, IndexConfig, NoProgress};
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
