//! Static files on the API's origin: the app from `--www` at `/` and the
//! built wasm package from `--pkg` at `/pkg/`.

use std::path::Path;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::services::ServeDir;

/// Adds the static file services to `router`.
pub fn mount(router: Router, www: Option<&Path>, pkg: Option<&Path>) -> Router {
    let mut router = router;
    if let Some(pkg) = pkg {
        warn_if_missing(pkg, "--pkg");
        router = router.nest_service("/pkg", ServeDir::new(pkg));
    }
    if let Some(www) = www {
        warn_if_missing(www, "--www");
        router = router.fallback_service(ServeDir::new(www));
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

/// Sets exact MIME types and `Cache-Control: no-cache` (revalidate, so a new
/// service worker or package is picked up) on static files.
async fn headers(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
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
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
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
}
