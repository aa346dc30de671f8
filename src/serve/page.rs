//! The search page: one HTML file with its style and script inline, and a
//! content security policy that names their hashes (and nothing else).

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

const TEMPLATE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

pub struct Page {
    pub html: String,
    pub policy: String,
}

pub fn get() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(|| {
        let html = TEMPLATE
            .replace("/*STYLE*/", STYLE)
            .replace("/*SCRIPT*/", SCRIPT);
        let policy = format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            base64::encode(Sha256::digest(SCRIPT.as_bytes())),
            base64::encode(Sha256::digest(STYLE.as_bytes())),
        );
        Page { html, policy }
    })
}
