//! `/v1/blobs/{sha256}/upload`: how much of a file the server holds, and
//! one chunk of it sent, each as a [`Reply`] of the server's
//! [`UploadStatus`] for the core's upload rules
//! ([`after_answer`](crate::core::blob::after_answer)).

use gloo_net::http::Method;
use outbox_sync_protocol::blob::{UploadStatus, BLOBS_PATH};

use super::fetch::{read_reply, send, send_body};
use super::Endpoint;
use crate::core::reply::Reply;

fn upload_url(endpoint: &Endpoint, sha256: &str) -> String {
    endpoint.url(&format!("{BLOBS_PATH}/{sha256}/upload"))
}

/// Asks how many bytes of the file `sha256` the server holds.
pub async fn upload_status(endpoint: &Endpoint, sha256: &str) -> Reply<UploadStatus> {
    read_reply(send(endpoint, Method::GET, &upload_url(endpoint, sha256), None).await)
}

/// Sends `chunk` (a slice of the file: the browser reads it, not wasm) as
/// the bytes from `offset` of a file of `size` bytes.
pub async fn send_chunk(
    endpoint: &Endpoint,
    sha256: &str,
    offset: u64,
    size: u64,
    chunk: &web_sys::Blob,
) -> Reply<UploadStatus> {
    let url = format!(
        "{}?offset={offset}&size={size}",
        upload_url(endpoint, sha256)
    );
    if endpoint.debug {
        let line = format!("outbox-sync: sending file {sha256} from byte {offset} of {size}");
        web_sys::console::debug_1(&line.into());
    }
    let body = Some((chunk.clone().into(), "application/octet-stream"));
    read_reply(send_body(endpoint, Method::PUT, &url, body).await)
}

/// Why a file could not be downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadError {
    /// No answer (offline, server unreachable).
    NoAnswer(String),
    /// The server answered with this status (`404`: it does not hold the file).
    Status(u16),
}

/// Downloads the file `sha256` whole, as a `Blob` the browser keeps (the
/// bytes never enter wasm memory).
pub async fn download(endpoint: &Endpoint, sha256: &str) -> Result<web_sys::Blob, DownloadError> {
    let url = endpoint.url(&format!("{BLOBS_PATH}/{sha256}"));
    let mut builder = gloo_net::http::RequestBuilder::new(&url).method(Method::GET);
    if let Some(token) = &endpoint.token {
        builder = builder.header("Authorization", &format!("Bearer {token}"));
    }
    let no_answer = |e: String| DownloadError::NoAnswer(e);
    let request = builder.build().map_err(|e| no_answer(e.to_string()))?;
    let response = request.send().await.map_err(|e| no_answer(e.to_string()))?;
    if response.status() != 200 {
        return Err(DownloadError::Status(response.status()));
    }
    let raw = web_sys::Response::from(response);
    let promise = raw
        .blob()
        .map_err(|e| no_answer(super::json::describe(&e)))?;
    let blob = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|e| no_answer(super::json::describe(&e)))?;
    Ok(wasm_bindgen::JsCast::unchecked_into(blob))
}
