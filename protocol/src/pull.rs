//! `GET /v1/changes`: the records changed after a sync token.

use serde::{Deserialize, Serialize};

use crate::Record;

/// The body of a `200` answer to `GET /v1/changes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangesResponse {
    /// Changed records in server order, each at its latest version;
    /// tombstones (`deleted: true`) for deleted records.
    pub changes: Vec<Record>,
    /// The opaque token to pass as `since` next time.
    pub next_token: String,
    /// `true` when more changes are waiting: ask again at once with
    /// `next_token`.
    pub has_more: bool,
}
