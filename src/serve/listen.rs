//! The listener: accepts connections up to a cap, serves each with hyper's
//! HTTP/1.1 under a deadline for its request header, and on shutdown lets
//! the requests in flight finish.
//!
//! hyper's header deadline starts when a connection waits for a request
//! header: when it opens, and again after each response on a kept-alive
//! connection. So one deadline closes a connection that sends nothing, one
//! that trickles its header a byte at a time, and one kept alive but idle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// What the listener bounds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    /// Connections open at once; the next waits in the kernel's backlog.
    pub max_connections: usize,
    /// Time a connection has to send a complete request header, from when
    /// it opens or its previous response ends.
    pub header_timeout: Duration,
}

/// `--max-connections` within the process's file limit: each connection is
/// a descriptor, and the index, the model, the runtime and the logs need
/// some (64 are kept for them). Lowered with a warning when over it.
pub(super) fn within_file_limit(max_connections: usize) -> usize {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
            && limit.rlim_cur != libc::RLIM_INFINITY
        {
            let room = (limit.rlim_cur as usize).saturating_sub(64).max(1);
            if max_connections > room {
                log::warn!(
                    "{} {max_connections} is over what the file limit allows \
                     (ulimit -n {}, less 64 for the index, model and logs): using {room}",
                    crate::error::Setting::MaxConnections,
                    limit.rlim_cur
                );
                return room;
            }
        }
    }
    max_connections
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for
/// the connections in flight.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    bounds: Bounds,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(bounds.max_connections));
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(stop_rx);
    });
    // Every connection task holds a receiver; when all are dropped, done.
    let (done_tx, done_rx) = watch::channel(());
    let mut last_warning: Option<Instant> = None;
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("invariant: the semaphore is never closed"),
            () = stop_tx.closed() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&e, &mut last_warning);
                    // Out of descriptors or memory: give the connections
                    // that hold them time to close rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop_tx.closed() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let stop = stop_tx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(bounds.header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        log::debug!("connection ended: {e}");
                    }
                }
                () = stop.closed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(slot);
            drop(done);
        });
    }
    drop(listener);
    drop(done_rx);
    done_tx.closed().await;
}

/// One warning a second at most: a client that exhausts our descriptors
/// must not flood the log too.
fn accept_failed(e: &std::io::Error, last: &mut Option<Instant>) {
    if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
        return;
    }
    *last = Some(Instant::now());
    if crate::error::is_exhaustion(e) {
        log::warn!(
            "cannot accept a connection: {e} (the process is out of file descriptors or memory: \
             raise `ulimit -n`, or lower {})",
            crate::error::Setting::MaxConnections
        );
    } else {
        log::warn!("cannot accept a connection: {e}");
    }
}
