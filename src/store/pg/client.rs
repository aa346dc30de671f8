//! A blocking PostgreSQL client with a deadline on everything it waits for.
//!
//! The `postgres` crate's blocking client waits as long as the server makes
//! it: a server that accepts the connection and never answers (frozen, or a
//! listener that never speaks) hangs it for ever, whatever `connect_timeout`
//! says (that bounds the TCP connect only). This client runs
//! `tokio-postgres` on a runtime of its own and bounds each wait: the
//! connection and its login by the connect deadline, each statement by the
//! connection's statement deadline. When one passes, the connection is
//! dropped (its socket closed) and the caller gets [`PgError::TimedOut`].

use std::future::Future;
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row, Statement};

/// Why a call failed: the server said so, or it said nothing in time.
#[derive(Debug)]
pub(super) enum PgError {
    Pg(tokio_postgres::Error),
    /// The connection's runtime could not start (out of threads or memory).
    Runtime(std::io::Error),
    TimedOut {
        /// What was waited for ("connecting", "a statement").
        what: &'static str,
        after: Duration,
    },
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        PgError::Pg(e)
    }
}

pub(super) type PgResult<T> = std::result::Result<T, PgError>;

/// A connection and the runtime that drives it.
pub(crate) struct Client {
    rt: tokio::runtime::Runtime,
    inner: tokio_postgres::Client,
    /// The longest one statement (or transaction) may wait for its reply.
    deadline: Duration,
    /// Set once a deadline passed: the connection is not used again.
    broken: std::cell::Cell<bool>,
}

impl Client {
    /// Connects and logs in within `connect`; statements then wait up to
    /// `deadline` each.
    pub(super) fn connect(
        config: &tokio_postgres::Config,
        connect: Duration,
        deadline: Duration,
    ) -> PgResult<Client> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(PgError::Runtime)?;
        let (inner, connection) = rt
            .block_on(async { tokio::time::timeout(connect, config.connect(NoTls)).await })
            .map_err(|_| PgError::TimedOut {
                what: "connecting and logging in",
                after: connect,
            })??;
        // Driven whenever the runtime runs (each call below); it ends when
        // the client is dropped or the server closes the connection.
        rt.spawn(async move {
            if let Err(e) = connection.await {
                log::debug!("store connection ended: {e}");
            }
        });
        Ok(Client {
            rt,
            inner,
            deadline,
            broken: std::cell::Cell::new(false),
        })
    }

    /// Runs `work` on the connection's runtime within the deadline; past
    /// it, the connection is marked broken (the pool drops it).
    fn run<T>(&self, what: &'static str, work: impl Future<Output = PgResult<T>>) -> PgResult<T> {
        within(&self.rt, &self.broken, self.deadline, what, work)
    }

    /// True when the connection cannot be used again.
    pub(super) fn is_closed(&self) -> bool {
        self.broken.get() || self.inner.is_closed()
    }

    pub(super) fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> PgResult<Vec<Row>> {
        self.run("a statement", async {
            Ok(self.inner.query(sql, params).await?)
        })
    }

    pub(super) fn query_statement(
        &self,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> PgResult<Vec<Row>> {
        self.run("a statement", async {
            Ok(self.inner.query(statement, params).await?)
        })
    }

    pub(super) fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> PgResult<Row> {
        self.run("a statement", async {
            Ok(self.inner.query_one(sql, params).await?)
        })
    }

    pub(super) fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> PgResult<Option<Row>> {
        self.run("a statement", async {
            Ok(self.inner.query_opt(sql, params).await?)
        })
    }

    pub(super) fn batch_execute(&self, sql: &str) -> PgResult<()> {
        self.run("a statement", async {
            Ok(self.inner.batch_execute(sql).await?)
        })
    }

    pub(super) fn prepare(&self, sql: &str) -> PgResult<Statement> {
        self.run("a statement", async { Ok(self.inner.prepare(sql).await?) })
    }

    /// Runs `body` in a transaction, under one deadline for the whole of
    /// it; commits when the body returns `Ok`, rolls back otherwise (and
    /// when the deadline passes: the server rolls back a transaction whose
    /// connection closed). The outer result is the transaction's, the inner
    /// the body's.
    pub(super) fn transaction<T, E>(
        &mut self,
        body: impl AsyncFnOnce(&tokio_postgres::Transaction<'_>) -> Result<T, E>,
    ) -> PgResult<Result<T, E>> {
        let deadline = self.deadline;
        let inner = &mut self.inner;
        let work = async move {
            let tx = inner.transaction().await?;
            match body(&tx).await {
                Ok(value) => {
                    tx.commit().await?;
                    Ok(Ok(value))
                }
                Err(e) => Ok(Err(e)),
            }
        };
        within(&self.rt, &self.broken, deadline, "a transaction", work)
    }
}

/// Runs `work` on `rt` for at most `deadline`; past it, marks the
/// connection `broken` and says what timed out.
fn within<T>(
    rt: &tokio::runtime::Runtime,
    broken: &std::cell::Cell<bool>,
    deadline: Duration,
    what: &'static str,
    work: impl Future<Output = PgResult<T>>,
) -> PgResult<T> {
    match rt.block_on(async { tokio::time::timeout(deadline, work).await }) {
        Ok(r) => r,
        Err(_) => {
            broken.set(true);
            Err(PgError::TimedOut {
                what,
                after: deadline,
            })
        }
    }
}
