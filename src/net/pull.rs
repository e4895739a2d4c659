//! `GET /v1/changes`: one page of changes after a sync token, as a
//! [`PullReply`].

use gloo_net::http::Method;
use outbox_sync_protocol::api::CHANGES_PATH;

use super::fetch::{read_reply, send};
use super::Endpoint;
use crate::core::pull::PullReply;

/// Asks for at most `limit` changes after `since` (`None`: from the start)
/// and reports what the server answered.
///
/// Never fails: every outcome, including no answer at all, is a
/// [`PullReply`]; a `410` asks for a resync from the start.
pub async fn pull(endpoint: &Endpoint, since: Option<&str>, limit: u32) -> PullReply {
    let mut url = format!("{}?limit={limit}", endpoint.url(CHANGES_PATH));
    if let Some(token) = since {
        url.push_str("&since=");
        url.push_str(&String::from(js_sys::encode_uri_component(token)));
    }
    read_reply(send(endpoint, Method::GET, &url, None).await)
}
