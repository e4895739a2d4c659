//! `GET /v1/changes`: one page of changes after a sync token, as a
//! [`PullReply`].

use gloo_net::http::Method;
use outbox_sync_protocol::api::CHANGES_PATH;
use outbox_sync_protocol::ChangesResponse;

use super::fetch::{error_details, send, Answer};
use super::json::from_json;
use super::Endpoint;
use crate::core::pull::PullReply;

/// Asks for at most `limit` changes after `since` (`None`: from the start)
/// and reports what the server answered.
///
/// Never fails: every outcome, including no answer at all, is a
/// [`PullReply`].
pub async fn pull(endpoint: &Endpoint, since: Option<&str>, limit: u32) -> PullReply {
    let mut url = format!("{}?limit={limit}", endpoint.url(CHANGES_PATH));
    if let Some(token) = since {
        url.push_str("&since=");
        url.push_str(&String::from(js_sys::encode_uri_component(token)));
    }
    match send(endpoint, Method::GET, &url, None).await {
        Answer::Timeout => PullReply::Timeout,
        Answer::Network => PullReply::Network,
        Answer::Response {
            status: 200, body, ..
        } => match body.and_then(|text| from_json::<ChangesResponse>(&text)) {
            Ok(page) => PullReply::Page(page),
            Err(why) => PullReply::Malformed(why),
        },
        Answer::Response { status: 410, .. } => PullReply::ResyncRequired,
        Answer::Response {
            status,
            retry_after_ms,
            body,
        } => {
            let (code, message) = error_details(body);
            PullReply::Status {
                status,
                retry_after_ms,
                code,
                message,
            }
        }
    }
}
