//! The PostgreSQL store: the same generations as the index folder, in a
//! database with pgvector, searched there. The Postgres crates are used here
//! and nowhere else; the engine sees a [`crate::store::Store`].
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
//!   kinds smallint (1 sentence, 2 whole answer, 4 stored question, 8 passage),
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
//!
//! `pool.rs` holds the connections, `read.rs` reads a generation,
//! `schema.rs` creates the tables and their vector indexes, `write.rs`
//! writes a generation, `rows.rs` searches its vectors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pgvector::Vector;
use sha2::{Digest, Sha256};
use tokio_postgres::Config;

use crate::error::{Error, Result, Setting};
use crate::index::ann::Hit;
use crate::progress::{Progress, Stage};
use crate::store::{self, Kind, Manifest, Meta, RemoteRows, Snapshot};

/// Version of the tables above; bump it (and note it in CHANGELOG.md) when they change.
pub const SCHEMA_VERSION: i32 = 1;
/// The advisory lock a builder holds ("qasearch" in ASCII).
pub const LOCK_KEY: i64 = 0x7161_7365_6172_6368;
/// How long connecting and logging in may take, unless the URL's
/// `connect_timeout` says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one statement of a build (a COPY of every row, a vector index)
/// may wait for the server's reply.
const BUILD_DEADLINE: Duration = Duration::from_secs(3600);

/// How long a reading statement may take: `QASEARCH_STORE_TIMEOUT` seconds
/// (1 to 3600), 30 by default. The server stops it then
/// (`statement_timeout`); the client gives up 5 s later, also when the
/// server says nothing at all.
pub fn read_timeout() -> Duration {
    let secs = std::env::var("QASEARCH_STORE_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| (1..=3600).contains(s))
        .unwrap_or(30);
    Duration::from_secs(secs)
}
/// The widest HNSW search pgvector runs; a wider one scans.
const MAX_EF: usize = 1000;

/// Where a store is, for people: rendered from the **parsed** connection
/// settings (user, hosts, ports, database, schema), never from the string
/// the user gave, so no password (in the authority, in `?password=`, in a
/// percent-encoded key, in a `key=value` string) can reach a message, a log
/// line, a JSON field or an HTTP reply.
pub fn describe(config: &Config, schema: Option<&str>) -> String {
    use tokio_postgres::config::Host;
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let ports = config.get_ports();
    let port_of = |i: usize| ports.get(i).or(ports.first()).copied();
    let mut tcp = Vec::new();
    let mut sockets = Vec::new();
    for (i, host) in config.get_hosts().iter().enumerate() {
        match host {
            Host::Tcp(name) => tcp.push(match port_of(i) {
                Some(p) => format!("{name}:{p}"),
                None => name.clone(),
            }),
            #[cfg(unix)]
            Host::Unix(path) => sockets.push(path.display().to_string()),
        }
    }
    let db = config.get_dbname().unwrap_or_default();
    let mut out = format!("postgresql://{user}{}/{db}", tcp.join(","));
    if let Some(dir) = sockets.first() {
        out.push_str(&format!("?host={dir}"));
        if let Some(p) = port_of(0).filter(|_| tcp.is_empty()) {
            out.push_str(&format!("&port={p}"));
        }
    }
    if let Some(s) = schema {
        out.push_str(&format!(" (schema {s})"));
    }
    out
}

/// The settings of a `--store` value (a `postgresql://` URL or a
/// `key=value` connection string). A value that is neither is a usage
/// error that repeats nothing of it but its scheme: it may hold a password.
pub fn parse_location(value: &str) -> Result<Config> {
    const FORM: &str = "write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE \
        (?host=/socket/dir for a Unix socket) or as a connection string \
        (host=HOST port=PORT user=USER dbname=DATABASE)";
    let (store, index) = (Setting::Store, Setting::Index);
    if value.trim().is_empty() {
        return Err(Error::Usage(format!(
            "{store} is empty: {FORM}, or leave {store} out to use the index folder ({index})"
        )));
    }
    if let Some((scheme, _)) = value.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "postgresql" && scheme != "postgres" {
            return Err(Error::Usage(format!(
                "{store} takes a PostgreSQL URL, got a {scheme:?} URL: {FORM}, or leave {store} out to use the index folder ({index})"
            )));
        }
    } else if !value.contains('=') {
        return Err(Error::Usage(format!(
            "{store} is neither a postgresql:// URL nor a connection string: {FORM}, or leave {store} out to use the index folder ({index})"
        )));
    }
    // A password written raw (not percent-encoded) ends the URL's authority
    // at its first `/`, `?` or `#`, and its rest would be read as a host, a
    // port or a database name, and printed as one.
    if let Some((_, rest)) = value.split_once("://") {
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if rest[authority_end..].contains('@') {
            return Err(Error::Usage(format!(
                "{store}: an @ after the host: if the password holds /, ?, # or @, \
                 percent-encode them (%2F, %3F, %23, %40), or give the password in \
                 PGPASSWORD-free form as a connection string (password='...')"
            )));
        }
    }
    value.parse::<Config>().map_err(|e| {
        // The parser's messages name options and positions, never values.
        Error::Usage(format!("{store} cannot be read ({e}): {FORM}"))
    })
}

/// A store error: what failed, with the fix where one is known.
fn failed(location: &str, doing: &str, e: &PgError) -> Error {
    let e = match e {
        PgError::TimedOut { what, after } => {
            return Error::Store {
                store: location.to_string(),
                message: format!(
                    "{doing}: no reply from the server within {} s ({what}): is it running, and not \
                     frozen or overloaded? (QASEARCH_STORE_TIMEOUT sets how long a reading statement \
                     may take; the URL's connect_timeout how long connecting may)",
                    after.as_secs()
                ),
            }
        }
        PgError::Runtime(e) => {
            return Error::Store {
                store: location.to_string(),
                message: format!("{doing}: cannot start the connection's runtime: {e}"),
            }
        }
        PgError::Pg(e) => e,
    };
    use tokio_postgres::error::SqlState;
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

/// [`failed`] for an error of a statement inside a transaction.
fn failed_pg(location: &str, doing: &str, e: tokio_postgres::Error) -> Error {
    failed(location, doing, &PgError::Pg(e))
}

mod checkpoint;
mod client;
mod pool;
mod read;
mod rows;
mod schema;
mod write;

use client::{Client, PgError};
use pool::Pool;
use rows::PgRows;

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
        let mut config = parse_location(url)?;
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
            config.options(format!("{options} -c search_path={schema},public"));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("qasearch");
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        let location = describe(&config, schema);
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

    /// The index folder builds may take vectors from ([`Postgres::with_seed`]).
    pub(crate) fn seed(&self) -> Option<&Path> {
        self.seed.as_deref()
    }

    /// A connection of its own, outside the pool, whose statements may take
    /// as long as a build needs ([`BUILD_DEADLINE`] each): no statement
    /// timeout on the server; locks waited for up to `lock_timeout` ("0":
    /// for ever).
    fn untimed(&self, lock_timeout: &str) -> Result<Client> {
        let at = self.location();
        let client = self.pool.connect_with(BUILD_DEADLINE)?;
        client
            .batch_execute(&format!(
                "SET statement_timeout = 0; SET lock_timeout = '{lock_timeout}'"
            ))
            .map_err(|e| failed(at, "cannot set up the connection", &e))?;
        Ok(client)
    }

    /// When this store's last build committed: its rows answered from then
    /// on, before a first load's vector indexes were built (for benches).
    pub fn committed_at(&self) -> Option<Instant> {
        *self.committed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl crate::store::Store for Postgres {
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
            crate::index::lexical_delta::Lexical::whole(lexical),
            Box::new(rows),
        ))
    }

    fn open_with_vectors(&self) -> Result<Snapshot> {
        self.read_with_vectors()
    }

    fn advice(&self) -> Result<Vec<String>> {
        self.cache_advice()
    }

    /// The row table holds exactly the generation's rows at rest (a build
    /// deletes the rows no pair holds in the transaction that adds its own).
    fn verify(&self) -> Result<()> {
        let manifest = self.read_manifest()?;
        let counted = self.pool.with(
            |c| match c
                .client
                .query_one("SELECT count(*) FROM qasearch_rows", &[])
            {
                Ok(r) => Ok(Some(r.get::<_, i64>(0))),
                Err(PgError::Pg(e))
                    if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) =>
                {
                    Ok(None)
                }
                Err(e) => Err(e),
            },
            "cannot count the rows",
        )?;
        let Some(rows) = counted else {
            return Err(Error::corrupt(
                self.location(),
                format!(
                    "the table qasearch_rows is gone: a full build ({}) makes it again",
                    Setting::FullBuild
                ),
            ));
        };
        if rows as usize != manifest.counts.vectors {
            return Err(Error::corrupt(
                self.location(),
                format!(
                    "qasearch_rows holds {rows} rows where generation {} has {}: a full build ({}) repairs it",
                    manifest.generation, manifest.counts.vectors, Setting::FullBuild
                ),
            ));
        }
        Ok(())
    }

    fn wait_for_writer(&self) -> Result<()> {
        let at = self.location();
        // As long as the build takes.
        self.untimed("0")?
            .query_one(
                "SELECT pg_advisory_lock($1), pg_advisory_unlock($1)",
                &[&LOCK_KEY],
            )
            .map_err(|e| failed(at, "cannot wait for the builder", &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_indexes_larger_than_the_buffer_cache_get_advice() {
        let mb = 1i64 << 20;
        assert_eq!(schema::buffer_advice(100 * mb, 128 * mb), None);
        assert_eq!(schema::buffer_advice(128 * mb, 128 * mb), None);
        let advice = schema::buffer_advice(196 * mb, 128 * mb).expect("advice");
        assert!(advice.contains("(196 MB)"), "{advice}");
        assert!(advice.contains("(128 MB)"), "{advice}");
        // A quarter more than the indexes, rounded up to 64 MB.
        assert!(advice.contains("shared_buffers = '256MB'"), "{advice}");
        let advice = schema::buffer_advice(mb / 2 + 1, mb / 2).expect("advice");
        assert!(advice.contains("= '64MB'"), "{advice}");
    }

    #[test]
    fn passwords_never_reach_messages() {
        // Every reserved character, raw and percent-encoded, in each place a
        // password can be written.
        let secret = "Zq9/?#@:&=%'\\ x;,[]!$()*+";
        let encoded: String = secret
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let quoted = secret.replace('\\', "\\\\").replace('\'', "\\'");
        let values = [
            format!("postgresql://alice:{encoded}@db.example:5432/qa"),
            format!("postgresql://alice:{secret}@db.example:5432/qa"),
            format!("postgres://alice@db.example/qa?password={encoded}&sslmode=disable"),
            format!("postgres://alice@db.example/qa?pass%77ord={encoded}"),
            format!("host=db.example user=alice password='{quoted}' dbname=qa"),
            format!("host=db.example user=alice password='{quoted}' dbname=qa bogus=1"),
            format!("mysql://alice:{secret}@db.example/qa"),
            format!("alice:{secret}"),
            format!("postgresql://alice:1234/{encoded}@db.example/qa"),
        ];
        let fragments = ["Zq9", &encoded[..6]];
        for value in &values {
            let text = match parse_location(value) {
                Ok(config) => {
                    assert_eq!(config.get_password(), Some(secret.as_bytes()), "{value}");
                    describe(&config, Some("s"))
                }
                Err(e) => e.to_string(),
            };
            for f in fragments {
                assert!(!text.contains(f), "{value} gave {text}");
            }
        }
        let config = parse_location(&values[0]).unwrap();
        assert_eq!(
            describe(&config, None),
            "postgresql://alice@db.example:5432/qa"
        );
        let socket =
            parse_location("postgresql://postgres:pw@/postgres?host=/tmp/x&port=5433").unwrap();
        assert_eq!(
            describe(&socket, Some("e")),
            "postgresql://postgres@/postgres?host=/tmp/x&port=5433 (schema e)"
        );
        assert!(parse_location("").is_err() && parse_location("  ").is_err());
        assert!(parse_location("index").is_err());
    }
}
