//! Fault injection for tests, compiled in only with the `failpoints` cargo
//! feature (as tantivy does): `cargo test --features failpoints` builds a
//! binary that stops a build at a named point when told to by the
//! environment; every other build ignores that environment.

/// The write step of the folder store to stop at (`QASEARCH_ABORT_AT_STEP`,
/// 1..=[`super::WRITE_STEPS`]).
#[cfg(feature = "failpoints")]
pub(crate) fn abort_at_step() -> Option<usize> {
    std::env::var("QASEARCH_ABORT_AT_STEP")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Without the feature: never.
#[cfg(not(feature = "failpoints"))]
pub(crate) fn abort_at_step() -> Option<usize> {
    None
}

/// Whether the PostgreSQL store stops a build just before its commit
/// (`QASEARCH_ABORT_BEFORE_COMMIT`).
#[cfg(feature = "failpoints")]
pub(crate) fn abort_before_commit() -> bool {
    std::env::var_os("QASEARCH_ABORT_BEFORE_COMMIT").is_some()
}

/// Without the feature: never.
#[cfg(not(feature = "failpoints"))]
pub(crate) fn abort_before_commit() -> bool {
    false
}
