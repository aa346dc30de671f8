//! The PostgreSQL store: the same generations as the index folder, in a
//! database with pgvector, searched there. The Postgres crates are used here
//! and nowhere else; the engine sees a [`crate::backend::Store`].
//!
//! Schema version 1 (created by the first `index --store URL`, in the first
//! schema of the connection's `search_path`):
//!
//! ```sql
//! qasearch_store  -- one row: the generation answering now
//!   schema_version int, generation bigint, model text, dimension int,
//!   updated timestamptz,
//!   manifest jsonb,   -- what manifest.json holds in a folder (model, settings,
//!                     -- counts, corpus fingerprints, fusion, abstention)
//!   meta bytea,       -- bincode: documents, pairs, where each text occurs
//!   lexical bytea,    -- bincode: the lexical arm's inverted index
//!   row_ids bytea     -- for each row of meta, its qasearch_rows.id (i64 LE; -1: none)
//! qasearch_rows   -- one row per distinct text, shared by generations
//!   id bigint primary key, key bytea unique (SHA-256 of how + text),
//!   kinds smallint (1 sentence, 2 whole answer, 4 stored question),
//!   text text, embedding vector(D)
//!   HNSW (vector_cosine_ops) on rows where kinds & 3 <> 0 (answers view)
//!   and on rows where kinds & 4 <> 0 (questions view)
//! qasearch_pairs  -- the pairs of the generation answering, for SQL users
//!   id int, document text, line int, question text, answer text
//! ```
//!
//! A build runs in one transaction: rows whose text is new are inserted,
//! rows no pair holds are deleted, and the store row switches to the new
//! generation at commit. A kill at any point rolls it back, and readers see
//! the previous generation until the commit (a reader still on it after the
//! commit skips rows that are gone, and switches on its next refresh). One
//! builder at a time: a session-level advisory lock, released when its
//! connection closes (also when killed).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pgvector::Vector;
use postgres::{Client, Config, NoTls};
use sha2::{Digest, Sha256};

use crate::ann::Hit;
use crate::corpus::{Corpus, Warning};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::indexer::{self, GraphMode, IndexConfig, IndexSummary, Progress, Stage};
use crate::store::{self, Kind, Manifest, Meta, RemoteRows, Snapshot};

/// Version of the tables above; bump it (and note it in CHANGELOG.md) when they change.
pub const SCHEMA_VERSION: i32 = 1;
/// The advisory lock a builder holds ("qasearch" in ASCII).
pub const LOCK_KEY: i64 = 0x7161_7365_6172_6368;
/// How long a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a reader's statement may take.
const READ_TIMEOUT: &str = "30s";
/// The widest HNSW search pgvector runs; a wider one scans.
const MAX_EF: usize = 1000;

/// The URL with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest = &out[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                if colon + 1 < at {
                    let from = scheme_end + 3 + colon + 1;
                    out.replace_range(from..scheme_end + 3 + at, "***");
                }
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// A store error: what failed, with the fix where one is known.
fn failed(location: &str, doing: &str, e: &postgres::Error) -> Error {
    use postgres::error::SqlState;
    let detail = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    };
    let hint = match e.code() {
        Some(c) if *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
            ": the server refused the login; check the user and password in the URL"
        }
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => {
            ": no such database; create it (createdb) or name another in the URL"
        }
        Some(c) if *c == SqlState::QUERY_CANCELED => {
            ": the statement took too long (statement_timeout); try again, or look at the server's load"
        }
        Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE => {
            ": a table is locked by a build; try again when it ends"
        }
        Some(_) => "",
        None if e.is_closed() => ": the connection closed; is the server running?",
        None => ": is the server running, and are the host and port in the URL right?",
    };
    Error::Store {
        store: location.to_string(),
        message: format!("{doing}: {detail}{hint}"),
    }
}

/// Connections to one database, reused between statements.
struct Pool {
    config: Config,
    location: String,
    /// The schema the tables live in, when named (created by a build).
    schema: Option<String>,
    free: Mutex<Vec<Conn>>,
}

impl Drop for Pool {
    /// Closes the connections on a thread of their own: closing blocks on
    /// the connection's runtime, which must not run inside another one (a
    /// server's last reference may go on one of its async workers).
    fn drop(&mut self) {
        let free = std::mem::take(self.free.get_mut().unwrap_or_else(|p| p.into_inner()));
        if !free.is_empty() {
            let _ = std::thread::spawn(move || drop(free)).join();
        }
    }
}

/// A connection and the search breadth it is set to.
struct Conn {
    client: Client,
    ef: usize,
}

impl Pool {
    fn connect(&self) -> Result<Conn> {
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|e| failed(&self.location, "cannot connect", &e))?;
        client
            .batch_execute(&format!(
                "SET statement_timeout = '{READ_TIMEOUT}'; SET lock_timeout = '10s'"
            ))
            .map_err(|e| failed(&self.location, "cannot set up the connection", &e))?;
        Ok(Conn { client, ef: 0 })
    }

    /// Runs `f` with a free connection (a new one if none is free); a
    /// connection that failed is dropped rather than reused.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> std::result::Result<T, postgres::Error>,
        doing: &str,
    ) -> Result<T> {
        let taken = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match taken {
            Some(c) if !c.client.is_closed() => c,
            _ => self.connect()?,
        };
        match f(&mut conn) {
            Ok(v) => {
                self.free
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(conn);
                Ok(v)
            }
            Err(e) => Err(failed(&self.location, doing, &e)),
        }
    }
}

/// The PostgreSQL store at a URL.
pub struct Postgres {
    pool: std::sync::Arc<Pool>,
    /// An index folder whose vectors a build may take instead of embedding
    /// (moving an index into the database re-embeds nothing).
    seed: Option<PathBuf>,
    /// When the last build committed (its rows answering from then on).
    committed: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("location", &self.pool.location)
            .field("seed", &self.seed)
            .finish()
    }
}

impl Postgres {
    /// Connects (within 5 s) to check the URL, the server and the login.
    /// With `schema`, the tables live in that schema (created by a build),
    /// as if the URL set it first on the `search_path`.
    pub fn connect(url: &str, schema: Option<&str>) -> Result<Postgres> {
        let location = match schema {
            Some(s) => format!("{} (schema {s})", redact(url)),
            None => redact(url),
        };
        let mut config: Config = url.parse().map_err(|e: postgres::Error| {
            Error::Usage(format!(
                "{location} is not a PostgreSQL URL ({e}): write it as \
                 postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or ?host=/socket/dir for a Unix socket)"
            ))
        })?;
        if let Some(schema) = schema {
            if schema.is_empty()
                || !schema
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(Error::Usage(format!(
                    "schema names are lowercase letters, digits and _: {schema:?}"
                )));
            }
            let options = config.get_options().unwrap_or_default().to_string();
            config.options(&format!("{options} -c search_path={schema},public"));
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("qasearch");
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        let pool = Pool {
            config,
            location,
            free: Mutex::new(Vec::new()),
            schema: schema.map(str::to_string),
        };
        let first = pool.connect()?;
        pool.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(first);
        Ok(Postgres {
            pool: std::sync::Arc::new(pool),
            seed: None,
            committed: Mutex::new(None),
        })
    }

    /// Lets builds take vectors from the index folder at `dir`, when it holds
    /// an index of the same model.
    pub fn with_seed(mut self, dir: impl Into<PathBuf>) -> Postgres {
        self.seed = Some(dir.into());
        self
    }

    fn location(&self) -> &str {
        &self.pool.location
    }

    /// When this store's last build committed: its rows answered from then
    /// on, before a first load's vector indexes were built (for benches).
    pub fn committed_at(&self) -> Option<Instant> {
        *self.committed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store row's schema version and manifest, if there is a store row.
    fn state(&self) -> Result<Option<(i32, serde_json::Value)>> {
        self.pool.with(
            |c| {
                let exists: bool = c
                    .client
                    .query_one("SELECT to_regclass('qasearch_store') IS NOT NULL", &[])?
                    .get(0);
                if !exists {
                    return Ok(None);
                }
                Ok(c.client
                    .query_opt("SELECT schema_version, manifest FROM qasearch_store", &[])?
                    .map(|r| (r.get(0), r.get(1))))
            },
            "cannot read the store",
        )
    }

    fn manifest_of(&self, schema: i32, json: serde_json::Value) -> Result<Manifest> {
        if schema != SCHEMA_VERSION {
            return Err(Error::Incompatible {
                path: self.location().into(),
                what: "store schema version",
                expected: SCHEMA_VERSION.to_string(),
                found: schema.to_string(),
            });
        }
        let format = json.get("format_version").and_then(|v| v.as_u64());
        if format != Some(store::FORMAT_VERSION as u64) {
            return Err(Error::Incompatible {
                path: self.location().into(),
                what: "format version",
                expected: store::FORMAT_VERSION.to_string(),
                found: format.map_or("none".into(), |v| v.to_string()),
            });
        }
        serde_json::from_value(json)
            .map_err(|e| Error::corrupt(self.location(), format!("manifest: {e}")))
    }

    /// The current generation without its vectors: manifest, metadata,
    /// lexical index and each row's id.
    fn read_generation(&self) -> Result<(Manifest, Meta, crate::lexical::LexicalIndex, Vec<i64>)> {
        let row = self.pool.with(
            |c| {
                c.client.query_opt(
                    "SELECT schema_version, manifest, meta, lexical, row_ids FROM qasearch_store",
                    &[],
                )
            },
            "cannot read the store",
        )?;
        let Some(row) = row else {
            return Err(Error::IndexMissing {
                path: self.location().into(),
            });
        };
        let manifest = self.manifest_of(row.get(0), row.get(1))?;
        let at = self.location();
        let meta_bytes: Vec<u8> = row.get(2);
        let mut meta: Meta =
            store::decode(&meta_bytes).map_err(|e| Error::corrupt(at, format!("meta: {e}")))?;
        drop(meta_bytes);
        store::check_meta(&meta).map_err(|e| Error::corrupt(at, format!("meta: {e}")))?;
        meta.index_rows();
        let lexical: crate::lexical::LexicalIndex = store::decode(row.get::<_, &[u8]>(3))
            .map_err(|e| Error::corrupt(at, format!("lexical: {e}")))?;
        lexical
            .validate(meta.pairs.len())
            .map_err(|e| Error::corrupt(at, format!("lexical: {e}")))?;
        let ids: &[u8] = row.get(4);
        if ids.len() != meta.rows as usize * 8 || meta.rows as usize != manifest.counts.rows {
            return Err(Error::corrupt(at, "row ids disagree with the metadata"));
        }
        let ids = ids
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("invariant: 8 bytes")))
            .collect();
        Ok((manifest, meta, lexical, ids))
    }

    /// The current generation with every vector in memory (what a build
    /// reuses).
    fn read_with_vectors(&self) -> Result<Snapshot> {
        let (manifest, meta, lexical, ids) = self.read_generation()?;
        let dim = manifest.model.settings.dimension;
        let row_of: HashMap<i64, usize> = ids
            .iter()
            .enumerate()
            .filter(|(_, &id)| id >= 0)
            .map(|(row, &id)| (id, row))
            .collect();
        let mut vectors = vec![0f32; ids.len() * dim];
        let mut found = vec![false; ids.len()];
        let rows = self.pool.with(
            |c| {
                c.client
                    .query("SELECT id, embedding FROM qasearch_rows", &[])
            },
            "cannot read the vectors",
        )?;
        for r in rows {
            let id: i64 = r.get(0);
            if let Some(&row) = row_of.get(&id) {
                let v: Vector = r.get(1);
                let v = v.as_slice();
                if v.len() != dim {
                    return Err(Error::corrupt(
                        self.location(),
                        format!("row {id} has {} floats, not {dim}", v.len()),
                    ));
                }
                vectors[row * dim..(row + 1) * dim].copy_from_slice(v);
                found[row] = true;
            }
        }
        if let Some(row) = (0..ids.len()).find(|&r| ids[r] >= 0 && !found[r]) {
            return Err(Error::corrupt(
                self.location(),
                format!("row {} has no vector", ids[row]),
            ));
        }
        Ok(Snapshot::in_memory(
            manifest,
            meta,
            crate::mmap_graph::MmapGraph::empty(),
            lexical,
            vectors,
        ))
    }

    /// A connection of its own for a build: no statement timeout (graphs
    /// take minutes on large corpora), holding the builders' lock.
    fn writer(&self) -> Result<Client> {
        let at = self.location();
        let mut client = self
            .pool
            .config
            .connect(NoTls)
            .map_err(|e| failed(at, "cannot connect", &e))?;
        client
            .batch_execute("SET statement_timeout = 0; SET lock_timeout = '60s'")
            .map_err(|e| failed(at, "cannot set up the connection", &e))?;
        // A builder killed mid-statement: the server stops its work (and
        // frees the lock) within a second instead of when the statement ends.
        // (PostgreSQL 14 and later; older servers notice at the end.)
        let _ = client.batch_execute("SET client_connection_check_interval = '1s'");
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
            .map_err(|e| failed(at, "cannot take the builders' lock", &e))?
            .get(0);
        if !locked {
            return Err(Error::Busy {
                index: at.into(),
                lock: format!("advisory lock {LOCK_KEY}").into(),
            });
        }
        Ok(client)
    }

    /// Creates the extension (if it can) and the tables (if missing) for
    /// vectors of `dim` floats.
    fn ensure_schema(&self, client: &mut Client, dim: usize) -> Result<()> {
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
                    e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string())
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

    /// Writes `generation` (vectors in memory) as the next generation, in
    /// one transaction; returns its number.
    fn write(
        &self,
        client: &mut Client,
        generation: &mut Snapshot,
        progress: &mut dyn Progress,
    ) -> Result<u64> {
        let at = self.location();
        let fail = |doing: &'static str| {
            let at = at.to_string();
            move |e: postgres::Error| failed(&at, doing, &e)
        };
        let dim = generation.dimension();
        let meta = &generation.meta;
        let manifest = &generation.manifest;
        let pooled = manifest.answer_vectors == store::AnswerVectors::Pooled;
        let apart = manifest.model.settings.roles_differ();
        let model = manifest.model.id();
        let manifest_hnsw = manifest.hnsw;

        let t = Instant::now();
        let lap = |what: &str| {
            log::debug!("store write: {what} at {:.1} s", t.elapsed().as_secs_f64());
        };
        let mut tx = client.transaction().map_err(fail("cannot begin"))?;
        let previous: Option<i64> = tx
            .query_opt("SELECT generation FROM qasearch_store FOR UPDATE", &[])
            .map_err(fail("cannot read the store"))?
            .map(|r| r.get(0));
        let mut existing: HashMap<Vec<u8>, (i64, i16)> = HashMap::new();
        for r in tx
            .query("SELECT key, id, kinds FROM qasearch_rows", &[])
            .map_err(fail("cannot read the rows"))?
        {
            existing.insert(r.get(0), (r.get(1), r.get(2)));
        }
        let mut next_id = existing.values().map(|v| v.0).max().map_or(1, |m| m + 1);
        let mut row_ids = vec![-1i64; meta.row_count()];
        let mut kept: std::collections::HashSet<i64> = std::collections::HashSet::new();
        let mut new_rows: Vec<(i64, Vec<u8>, i16, usize)> = Vec::new();
        let (mut kind_ids, mut kind_values) = (Vec::new(), Vec::new());
        for (row, row_id) in row_ids.iter_mut().enumerate() {
            let Some((how, text)) = indexer::row_key_of(meta, pooled, apart, row) else {
                continue; // a hidden row: no pair holds it
            };
            let kinds = meta.occurrences_of(row).fold(0u8, |k, o| k | o.kind.bit()) as i16;
            let key = row_key_hash(&model, how, text);
            match existing.get(&key) {
                Some(&(id, old_kinds)) => {
                    *row_id = id;
                    kept.insert(id);
                    if old_kinds != kinds {
                        kind_ids.push(id);
                        kind_values.push(kinds);
                    }
                }
                None => {
                    *row_id = next_id;
                    new_rows.push((next_id, key, kinds, row));
                    next_id += 1;
                }
            }
        }
        let gone: Vec<i64> = existing
            .values()
            .map(|v| v.0)
            .filter(|id| !kept.contains(id))
            .collect();
        tx.execute("DELETE FROM qasearch_rows WHERE id = ANY($1)", &[&gone])
            .map_err(fail("cannot delete rows"))?;
        tx.execute(
            "UPDATE qasearch_rows SET kinds = k.kinds FROM unnest($1::bigint[], $2::smallint[]) AS k(id, kinds)
             WHERE qasearch_rows.id = k.id",
            &[&kind_ids, &kind_values],
        )
        .map_err(fail("cannot update rows"))?;

        // Into an empty table (a first load, another model), rows go in
        // before the graphs are built: much faster than inserting into
        // them, and nobody reads an empty table. Otherwise into the graphs,
        // so that readers keep the previous generation until the commit.
        let bulk = existing.len() == gone.len() && !new_rows.is_empty();
        if bulk {
            for (name, _) in VIEW_INDEXES {
                tx.batch_execute(&format!("DROP INDEX IF EXISTS {name}"))
                    .map_err(fail("cannot drop an index"))?;
            }
        }
        progress.start(Stage::Writing, new_rows.len() as u64);
        let vector_type = tx
            .prepare("SELECT $1::vector")
            .map_err(fail("cannot find the vector type"))?
            .params()[0]
            .clone();
        {
            use postgres::types::Type;
            let sink = tx
                .copy_in("COPY qasearch_rows (id, key, kinds, text, embedding) FROM STDIN BINARY")
                .map_err(fail("cannot load rows"))?;
            let mut w = postgres::binary_copy::BinaryCopyInWriter::new(
                sink,
                &[Type::INT8, Type::BYTEA, Type::INT2, Type::TEXT, vector_type],
            );
            for (i, (id, key, kinds, row)) in new_rows.iter().enumerate() {
                let text = meta.row_text(*row).unwrap_or_default();
                let v = Vector::from(generation.vector(*row).to_vec());
                w.write(&[id, key, kinds, &text, &v])
                    .map_err(fail("cannot load rows"))?;
                if i % 1024 == 1023 {
                    progress.advance(1024);
                }
            }
            w.finish().map_err(fail("cannot load rows"))?;
        }
        progress.finish();
        lap("rows loaded");
        tx.execute("DELETE FROM qasearch_pairs", &[])
            .map_err(fail("cannot replace the pairs"))?;
        {
            use postgres::types::Type;
            let sink = tx
                .copy_in(
                    "COPY qasearch_pairs (id, document, line, question, answer) FROM STDIN BINARY",
                )
                .map_err(fail("cannot load the pairs"))?;
            let mut w = postgres::binary_copy::BinaryCopyInWriter::new(
                sink,
                &[Type::INT4, Type::TEXT, Type::INT4, Type::TEXT, Type::TEXT],
            );
            for (i, p) in meta.pairs.iter().enumerate() {
                let doc = &meta.documents[p.doc as usize].key;
                w.write(&[&(i as i32), doc, &(p.line as i32), &p.question, &p.answer])
                    .map_err(fail("cannot load the pairs"))?;
            }
            w.finish().map_err(fail("cannot load the pairs"))?;
        }

        let number = previous
            .map_or(1, |g| g as u64 + 1)
            .max(generation.manifest.generation);
        generation.manifest.generation = number;
        let manifest_json =
            serde_json::to_value(&generation.manifest).map_err(|e| Error::Store {
                store: self.location().into(),
                message: format!("cannot encode the manifest: {e}"),
            })?;
        let ids: Vec<u8> = row_ids.iter().flat_map(|id| id.to_le_bytes()).collect();
        tx.execute(
            "INSERT INTO qasearch_store (one, schema_version, generation, model, dimension, updated, manifest, meta, lexical, row_ids)
             VALUES (true, $1, $2, $3, $4, now(), $5, $6, $7, $8)
             ON CONFLICT (one) DO UPDATE SET schema_version = $1, generation = $2, model = $3, dimension = $4,
               updated = now(), manifest = $5, meta = $6, lexical = $7, row_ids = $8",
            &[
                &SCHEMA_VERSION,
                &(number as i64),
                &generation.manifest.model.id(),
                &(dim as i32),
                &manifest_json,
                &store::encode(&generation.meta),
                &store::encode(&generation.lexical),
                &ids,
            ],
        )
        .map_err(fail("cannot write the store row"))?;
        lap("pairs and store row written");
        inject_abort()?;
        tx.commit().map_err(fail("cannot commit"))?;
        *self.committed.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        lap("committed");
        if bulk {
            log::info!(
                "{} rows committed in {:.1} s and answering (by scanning until the vector indexes are built)",
                new_rows.len(),
                t.elapsed().as_secs_f64()
            );
        }
        self.ensure_indexes(client, &manifest_hnsw, progress)?;
        lap("vector indexes ready");
        log::debug!(
            "store: {} rows inserted, {} deleted, {} retyped{}",
            new_rows.len(),
            gone.len(),
            kind_ids.len(),
            if bulk {
                " (vector indexes rebuilt)"
            } else {
                ""
            }
        );
        Ok(number)
    }
}

/// The HNSW index of each dense view: its name and the kinds it holds.
const VIEW_INDEXES: [(&str, u8); 2] = [
    ("qasearch_rows_answers", 3),   // sentences and whole answers
    ("qasearch_rows_questions", 4), // stored questions
];

impl Postgres {
    /// Builds each view's HNSW index if it is missing or was left invalid
    /// (a build killed while making it), without blocking readers
    /// (`CONCURRENTLY`: until it is ready, a view's search scans its rows).
    fn ensure_indexes(
        &self,
        client: &mut Client,
        hnsw: &crate::ann::HnswParams,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        let at = self.location();
        let fail = |doing: &'static str| move |e: postgres::Error| failed(at, doing, &e);
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

/// The test switch `QASEARCH_ABORT_BEFORE_COMMIT`: fail just before the commit.
fn inject_abort() -> Result<()> {
    if std::env::var_os("QASEARCH_ABORT_BEFORE_COMMIT").is_some() {
        return Err(Error::InjectedAbort(0));
    }
    Ok(())
}

/// The key of a row: SHA-256 of the model, how the text is made and the
/// text (a row is reused only for the same vector).
fn row_key_hash(model: &str, how: u8, text: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update((model.len() as u64).to_le_bytes());
    h.update(model.as_bytes());
    h.update([how]);
    h.update(text.as_bytes());
    h.finalize().to_vec()
}

impl crate::backend::Store for Postgres {
    fn location(&self) -> String {
        self.pool.location.clone()
    }

    fn exists(&self) -> Result<bool> {
        Ok(self.state()?.is_some())
    }

    fn read_manifest(&self) -> Result<Manifest> {
        match self.state()? {
            Some((schema, json)) => self.manifest_of(schema, json),
            None => Err(Error::IndexMissing {
                path: self.location().into(),
            }),
        }
    }

    fn generation(&self) -> Result<u64> {
        let row = self.pool.with(
            |c| {
                c.client
                    .query_opt("SELECT schema_version, generation FROM qasearch_store", &[])
            },
            "cannot read the store",
        )?;
        match row {
            Some(r) if r.get::<_, i32>(0) == SCHEMA_VERSION => Ok(r.get::<_, i64>(1) as u64),
            // Another schema version: read_manifest says how.
            Some(_) => Ok(self.read_manifest()?.generation),
            None => Err(Error::IndexMissing {
                path: self.location().into(),
            }),
        }
    }

    fn open(&self) -> Result<Snapshot> {
        let t = Instant::now();
        let (manifest, meta, lexical, ids) = self.read_generation()?;
        let row_of = ids
            .iter()
            .enumerate()
            .filter(|(_, &id)| id >= 0)
            .map(|(row, &id)| (id, row as u32))
            .collect();
        log::debug!(
            "store generation read in {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let rows = PgRows {
            pool: self.pool.clone(),
            ids,
            row_of,
        };
        Ok(Snapshot::remote(
            self.location(),
            manifest,
            meta,
            lexical,
            Box::new(rows),
        ))
    }

    fn build(
        &self,
        corpus: Corpus,
        data_dir: &Path,
        embedder: &mut dyn Embedder,
        config: &IndexConfig,
        progress: &mut dyn Progress,
    ) -> Result<(IndexSummary, Vec<Warning>)> {
        config.hnsw.validate()?;
        let started = Instant::now();
        indexer::check_not_empty(&corpus, data_dir)?;
        let identity = embedder.identity().clone();
        let mut client = self.writer()?;
        self.ensure_schema(&mut client, embedder.dimension())?;

        // What the store holds now, and whether its vectors can be reused.
        let mut full_reason = None;
        let held = match self.state()? {
            None => None,
            Some((schema, json)) => {
                let manifest = self.manifest_of(schema, json);
                match manifest {
                    Ok(m) if m.model != identity && !config.full => {
                        return Err(Error::Incompatible {
                            path: self.location().into(),
                            what: "model",
                            expected: identity.id(),
                            found: format!(
                                "{} (index --full --store … replaces its vectors)",
                                m.model.id()
                            ),
                        });
                    }
                    Ok(_) if config.full => {
                        full_reason = Some("a full rebuild was asked".to_string());
                        None
                    }
                    Ok(m) => Some(m),
                    Err(e @ Error::Incompatible { .. }) if config.full => {
                        full_reason = Some(format!("the store is not usable: {e}"));
                        None
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        // Unchanged: nothing to do (planned without the vectors).
        if let Some(manifest) = &held {
            let (_, meta, _, _) = self.read_generation()?;
            let plan = indexer::plan(
                &corpus,
                Some(indexer::Previous {
                    manifest,
                    meta: &meta,
                }),
                &IndexConfig {
                    queries_apart: identity.settings.roles_differ(),
                    ..config.clone()
                },
            );
            if plan.graph == indexer::GraphAction::Keep {
                // A vector index a killed build left unfinished is finished now.
                self.ensure_indexes(&mut client, &manifest.hnsw, progress)?;
                let warning = crate::script::corpus_warning(&corpus, &identity);
                return Ok((
                    IndexSummary::unchanged(
                        manifest,
                        &corpus,
                        started,
                        self.location().into(),
                        warning,
                    ),
                    corpus.warnings,
                ));
            }
        }
        // The vectors to reuse: the store's, or else an index folder's.
        let previous = match held {
            Some(_) => Some(self.read_with_vectors()?),
            None if config.full => None,
            None => self.seed_snapshot(&identity),
        };
        let from_folder = held.is_none() && previous.is_some();
        let made = indexer::make_generation(
            &corpus,
            data_dir,
            previous.as_ref(),
            embedder,
            config,
            GraphMode::None,
            progress,
        )?;
        let summary = match made {
            Some(mut m) => {
                let number = self.write(&mut client, &mut m.snapshot, progress)?;
                m.snapshot.manifest.generation = number;
                m.full_reason = m.full_reason.or(full_reason);
                m.summary(&corpus, started, self.location().into())
            }
            // The folder's generation is current: it moves as it is.
            None => {
                let mut generation =
                    previous.expect("invariant: unchanged means a previous generation");
                let number = self.write(&mut client, &mut generation, progress)?;
                generation.manifest.generation = number;
                let mut s = IndexSummary::unchanged(
                    &generation.manifest,
                    &corpus,
                    started,
                    self.location().into(),
                    crate::script::corpus_warning(&corpus, &identity),
                );
                s.graph = "loaded";
                s
            }
        };
        if from_folder {
            log::info!(
                "vectors taken from the index folder {} where it had them",
                self.seed.as_deref().unwrap_or(Path::new("")).display()
            );
        }
        Ok((summary, corpus.warnings))
    }

    fn open_with_vectors(&self) -> Result<Snapshot> {
        self.read_with_vectors()
    }

    fn wait_for_writer(&self) -> Result<()> {
        let at = self.location();
        let mut client = self
            .pool
            .config
            .connect(NoTls)
            .map_err(|e| failed(at, "cannot connect", &e))?;
        client
            .batch_execute("SET statement_timeout = 0")
            .map_err(|e| failed(at, "cannot set up the connection", &e))?;
        client
            .query_one(
                "SELECT pg_advisory_lock($1), pg_advisory_unlock($1)",
                &[&LOCK_KEY],
            )
            .map_err(|e| failed(at, "cannot wait for the builder", &e))?;
        Ok(())
    }
}

impl Postgres {
    /// The seed folder's generation, when it was made by `model`.
    fn seed_snapshot(&self, model: &crate::model::ModelIdentity) -> Option<Snapshot> {
        let dir = self.seed.as_deref()?;
        if !store::exists(dir) {
            return None;
        }
        match store::open(dir) {
            Ok(s) => match indexer::reusable(&s, model) {
                Ok(()) => Some(s),
                Err(why) => {
                    log::info!("not taking vectors from {}: {why}", dir.display());
                    None
                }
            },
            Err(e) => {
                log::info!("not taking vectors from {}: {e}", dir.display());
                None
            }
        }
    }
}

/// The rows of a generation in the database.
struct PgRows {
    pool: std::sync::Arc<Pool>,
    /// Each row's id (-1: a row no pair holds).
    ids: Vec<i64>,
    row_of: HashMap<i64, u32>,
}

impl std::fmt::Debug for PgRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRows")
            .field("location", &self.pool.location)
            .field("rows", &self.ids.len())
            .finish()
    }
}

impl RemoteRows for PgRows {
    fn nearest(
        &self,
        query: &[f32],
        n: usize,
        mask: u8,
        ef: usize,
        exact: bool,
    ) -> Result<Vec<Hit>> {
        let any = Kind::Sentence.bit() | Kind::Answer.bit() | Kind::Question.bit();
        let filter = if mask & any == any {
            String::new()
        } else {
            format!("WHERE kinds & {mask} <> 0")
        };
        let sql = format!(
            "SELECT id, 1 - (embedding <=> $1) FROM qasearch_rows {filter} ORDER BY embedding <=> $1 LIMIT $2"
        );
        let t = Instant::now();
        let q = Vector::from(query.to_vec());
        let limit = n as i64;
        let exact = exact || n > MAX_EF;
        let rows = self.pool.with(
            |c| {
                if exact {
                    let mut tx = c.client.transaction()?;
                    tx.batch_execute(
                        "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off",
                    )?;
                    let rows = tx.query(&sql, &[&q, &limit])?;
                    tx.commit()?;
                    Ok(rows)
                } else {
                    let ef = ef.clamp(n.max(1), MAX_EF);
                    if c.ef != ef {
                        c.client
                            .batch_execute(&format!("SET hnsw.ef_search = {ef}"))?;
                        c.ef = ef;
                    }
                    c.client.query(&sql, &[&q, &limit])
                }
            },
            "cannot search the vectors",
        )?;
        log::debug!(
            "store: {} nearest of kinds {mask} (ef {ef}{}) in {:.2} ms",
            n,
            if exact { ", exact" } else { "" },
            t.elapsed().as_secs_f64() * 1e3
        );
        Ok(rows
            .iter()
            .filter_map(|r| {
                let id: i64 = r.get(0);
                let score: f64 = r.get(1);
                // A row of a later generation (a build committed meanwhile): not ours.
                self.row_of.get(&id).map(|&row| Hit {
                    row: row as usize,
                    score: score as f32,
                })
            })
            .collect())
    }

    fn scores(&self, query: &[f32], rows: &[u32]) -> Result<Vec<f32>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows
            .iter()
            .map(|&r| self.ids.get(r as usize).copied().unwrap_or(-1))
            .collect();
        let q = Vector::from(query.to_vec());
        let found = self.pool.with(
            |c| {
                c.client.query(
                    "SELECT id, 1 - (embedding <=> $1) FROM qasearch_rows WHERE id = ANY($2)",
                    &[&q, &ids],
                )
            },
            "cannot read vectors",
        )?;
        let by_id: HashMap<i64, f32> = found
            .iter()
            .map(|r| (r.get::<_, i64>(0), r.get::<_, f64>(1) as f32))
            .collect();
        // A row gone meanwhile (a later generation) ranks last.
        Ok(ids
            .iter()
            .map(|id| by_id.get(id).copied().unwrap_or(f32::MIN))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgresql://alice:s3cret@db.example:5432/qa"),
            "postgresql://alice:***@db.example:5432/qa"
        );
        assert_eq!(
            redact("postgresql://postgres:@/postgres?host=/tmp/x"),
            "postgresql://postgres:@/postgres?host=/tmp/x"
        );
        assert_eq!(
            redact("postgres://u@h/db?password=hunter2&sslmode=disable"),
            "postgres://u@h/db?password=***&sslmode=disable"
        );
        assert_eq!(redact("postgresql://h/db"), "postgresql://h/db");
    }

    #[test]
    fn row_keys_tell_the_model_and_how_a_text_was_made() {
        assert_ne!(
            row_key_hash("m", 0, "Is it open?"),
            row_key_hash("m", 2, "Is it open?")
        );
        assert_ne!(row_key_hash("m", 0, "a"), row_key_hash("n", 0, "a"));
        assert_ne!(row_key_hash("m", 0, "ab"), row_key_hash("m0", 0, "b"));
        assert_eq!(row_key_hash("m", 0, "a").len(), 32);
    }
}
