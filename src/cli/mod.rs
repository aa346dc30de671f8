//! The binary's own layer: the command line ([`args`], clap) and what the
//! commands print ([`render`]). The library below names no flag; messages
//! that point at one are made here.

mod args;
pub mod render;

pub use args::*;
