//! The binary's own layer: the command line ([`args`], clap) and what the
//! commands print ([`render`]). The library below names no flag; messages
//! that point at one are made here.

mod args;
mod bar;
pub mod generate;
pub mod render;

pub use args::*;
pub use bar::Bar;

use qasearch::error::Setting;

/// How this command line spells each setting the library's messages point
/// to (installed with [`qasearch::error::name_settings`] at start).
pub fn flag_of(setting: Setting) -> &'static str {
    match setting {
        Setting::Store => "--store",
        Setting::Index => "--index",
        Setting::FullBuild => "index --full",
        Setting::VectorsFrom => "--vectors-from",
        Setting::AllowHost => "--allow-host",
        Setting::MaxBodyBytes => "--max-body-bytes",
        Setting::BodyTimeout => "--body-timeout-ms",
        Setting::MaxQuestionChars => "--max-question-chars",
        Setting::MaxK => "--max-k",
        Setting::RequestTimeout => "--request-timeout-ms",
        Setting::MaxConnections => "--max-connections",
        Setting::MaxConcurrent => "--max-concurrent",
        Setting::QueueWait => "--queue-wait-ms",
    }
}
