//! A build's checkpoint in the database ([`crate::indexer::checkpoint`]):
//! one row a chunk in `qasearch_checkpoint`, each committed as it is
//! written, on a connection of its own (so the build's transaction, which
//! comes later, is not held open for hours). A killed build's row either
//! committed or never was. The table is made at the first checkpoint and
//! dropped once a generation is committed.

use super::client::{Client, PgError};
use super::Postgres;
use crate::error::Result;
use crate::store::checkpoint::Storage;

/// Rows read back a statement (a chunk is at most about 15 MB).
const PAGE: i64 = 8;

/// The checkpoint table of one store.
pub struct TableStorage {
    client: Client,
    location: String,
    made: bool,
}

impl Postgres {
    /// Where this store keeps a build's checkpoint.
    pub(crate) fn checkpoint_storage(&self) -> Result<Box<dyn Storage>> {
        Ok(Box::new(TableStorage {
            client: self.untimed("60s")?,
            location: format!("{} (table qasearch_checkpoint)", self.pool.location),
            made: false,
        }))
    }
}

fn io(e: PgError) -> std::io::Error {
    std::io::Error::other(match e {
        PgError::Pg(e) => e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_string()),
        PgError::TimedOut { what, after } => {
            format!("no reply within {} s ({what})", after.as_secs())
        }
        PgError::Runtime(e) => e.to_string(),
    })
}

impl Storage for TableStorage {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn load(
        &mut self,
        header: &[u8],
        each: &mut dyn FnMut(&[u8]),
    ) -> std::result::Result<(), String> {
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass('qasearch_checkpoint') IS NOT NULL", &[])
            .map_err(|e| format!("it cannot be read ({})", io(e)))?
            .get(0);
        if !exists {
            return Ok(());
        }
        self.made = true;
        let mut after = 0i64;
        loop {
            let rows = self
                .client
                .query(
                    "SELECT seq, header, chunk FROM qasearch_checkpoint WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&after, &PAGE],
                )
                .map_err(|e| format!("it cannot be read ({})", io(e)))?;
            if rows.is_empty() {
                return Ok(());
            }
            for row in rows {
                let held: &[u8] = row.get(1);
                if held != header {
                    return Err("it holds vectors of another model".into());
                }
                each(row.get(2));
                after = row.get(0);
            }
        }
    }

    fn append(&mut self, header: &[u8], chunk: &[u8]) -> std::io::Result<()> {
        if !self.made {
            self.client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS qasearch_checkpoint (
                       seq bigserial PRIMARY KEY,
                       header bytea NOT NULL,
                       chunk bytea NOT NULL)",
                )
                .map_err(io)?;
            self.made = true;
        }
        self.client
            .query(
                "INSERT INTO qasearch_checkpoint (header, chunk) VALUES ($1, $2)",
                &[&header, &chunk],
            )
            .map_err(io)?;
        Ok(())
    }

    fn clear(&mut self) -> std::io::Result<()> {
        if self.made {
            self.client
                .batch_execute("DROP TABLE IF EXISTS qasearch_checkpoint")
                .map_err(io)?;
            self.made = false;
        }
        Ok(())
    }
}
