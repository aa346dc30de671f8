//! What every request passes first: the `Host` must name this server (DNS
//! rebinding), and a browser's request from another site is refused unless
//! its origin was named with `--allow-origin` (CORS, [`super::cors`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{cors, ApiError, AppState};
use crate::error::Setting;

/// The names a request's `Host` (and a browser's `Origin`) may give.
#[derive(Debug, Clone)]
pub(super) struct Hosts {
    port: u16,
    names: Vec<String>,
    /// Bound to every address: any IP literal is fine (rebinding needs a name).
    any_ip: bool,
}

impl Hosts {
    pub(super) fn new(addr: SocketAddr, extra: &[String]) -> Hosts {
        let ip = addr.ip();
        let mut names: Vec<String> = extra.iter().map(|h| h.to_ascii_lowercase()).collect();
        names.push(match ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        });
        if ip.is_loopback() || ip.is_unspecified() {
            names.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        }
        Hosts {
            port: addr.port(),
            names,
            any_ip: ip.is_unspecified(),
        }
    }

    /// Whether `authority` (`name[:port]`) names this server.
    pub(super) fn allows(&self, authority: &str) -> bool {
        let authority = authority.to_ascii_lowercase();
        let (name, port) = match authority.rsplit_once(':') {
            Some((n, p)) if !p.contains(']') => (n, p.parse::<u16>().ok()),
            _ => (authority.as_str(), Some(80)),
        };
        if port != Some(self.port) {
            return false;
        }
        let literal = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok();
        self.names.iter().any(|n| n == name) || (self.any_ip && literal)
    }

    /// Whether a browser's `Origin` is this server.
    pub(super) fn allows_origin(&self, origin: &str) -> bool {
        origin
            .strip_prefix("http://")
            .is_some_and(|authority| self.allows(authority))
    }
}

/// Host and origin checks, for every request.
pub(super) async fn guard(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    for name in [header::HOST, header::ORIGIN] {
        if headers.get_all(&name).iter().count() > 1 {
            // RFC 9112 3.2: more than one Host is a bad request; which one
            // another hop would believe is unknowable.
            return ApiError::bad_request(format!("more than one {name} header")).into_response();
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !s.hosts.allows(host) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            format!(
                "the Host header {host:?} does not name this server (add it with {})",
                Setting::AllowHost
            ),
        )
        .into_response();
    }
    // Writes, and every API call (a GET answers too): never for another
    // site, but for the origins named with --allow-origin (CORS). The page
    // itself may be opened from a link anywhere.
    let api = req.uri().path().starts_with("/api/");
    let cross = api.then(|| s.cors.allowed(headers).cloned()).flatten();
    if let Some(origin) = cross {
        if cors::is_preflight(req.method(), headers) {
            return cors::preflight(&origin);
        }
        let mut r = next.run(req).await;
        cors::allow(&mut r, origin);
        vary_by_origin(&mut r);
        return r;
    }
    if api || (req.method() != Method::GET && req.method() != Method::HEAD) {
        if let Err(e) = same_origin(&s.hosts, headers) {
            return e.into_response();
        }
    }
    let mut r = next.run(req).await;
    if api && s.cors.any() {
        vary_by_origin(&mut r);
    }
    r
}

/// A cache must not give one origin's answer (with or without its CORS
/// headers) to another.
fn vary_by_origin(r: &mut Response) {
    r.headers_mut()
        .append(header::VARY, HeaderValue::from_static("origin"));
}

/// A browser says where a request comes from; one from another site is refused.
fn same_origin(hosts: &Hosts, headers: &HeaderMap) -> Result<(), ApiError> {
    let refuse = |what: String| {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            format!("cross-origin request refused ({what})"),
        ))
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !hosts.allows_origin(origin) {
            return refuse(format!("Origin {origin:?}"));
        }
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site @ ("cross-site" | "same-site")) => refuse(format!("Sec-Fetch-Site {site}")),
        _ => Ok(()),
    }
}
