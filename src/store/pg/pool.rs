//! Connections to one database, reused between statements.

use super::*;

/// Connections to one database, reused between statements.
pub(super) struct Pool {
    pub(super) config: Config,
    pub(super) location: String,
    /// The schema the tables live in, when named (created by a build).
    pub(super) schema: Option<String>,
    pub(super) free: Mutex<Vec<Conn>>,
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

/// A connection, the search breadth it is set to, and the statements it
/// has prepared.
pub(super) struct Conn {
    pub(super) client: Client,
    pub(super) ef: usize,
    statements: HashMap<String, tokio_postgres::Statement>,
}

impl Conn {
    /// `sql` prepared on this connection once: a search is then one round
    /// trip, and the server plans it once instead of at every question.
    pub(super) fn prepared(&mut self, sql: &str) -> client::PgResult<tokio_postgres::Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

impl Pool {
    /// A connection whose statements each wait up to `deadline`, within the
    /// connect deadline (the URL's `connect_timeout`, or 5 s).
    pub(super) fn connect_with(&self, deadline: Duration) -> Result<Client> {
        let connect = self
            .config
            .get_connect_timeout()
            .copied()
            .unwrap_or(CONNECT_TIMEOUT);
        Client::connect(&self.config, connect, deadline)
            .map_err(|e| failed(&self.location, "cannot connect", &e))
    }

    /// A reader's connection: the server stops its statements after
    /// [`read_timeout`], and the client waits 5 s more at most.
    pub(super) fn connect(&self) -> Result<Conn> {
        let timeout = read_timeout();
        let client = self.connect_with(timeout + Duration::from_secs(5))?;
        client
            .batch_execute(&format!(
                "SET statement_timeout = '{}s'; SET lock_timeout = '10s'",
                timeout.as_secs()
            ))
            .map_err(|e| failed(&self.location, "cannot set up the connection", &e))?;
        Ok(Conn {
            client,
            ef: 0,
            statements: HashMap::new(),
        })
    }

    /// Runs `f` with a free connection (a new one if none is free); a
    /// connection that failed is dropped rather than reused.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> client::PgResult<T>,
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
