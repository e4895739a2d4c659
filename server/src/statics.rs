//! Static files on the API's origin: the app from `--www` at `/` and the
//! built wasm package from `--pkg` at `/pkg/`.
//!
//! Files are compressed (brotli or gzip, as the request accepts) on the way
//! out. A content-hashed name (`app.3f9a1c2e.js`) never changes content, so
//! it is cached for a year as `immutable`; every other file is `no-cache`:
//! the browser revalidates it (`If-Modified-Since`, answered `304`) so a new
//! service worker or package is picked up. A path no file system could hold
//! (a NUL byte, a name longer than 255 bytes) is a plain `404`, never an
//! error.

use std::path::Path;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::compression::Compression;
use tower_http::services::ServeDir;

/// Longest file or directory name most file systems allow, in bytes.
const MAX_NAME: usize = 255;

/// Longest static path served, in bytes (after percent-decoding).
const MAX_PATH: usize = 1024;

/// `Cache-Control` of content-hashed names.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Adds the static file services to `router`.
pub fn mount(router: Router, www: Option<&Path>, pkg: Option<&Path>) -> Router {
    let mut router = router;
    if let Some(pkg) = pkg {
        warn_if_missing(pkg, "--pkg");
        router = router.nest_service("/pkg", Compression::new(ServeDir::new(pkg)));
    }
    if let Some(www) = www {
        warn_if_missing(www, "--www");
        router = router.fallback_service(Compression::new(ServeDir::new(www)));
    }
    router.layer(axum::middleware::from_fn(headers))
}

fn warn_if_missing(dir: &Path, flag: &str) {
    if !dir.is_dir() {
        tracing::warn!(
            dir = %dir.display(),
            "{flag} directory does not exist yet; its files will 404 until it is built or the flag points elsewhere"
        );
    }
}

/// The MIME type the web platform insists on for an extension.
pub fn mime_for(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1;
    Some(match ext {
        "wasm" => "application/wasm",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        "json" => "application/json",
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

/// Whether `path` (as sent, percent-encoded) could name a file: no NUL
/// byte, no name longer than [`MAX_NAME`], not longer than [`MAX_PATH`].
pub fn could_be_a_file(path: &str) -> bool {
    let decoded = percent_decode(path);
    decoded.len() <= MAX_PATH
        && !decoded.contains(&0)
        && decoded
            .split(|b| *b == b'/')
            .all(|name| name.len() <= MAX_NAME)
}

fn percent_decode(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Whether the file name carries a content hash: a part of 8 or more hex
/// digits with at least one digit, between dots, dashes or underscores
/// (`app.3f9a1c2e.js`, `chunk-0a1b2c3d4e.wasm`).
pub fn is_content_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    stem.split(['.', '-', '_']).any(|part| {
        part.len() >= 8
            && part.bytes().all(|b| b.is_ascii_hexdigit())
            && part.bytes().any(|b| b.is_ascii_digit())
    })
}

/// Refuses paths no file can have, then sets exact MIME types and the
/// caching rule on static files.
async fn headers(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if !path.starts_with("/v1/") && !could_be_a_file(&path) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    let mut response = next.run(request).await;
    if path.starts_with("/v1/") || !response.status().is_success() {
        return response;
    }
    let headers = response.headers_mut();
    let file = if path.ends_with('/') {
        "index.html"
    } else {
        path.as_str()
    };
    if let Some(mime) = mime_for(file) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    }
    let cache = if is_content_hashed(file) {
        IMMUTABLE
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_platform_types() {
        assert_eq!(
            mime_for("/pkg/outbox_sync_bg.wasm"),
            Some("application/wasm")
        );
        assert!(mime_for("/sw.js").unwrap().starts_with("text/javascript"));
        assert_eq!(
            mime_for("/app.webmanifest"),
            Some("application/manifest+json")
        );
        assert_eq!(mime_for("/favicon.ico"), None);
    }

    #[test]
    fn paths_no_file_can_have() {
        assert!(could_be_a_file("/app.js"));
        assert!(could_be_a_file("/pkg/outbox_sync_bg.wasm"));
        assert!(!could_be_a_file("/%00"));
        assert!(!could_be_a_file("/a%00b"));
        assert!(!could_be_a_file(&format!("/{}", "a".repeat(256))));
        assert!(could_be_a_file(&format!("/{}", "a".repeat(255))));
        assert!(!could_be_a_file(&format!("/{}", "%61".repeat(256))));
        assert!(could_be_a_file("/100%"));
    }

    #[test]
    fn content_hashed_names() {
        assert!(is_content_hashed("/app.3f9a1c2e.js"));
        assert!(is_content_hashed("/pkg/chunk-0a1b2c3d4e.wasm"));
        assert!(!is_content_hashed("/pkg/outbox_sync_bg.wasm"));
        assert!(!is_content_hashed("/app.js"));
        assert!(
            !is_content_hashed("/deadbeef.js"),
            "letters only: a word, not a hash"
        );
        assert!(!is_content_hashed("/index.html"));
    }
}
