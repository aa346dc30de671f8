//! The tables and their vector indexes.

use super::*;

impl Postgres {
    /// Creates the extension (if it can) and the tables (if missing) for
    /// vectors of `dim` floats.
    pub(crate) fn ensure_schema(&self, client: &mut Client, dim: usize) -> Result<()> {
        let at = self.location();
        if let Some(schema) = &self.pool.schema {
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .map_err(|e| failed(at, "cannot create the schema", &e))?;
        }
        let has_vector: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')",
                &[],
            )
            .map_err(|e| failed(at, "cannot read the extensions", &e))?
            .get(0);
        if !has_vector {
            client.batch_execute("CREATE EXTENSION IF NOT EXISTS vector").map_err(|e| Error::Store {
                store: at.to_string(),
                message: format!(
                    "the database has no `vector` extension and cannot create it ({}): install pgvector on the server \
                     and run `CREATE EXTENSION vector;` as a superuser",
                    match &e {
                        PgError::Pg(e) => e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string()),
                        PgError::TimedOut { .. } => "no reply in time".to_string(),
                        PgError::Runtime(e) => e.to_string(),
                    }
                ),
            })?;
        }
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS qasearch_store (
                   one boolean PRIMARY KEY DEFAULT true CHECK (one),
                   schema_version int NOT NULL,
                   generation bigint NOT NULL,
                   model text NOT NULL,
                   dimension int NOT NULL,
                   updated timestamptz NOT NULL DEFAULT now(),
                   manifest jsonb NOT NULL,
                   meta bytea NOT NULL,
                   lexical bytea NOT NULL,
                   row_ids bytea NOT NULL);
                 CREATE TABLE IF NOT EXISTS qasearch_rows (
                   id bigint PRIMARY KEY,
                   key bytea NOT NULL UNIQUE,
                   kinds smallint NOT NULL,
                   text text NOT NULL,
                   embedding vector({dim}) NOT NULL);
                 CREATE TABLE IF NOT EXISTS qasearch_pairs (
                   id int PRIMARY KEY,
                   document text NOT NULL,
                   line int NOT NULL,
                   question text NOT NULL,
                   answer text NOT NULL);"
            ))
            .map_err(|e| failed(at, "cannot create the tables", &e))?;
        // A table made for another dimension (another model) is refused.
        let typed: String = client
            .query_one(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                 WHERE attrelid = 'qasearch_rows'::regclass AND attname = 'embedding'",
                &[],
            )
            .map_err(|e| failed(at, "cannot read the tables", &e))?
            .get(0);
        if typed != format!("vector({dim})") {
            return Err(Error::Incompatible {
                path: at.into(),
                what: "vector type",
                expected: format!("vector({dim})"),
                found: typed,
            });
        }
        Ok(())
    }
}

/// The HNSW index of each dense view: its name and the kinds it holds.
pub(super) const VIEW_INDEXES: [(&str, u8); 3] = [
    ("qasearch_rows_answers", 3),   // sentences and whole answers
    ("qasearch_rows_questions", 4), // stored questions
    ("qasearch_rows_passages", 8),  // sentences of passages
];

/// Advice when the view indexes (`index_bytes` in all) do not fit in the
/// server's `shared_buffers`: pgvector walks a graph page by page, and pages
/// not in PostgreSQL's own cache are read through the operating system (at
/// 100,000 vectors, 196 MB of indexes, warm p50 18.6–21.6 ms with 128 MB
/// against 15.6–16.7 ms with 1 GB; docs/postgres.md).
pub(super) fn buffer_advice(index_bytes: i64, shared_bytes: i64) -> Option<String> {
    if index_bytes <= shared_bytes {
        return None;
    }
    let mb = |b: i64| (b + (1 << 20) - 1) >> 20;
    // A quarter more than the indexes, in 64 MB steps: room for the rows the
    // answers are read from.
    let wanted = (mb(index_bytes) * 5 / 4 + 63) / 64 * 64;
    Some(format!(
        "the vector indexes ({} MB) do not fit in the server's shared_buffers ({} MB): \
         searches read their pages through the operating system and answer slower; \
         raise it (ALTER SYSTEM SET shared_buffers = '{wanted}MB'; then restart the server)",
        mb(index_bytes),
        mb(shared_bytes)
    ))
}

impl Postgres {
    /// [`buffer_advice`] for the store's view indexes now.
    pub(crate) fn cache_advice(&self) -> Result<Vec<String>> {
        let sizes: Vec<String> = VIEW_INDEXES
            .iter()
            .map(|(name, _)| format!("coalesce(pg_relation_size(to_regclass('{name}')), 0)"))
            .collect();
        let sql = format!(
            "SELECT ({})::bigint, pg_size_bytes(current_setting('shared_buffers'))::bigint",
            sizes.join(" + ")
        );
        let row = self.pool.with(
            |c| c.client.query_one(&sql, &[]),
            "cannot read the server's settings",
        )?;
        Ok(buffer_advice(row.get(0), row.get(1)).into_iter().collect())
    }

    /// Builds each view's HNSW index if it is missing or was left invalid
    /// (a build killed while making it), without blocking readers
    /// (`CONCURRENTLY`: until it is ready, a view's search scans its rows).
    pub(crate) fn ensure_indexes(
        &self,
        client: &mut Client,
        hnsw: &crate::index::ann::HnswParams,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        let at = self.location();
        let fail = |doing: &'static str| move |e: PgError| failed(at, doing, &e);
        let present: Vec<(String, bool)> = client
            .query(
                "SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                 WHERE i.indrelid = 'qasearch_rows'::regclass",
                &[],
            )
            .map_err(fail("cannot read the indexes"))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let missing: Vec<(&str, u8)> = VIEW_INDEXES
            .into_iter()
            .filter(|(name, _)| !present.iter().any(|(n, valid)| n == name && *valid))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let rows: i64 = client
            .query_one("SELECT count(*) FROM qasearch_rows", &[])
            .map_err(fail("cannot count the rows"))?
            .get(0);
        let dim: i32 = client
            .query_one("SELECT dimension FROM qasearch_store", &[])
            .map_err(fail("cannot read the store"))?
            .get(0);
        client
            .batch_execute(&format!(
                "SET maintenance_work_mem = '{}MB'; SET max_parallel_maintenance_workers = {}",
                (rows as usize * (dim as usize * 4 + 512) / (1 << 20) + 64).min(4096),
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .saturating_sub(1),
            ))
            .map_err(fail("cannot set up the index build"))?;
        progress.start(Stage::Graph, missing.len() as u64);
        for (name, mask) in missing {
            let t = Instant::now();
            // One statement a call: CONCURRENTLY refuses a transaction block.
            client
                .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
                .map_err(fail("cannot drop an invalid vector index"))?;
            client
                .batch_execute(&format!(
                    "CREATE INDEX CONCURRENTLY {name} ON qasearch_rows
                     USING hnsw (embedding vector_cosine_ops) WITH (m = {}, ef_construction = {})
                     WHERE kinds & {mask} <> 0",
                    hnsw.m, hnsw.ef_construction
                ))
                .map_err(fail("cannot build the vector index"))?;
            log::debug!("{name} built in {:.1} s", t.elapsed().as_secs_f64());
            progress.advance(1);
        }
        progress.finish();
        Ok(())
    }
}
