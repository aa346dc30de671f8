//! The bound on engine work at once, and the queue before it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::{ApiError, Limits};

/// How long after a request was refused for want of a place `/api/health`
/// still says `overloaded`.
const OVERLOAD_MEMORY: Duration = Duration::from_secs(5);

/// The bound on engine work at once: `max` places, each held by one
/// request's work from start to end, waited for up to `queue_wait`.
pub(super) struct Places {
    permits: Arc<tokio::sync::Semaphore>,
    pub(super) max: usize,
    queue_wait: Duration,
    request_timeout: Duration,
    started: Instant,
    /// Milliseconds after `started` when a request was last refused (0: never).
    refused_at: std::sync::atomic::AtomicU64,
}

impl Places {
    pub(super) fn new(limits: &Limits) -> Places {
        let max = limits
            .max_concurrent
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Places {
            permits: Arc::new(tokio::sync::Semaphore::new(max)),
            max,
            queue_wait: limits.queue_wait,
            request_timeout: limits.request_timeout,
            started: Instant::now(),
            refused_at: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether requests were refused for want of a place lately.
    pub(super) fn overloaded(&self) -> bool {
        let at = self.refused_at.load(std::sync::atomic::Ordering::Relaxed);
        at != 0
            && self
                .started
                .elapsed()
                .saturating_sub(Duration::from_millis(at))
                < OVERLOAD_MEMORY
    }

    /// Requests whose work is running now.
    pub(super) fn in_flight(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    /// Runs `f` on the blocking pool: waits (up to --queue-wait-ms) for a
    /// place, which the work holds until it ends, and answers 504 when it
    /// takes longer than --request-timeout-ms (the work then finishes,
    /// still holding its place, so the bound on work at once holds).
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> crate::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let waited = tokio::time::timeout(self.queue_wait, self.permits.clone().acquire_owned());
        let Ok(Ok(permit)) = waited.await else {
            let now = self.started.elapsed().as_millis().max(1) as u64;
            self.refused_at
                .store(now, std::sync::atomic::Ordering::Relaxed);
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!(
                    "{} requests are being answered, and no place came free within {} ms \
                     ({}, {}): try again",
                    self.max,
                    self.queue_wait.as_millis(),
                    crate::error::Setting::MaxConcurrent,
                    crate::error::Setting::QueueWait
                ),
            ));
        };
        let work = tokio::task::spawn_blocking(move || {
            let result = f();
            drop(permit);
            result
        });
        match tokio::time::timeout(self.request_timeout, work).await {
            Ok(Ok(result)) => result.map_err(ApiError::from),
            Ok(Err(e)) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the request failed unexpectedly: {e}"),
            )),
            Err(_) => Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!(
                    "no answer within {} ms ({})",
                    self.request_timeout.as_millis(),
                    crate::error::Setting::RequestTimeout
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request answered 504 keeps its place until its work ends: the
    /// bound on work at once holds; a request that finds no place within
    /// the queue wait gets 503, and health says overloaded.
    #[test]
    fn a_timed_out_request_keeps_its_place_until_its_work_ends() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let places = Places::new(&Limits {
                max_concurrent: 1,
                queue_wait: Duration::ZERO,
                request_timeout: Duration::from_millis(20),
                ..Limits::default()
            });
            let slow = || {
                std::thread::sleep(Duration::from_millis(400));
                Ok(())
            };
            let first = places.run(slow).await.unwrap_err();
            assert_eq!(first.status, StatusCode::GATEWAY_TIMEOUT);
            // The work goes on, holding its place.
            assert_eq!(places.in_flight(), 1);
            let second = places.run(|| Ok(())).await.unwrap_err();
            assert_eq!(second.status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(places.overloaded());
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert_eq!(places.in_flight(), 0);
            places.run(|| Ok(())).await.unwrap();
            // A short wait in the queue gets the place once it is free.
            let queued = Places::new(&Limits {
                max_concurrent: 1,
                queue_wait: Duration::from_secs(5),
                ..Limits::default()
            });
            let (a, b) = tokio::join!(
                queued.run(|| {
                    std::thread::sleep(Duration::from_millis(100));
                    Ok(1)
                }),
                queued.run(|| Ok(2))
            );
            assert_eq!((a.unwrap(), b.unwrap()), (1, 2));
            assert!(!queued.overloaded());
        });
    }
}
