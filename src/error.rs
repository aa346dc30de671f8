//! The library's error type and the process exit code each kind maps to.
//!
//! Every variant carries what a user needs to act: the file involved and, in
//! its message, the fix. [`Error::kind`] says what kind of failure it is; the
//! binary turns that into an exit code, a server into an HTTP status.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is: what a front end needs to decide
/// its exit code or HTTP status. (The binary maps kinds to the exit codes
/// README.md documents.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A value given by the caller is not acceptable.
    Usage,
    /// Input data is missing, unreadable or malformed.
    Data,
    /// The index is missing, damaged, or made by another format or model.
    Index,
    /// The model or its runtime cannot be obtained or loaded.
    Model,
    /// Another process is building the index.
    Busy,
    /// Writing failed (disk full, not writable).
    Io,
    /// A database store cannot be reached or used.
    Store,
    /// Something that should not happen.
    Internal,
}

/// What a user can do about a model or runtime problem. The library names
/// no flag or environment variable; a front end says how, in its terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelFix {
    /// Nothing beyond what the message says.
    None,
    /// Fix or drop a hand-supplied model file, tokenizer folder or runtime.
    FixSuppliedFile,
    /// Supply an ONNX Runtime library by hand.
    SupplyRuntime,
    /// Allow fetching, or supply the model, tokenizer and runtime by hand.
    AllowFetchOrSupply,
    /// Install pip (or name a Python that has it), or supply the files by hand.
    InstallPipOrSupply,
    /// Check the network, or supply the files by hand.
    NetworkOrSupply,
    /// Use the default model instead of a derived variant.
    UseDefaultModel,
    /// Allow fetching (a catalogued model fetched and made once).
    AllowFetch,
    /// Allow fetching to derive the variant, or use the default model.
    AllowFetchOrDefault,
    /// Install pip, or use the default model.
    InstallPipOrDefault,
    /// Files supplied by hand and a catalogued model (a variant, a converted
    /// model) were both given.
    ModelFileOrVariant,
}

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value given by the caller is not acceptable.
    #[error("{0}")]
    Usage(String),

    /// The data folder does not exist or is not a folder.
    #[error("data folder {} not found: create it and put .txt or .jsonl Q&A files in it", path.display())]
    DataMissing {
        /// The folder that was asked for.
        path: PathBuf,
    },

    /// The data folder holds no usable question-and-answer pair.
    #[error("no question-and-answer pairs found under {} ({skipped} skipped){why}\nadd files of a type qasearch reads ({supported}) in a format README.md describes", path.display())]
    EmptyCorpus {
        /// The data folder.
        path: PathBuf,
        /// How many files, lines or pairs were skipped with a warning.
        skipped: usize,
        /// The first warnings, each on a line of its own (empty when none).
        why: String,
        /// The file types qasearch reads.
        supported: &'static str,
    },

    /// An input file (evaluation set, question list) is malformed.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    BadInput {
        /// The file.
        path: PathBuf,
        /// The 1-based line, when one is to blame.
        line: Option<usize>,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The data folder exists but cannot be read.
    #[error("cannot read the data folder {}: {source}", path.display())]
    DataUnreadable {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The index folder is not one qasearch may write into, or the data and
    /// index folders overlap.
    #[error("{} cannot hold a qasearch index: {reason}", path.display())]
    NotAnIndex {
        /// The index folder.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// There is no index in the folder.
    #[error("no index at {}: run `qasearch index` to build one", path.display())]
    IndexMissing {
        /// The index folder.
        path: PathBuf,
    },

    /// An index file is truncated, damaged or unreadable.
    #[error("index file {} is damaged ({reason})", path.display())]
    IndexCorrupt {
        /// The damaged file.
        path: PathBuf,
        /// What the check found.
        reason: String,
    },

    /// The index was built by another format version or model.
    #[error("the index at {} was built with {what} {found}, but this qasearch uses {expected}", path.display())]
    Incompatible {
        /// The manifest that disagrees.
        path: PathBuf,
        /// What disagrees ("format version", "model").
        what: &'static str,
        /// What this build expects.
        expected: String,
        /// What the index records.
        found: String,
    },

    /// Another process is building the index.
    #[error("another qasearch is indexing into {} (lock {}): wait for it to finish, then run again", index.display(), lock.display())]
    Busy {
        /// The index folder.
        index: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },

    /// The model or runtime cannot be obtained or loaded.
    #[error("{message}")]
    Model {
        /// What is wrong.
        message: String,
        /// What the user can do about it, for a front end to word in its own
        /// terms (flags, settings).
        fix: ModelFix,
    },

    /// Embedding text failed inside the runtime.
    #[error("embedding failed: {0}")]
    Embed(String),

    /// The approximate-nearest-neighbour library failed.
    #[error("vector index {op} failed: {message}")]
    Ann {
        /// The operation ("dump", "load", "build").
        op: &'static str,
        /// The library's message.
        message: String,
    },

    /// An I/O error on a named file.
    #[error("{op} {}: {source}{}", path.display(), io_hint(source))]
    Io {
        /// What was being done ("reading", "writing", "creating").
        op: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A database store cannot be reached or used (see [`crate::store::pg`]).
    #[error("store {store}: {message}")]
    Store {
        /// The store's URL, without its password.
        store: String,
        /// What failed, and the fix where one is known.
        message: String,
    },

    /// A test-only abort injected at a numbered write step (see [`crate::store::WRITE_STEPS`]);
    /// made only by builds with the cargo feature `failpoints`.
    #[error("build aborted at write step {0} (test switch)")]
    InjectedAbort(usize),
}

fn io_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(28) => {
            " (the disk is full: free some space and run again; the previous index is intact)"
        }
        Some(27) => {
            " (a file size limit stops the write: raise `ulimit -f`; the previous index is intact)"
        }
        Some(13) | Some(30) => {
            " (not writable: fix the permissions or choose another index folder)"
        }
        _ => "",
    }
}

impl Error {
    /// Wraps an I/O error with the operation and the path it concerns.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A damaged-file error.
    pub fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::IndexCorrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Usage(_) | Error::NotAnIndex { .. } => ErrorKind::Usage,
            Error::DataMissing { .. }
            | Error::DataUnreadable { .. }
            | Error::EmptyCorpus { .. }
            | Error::BadInput { .. } => ErrorKind::Data,
            Error::IndexMissing { .. }
            | Error::IndexCorrupt { .. }
            | Error::Incompatible { .. } => ErrorKind::Index,
            Error::Model { .. } | Error::Embed(_) => ErrorKind::Model,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Io { .. } | Error::InjectedAbort(_) => ErrorKind::Io,
            Error::Ann { .. } => ErrorKind::Internal,
            Error::Store { .. } => ErrorKind::Store,
        }
    }
}

/// Whether an I/O error says the process or the machine ran out of a
/// resource (file descriptors, memory, buffers): not damage, and not the
/// file's fault; reported as such (exit 7), never as a damaged index.
pub fn is_exhaustion(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::OutOfMemory {
        return true;
    }
    #[cfg(unix)]
    if let Some(code) = e.raw_os_error() {
        return [libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::ENOBUFS].contains(&code);
    }
    false
}

/// Attaches a path to I/O results.
pub(crate) trait IoContext<T> {
    /// Converts an I/O error into [`Error::Io`] naming `path`.
    fn at(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

/// A setting a message points its reader to. The library names no flag of
/// its front ends: a front end says how it spells each setting
/// ([`name_settings`], once, at start); otherwise a setting shows its own
/// key, as `eval` and library users see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Where the database store is (a URL or connection string).
    Store,
    /// The index folder.
    Index,
    /// A full rebuild, re-embedding everything.
    FullBuild,
    /// Vectors supplied from an export.
    VectorsFrom,
    /// The host names the server answers to.
    AllowHost,
    /// The largest request body the server reads.
    MaxBodyBytes,
    /// How long the server waits for a body.
    BodyTimeout,
    /// The longest question the server takes.
    MaxQuestionChars,
    /// The most answers a request may ask for.
    MaxK,
    /// How long a request may take.
    RequestTimeout,
    /// The most connections the server holds open.
    MaxConnections,
    /// The most requests the server answers at once.
    MaxConcurrent,
    /// How long a request waits for a place.
    QueueWait,
}

impl Setting {
    /// The setting's own key.
    pub fn key(self) -> &'static str {
        match self {
            Setting::Store => "store",
            Setting::Index => "index",
            Setting::FullBuild => "full",
            Setting::VectorsFrom => "vectors_from",
            Setting::AllowHost => "allow_host",
            Setting::MaxBodyBytes => "max_body_bytes",
            Setting::BodyTimeout => "body_timeout_ms",
            Setting::MaxQuestionChars => "max_question_chars",
            Setting::MaxK => "max_k",
            Setting::RequestTimeout => "request_timeout_ms",
            Setting::MaxConnections => "max_connections",
            Setting::MaxConcurrent => "max_concurrent",
            Setting::QueueWait => "queue_wait_ms",
        }
    }
}

static SETTING_NAMES: std::sync::OnceLock<fn(Setting) -> &'static str> = std::sync::OnceLock::new();

/// How this process's front end spells each setting in messages (the
/// binary: its flags). The first call wins.
pub fn name_settings(names: fn(Setting) -> &'static str) {
    let _ = SETTING_NAMES.set(names);
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = SETTING_NAMES.get().map_or(self.key(), |names| names(*self));
        f.write_str(name)
    }
}

/// `n` and the noun it counts, for messages: "1 document", "2 documents"
/// (`plural` spelled out: "1 query", "2 queries").
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    match n {
        1 => format!("1 {singular}"),
        _ => format!("{n} {plural}"),
    }
}

#[cfg(test)]
mod count_tests {
    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(super::count(1, "document", "documents"), "1 document");
        assert_eq!(super::count(0, "document", "documents"), "0 documents");
        assert_eq!(super::count(2, "query", "queries"), "2 queries");
    }
}
