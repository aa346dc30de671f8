//! Cross-origin access (CORS) for the origins named with `--allow-origin`,
//! and for no other: a front end served from elsewhere (a dev server on
//! `http://localhost:3000`) may call the API; every other site is still
//! refused, as without the option. Nothing is allowed by default.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// The origins allowed to call the API from a browser.
#[derive(Debug, Clone, Default)]
pub(super) struct Cors {
    origins: Vec<String>,
}

/// An origin as browsers send it in `Origin`: `scheme://host[:port]`,
/// lower case, without a path (a trailing `/` is dropped). `*` and `null`
/// are refused: only named origins are opened.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let origin = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let Some((scheme, authority)) = origin.split_once("://") else {
        return Err(format!(
            "{text:?} is not an origin: give scheme, host and port, e.g. http://localhost:3000"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("{text:?}: an origin's scheme is http or https"));
    }
    let bad = |c: char| c.is_whitespace() || c.is_control() || "/?#@*".contains(c);
    if authority.is_empty() || authority.contains(bad) {
        return Err(format!(
            "{text:?} is not an origin: scheme://host[:port], no path, no wildcard"
        ));
    }
    Ok(origin)
}

impl Cors {
    pub(super) fn new(origins: &[String]) -> Cors {
        Cors {
            origins: origins
                .iter()
                .filter_map(|o| parse_origin(o).ok())
                .collect(),
        }
    }

    /// The request's `Origin` when it is one of ours.
    pub(super) fn allowed<'h>(&self, headers: &'h HeaderMap) -> Option<&'h HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(text))
            .then_some(origin)
    }

    /// Whether any origin is allowed (responses then vary by `Origin`).
    pub(super) fn any(&self) -> bool {
        !self.origins.is_empty()
    }
}

/// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`)
/// from an allowed origin: the API's methods and the one header it reads.
pub(super) fn preflight(origin: &HeaderValue) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    r
}

/// Whether a request is a CORS preflight.
pub(super) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Marks a response to an allowed origin as readable by it.
pub(super) fn allow(response: &mut Response, origin: HeaderValue) {
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    // A 503's Retry-After is for the caller's script too.
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_wildcards_refused() {
        assert_eq!(
            parse_origin("HTTP://LocalHost:3000/").as_deref(),
            Ok("http://localhost:3000")
        );
        assert_eq!(
            parse_origin("https://app.example").as_deref(),
            Ok("https://app.example")
        );
        for bad in [
            "*",
            "null",
            "localhost:3000",
            "ftp://x",
            "http://",
            "http://a/b",
            "http://*.example",
            "http://u@a",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_named_origins_are_allowed() {
        let cors = Cors::new(&["http://localhost:3000".into()]);
        let with = |origin: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            h
        };
        assert!(cors.allowed(&with("http://localhost:3000")).is_some());
        assert!(cors.allowed(&with("http://localhost:3001")).is_none());
        assert!(cors.allowed(&with("https://localhost:3000")).is_none());
        assert!(cors.allowed(&HeaderMap::new()).is_none());
        assert!(!Cors::default().any());
    }
}
