//! What a request's log lines say about it: the method and the path, never
//! the query string or the headers, where tokens can travel (a demo page
//! opened as `/?token=…`, an `Authorization` header).

use axum::http::Request;
use tracing::Span;

/// The span every request's log lines belong to.
pub fn request_span<B>(request: &Request<B>) -> Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    )
}
