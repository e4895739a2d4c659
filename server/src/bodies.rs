//! Request bodies, watched: a body must arrive within `body_timeout` of its
//! request head (else `408 request_timeout`, and the connection closes), and
//! an error answer to a request whose body was not read to its end says
//! `Connection: close`, since the connection cannot carry another request
//! after the unread bytes.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Body as _, Frame, SizeHint};
use tokio::time::Sleep;

use crate::error::ApiError;

/// What the middleware learns about a body while the handler reads it.
#[derive(Default)]
struct Seen {
    finished: AtomicBool,
    timed_out: AtomicBool,
}

/// The middleware; its state is the body timeout.
pub async fn watch(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let has_body = !body.is_end_stream()
        && (parts.headers.contains_key(header::TRANSFER_ENCODING)
            || parts
                .headers
                .get(header::CONTENT_LENGTH)
                .is_some_and(|len| len.as_bytes() != b"0"));
    let seen = Arc::new(Seen::default());
    let body = Body::new(Watched {
        body,
        deadline: Box::pin(tokio::time::sleep(timeout)),
        seen: seen.clone(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if seen.timed_out.load(Ordering::Acquire) {
        response = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "The request body did not arrive within {} seconds; send it again.",
                timeout.as_secs_f64()
            ),
        )
        .into_response();
        close(&mut response);
    } else if has_body
        && !seen.finished.load(Ordering::Acquire)
        && (response.status().is_client_error() || response.status().is_server_error())
    {
        close(&mut response);
    }
    response
}

fn close(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// A body that notes its end and fails once its deadline passes.
struct Watched {
    body: Body,
    deadline: Pin<Box<Sleep>>,
    seen: Arc<Seen>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => {
                this.seen.finished.store(true, Ordering::Release);
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => {
                if this.body.is_end_stream() {
                    this.seen.finished.store(true, Ordering::Release);
                }
                Poll::Ready(Some(frame))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.seen.timed_out.store(true, Ordering::Release);
                    Poll::Ready(Some(Err(axum::Error::new("the request body timed out"))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
