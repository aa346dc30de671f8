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

/// A connection and the search breadth it is set to.
pub(super) struct Conn {
    pub(super) client: Client,
    pub(super) ef: usize,
}

impl Pool {
    pub(super) fn connect(&self) -> Result<Conn> {
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
    pub(super) fn with<T>(
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
