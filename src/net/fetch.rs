//! One HTTP exchange with a deadline: the request, its status, `Retry-After`
//! and the whole body, or why there was no answer.
//!
//! The deadline is an `AbortController` fired by a global `setTimeout`
//! (present in pages and in every kind of worker); it covers reading the
//! body too, so a server that stalls mid-answer still times out.

use gloo_net::http::{Method, RequestBuilder};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortController;

use serde::de::DeserializeOwned;

use super::json::{describe, from_json};
use super::Endpoint;
use crate::core::pull::retry_after_ms;
use crate::core::reply::Reply;
use crate::timer::{clear_timeout, set_timeout};
use outbox_sync_protocol::ErrorResponse;

/// What came back from one request.
pub(crate) enum Answer {
    /// The server answered with a status; its body may still have failed.
    Response {
        /// The HTTP status.
        status: u16,
        /// `Retry-After` as a delay, when sent and readable.
        retry_after_ms: Option<u64>,
        /// The body text (a JavaScript string, not copied into wasm until
        /// read), or why it could not be read.
        body: Result<JsValue, String>,
    },
    /// No answer: the fetch itself failed (offline, refused, reset, CORS);
    /// `online` is what `navigator.onLine` said then.
    Network {
        /// The browser believed it was online: the server is what cannot be reached.
        online: bool,
    },
    /// The deadline passed first.
    Timeout,
}

/// Aborts its controller when the time is up; clears the timer when dropped.
struct Deadline {
    id: JsValue,
    // Kept alive until the timer is cleared: the timer calls into it.
    _on_timeout: Closure<dyn FnMut()>,
}

impl Deadline {
    fn start(controller: &AbortController, ms: u32) -> Self {
        let controller = controller.clone();
        let on_timeout = Closure::<dyn FnMut()>::new(move || controller.abort());
        let id = set_timeout(on_timeout.as_ref().unchecked_ref(), f64::from(ms));
        Deadline {
            id,
            _on_timeout: on_timeout,
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}

/// Sends `method url` with the endpoint's token and, when given, a JSON
/// `body`; waits for the whole answer or the endpoint's deadline.
pub(crate) async fn send(
    endpoint: &Endpoint,
    method: Method,
    url: &str,
    body: Option<String>,
) -> Answer {
    let body = body.map(|text| (JsValue::from(text), "application/json"));
    send_body(endpoint, method, url, body).await
}

/// Sends `method url` with the endpoint's token and, when given, a `body`
/// of any kind `fetch` takes (a `Blob` slice: the browser streams it, it
/// never enters wasm memory) with its content type.
pub(crate) async fn send_body(
    endpoint: &Endpoint,
    method: Method,
    url: &str,
    body: Option<(JsValue, &str)>,
) -> Answer {
    let controller = match AbortController::new() {
        Ok(controller) => controller,
        Err(e) => return no_answer(endpoint, url, &describe(&e)),
    };
    let _deadline = Deadline::start(&controller, endpoint.timeout_ms);
    let signal = controller.signal();
    let mut builder = RequestBuilder::new(url)
        .method(method)
        .header("Accept", "application/json")
        .abort_signal(Some(&signal));
    if let Some(token) = &endpoint.token {
        builder = builder.header("Authorization", &format!("Bearer {token}"));
    }
    let request = match body {
        Some((body, content_type)) => builder.header("Content-Type", content_type).body(body),
        None => builder.build(),
    };
    let request = match request {
        Ok(request) => request,
        Err(e) => return no_answer(endpoint, url, &e.to_string()),
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(_) if signal.aborted() => return Answer::Timeout,
        Err(e) => return no_answer(endpoint, url, &e.to_string()),
    };
    let status = response.status();
    let retry_after_ms = response
        .headers()
        .get("Retry-After")
        .and_then(|value| retry_after_ms(&value, js_sys::Date::now() as u64));
    let text = web_sys::Response::from(response).text().map(JsFuture::from);
    let body = match text {
        Ok(text) => text.await,
        Err(e) => Err(e),
    };
    let body = match body {
        Ok(text) => Ok(text),
        Err(_) if signal.aborted() => return Answer::Timeout,
        Err(e) => Err(format!("the answer was cut off: {}", describe(&e))),
    };
    Answer::Response {
        status,
        retry_after_ms,
        body,
    }
}

/// [`Answer::Network`] with what the browser believes, saying why on the console in debug mode (the
/// browser's reason is vague and never shown to users).
fn no_answer(endpoint: &Endpoint, url: &str, why: &str) -> Answer {
    let online = browser_online();
    if endpoint.debug {
        let line = format!("outbox-sync: no answer from {url} (navigator.onLine: {online}): {why}");
        web_sys::console::debug_1(&line.into());
    }
    Answer::Network { online }
}

/// `navigator.onLine` in pages and workers; `true` where it is unknown (so a
/// failure is blamed on the server, not on a connection that may be fine).
pub(crate) fn browser_online() -> bool {
    let navigator =
        js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or_default();
    js_sys::Reflect::get(&navigator, &"onLine".into())
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(true)
}

/// Reads an answer as a [`Reply`]: a `200` body as a `T`, any other status
/// with what its error body says.
pub(crate) fn read_reply<T: DeserializeOwned>(answer: Answer) -> Reply<T> {
    match answer {
        Answer::Timeout => Reply::Timeout,
        Answer::Network { online: false } => Reply::Network,
        Answer::Network { online: true } => Reply::Unreachable,
        Answer::Response {
            status: 200, body, ..
        } => match body.and_then(|text| from_json::<T>(&as_text(&text))) {
            Ok(value) => Reply::Answer(value),
            Err(why) => Reply::Malformed(why),
        },
        Answer::Response {
            status,
            retry_after_ms,
            body,
        } => {
            let (code, message) = error_details(body);
            Reply::Status {
                status,
                retry_after_ms,
                code,
                message,
            }
        }
    }
}

/// A body read by [`send_body`] as text in wasm memory.
fn as_text(body: &JsValue) -> String {
    body.as_string().unwrap_or_default()
}

/// The stable code and sentence of an error body, when it is one.
fn error_details(body: Result<JsValue, String>) -> (Option<String>, Option<String>) {
    match body
        .ok()
        .and_then(|t| from_json::<ErrorResponse>(&as_text(&t)).ok())
    {
        Some(error) => (Some(error.error.code), Some(error.error.message)),
        None => (None, None),
    }
}
