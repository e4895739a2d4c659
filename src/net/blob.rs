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
