//! End-to-end tests of the `qasearch` binary with the real model.

mod bad_corpus;
mod bad_input;
mod browser;
mod e2e;
mod embed;
mod eval;
mod export;
mod formats;
mod graph_updates;
mod hostile;
mod install;
mod languages;
mod lexical_updates;
mod pg;
mod pg_hostile;
mod planted;
mod preset;
mod rebuild;
mod resume;
mod retrieval;
mod segments;
mod serve;
mod serve_limits;
mod sparse;
mod tidy;
mod util;
