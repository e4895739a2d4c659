//! HTTP adapter: pushes batches and pulls pages of changes.
//!
//! Requests go through the global `fetch` (gloo-net), never `window`, so the
//! same code runs in a page and in a service worker. Every answer is sorted
//! into the core's [`PushReply`](crate::core::drain::PushReply) or
//! [`PullReply`](crate::core::pull::PullReply); what to do next is decided
//! there, not here.

pub mod blob;
mod fetch;
pub(crate) mod json;
mod pull;
mod push;

pub(crate) use fetch::browser_online;
pub use pull::pull;
pub use push::{push, push_held, wire_event};

/// Where the sync server is and how to talk to it.
///
/// Serialisable, so the page can save it for the service worker (the token
/// is kept in the outbox's settings, never inside events).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// The server's origin and optional path prefix, e.g.
    /// `https://sync.example.com`; API paths are appended to it.
    pub base_url: String,
    /// The bearer token sent as `Authorization`, if any.
    pub token: Option<String>,
    /// How long a request may take, answer body included, before it is
    /// given up as [`Timeout`](crate::core::drain::PushReply::Timeout).
    pub timeout_ms: u32,
    /// Log the `event_id` of every pushed event to the console (`debug`).
    pub debug: bool,
}

impl Endpoint {
    /// Requests time out after this long unless set otherwise.
    pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;

    /// An endpoint at `base_url`, without a token, with the default timeout.
    pub fn new(base_url: impl Into<String>) -> Self {
        Endpoint {
            base_url: base_url.into(),
            token: None,
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
            debug: false,
        }
    }

    /// The same endpoint, sending `token` as `Authorization: Bearer`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The same endpoint, giving up on requests after `timeout_ms`.
    pub fn with_timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    /// The full URL of an API `path` such as `/v1/push`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.trim_end_matches('/'))
    }
}
