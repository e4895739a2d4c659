//! Write events: what a client's outbox holds and pushes.

use serde::{Deserialize, Serialize};

use crate::Value;

/// What an event does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Replace the whole record; the payload is the full object.
    Put,
    /// Change some fields; the payload holds only the changed fields, and a
    /// field set to `null` is removed.
    Patch,
    /// Delete the record, leaving a tombstone; the payload is `null`.
    Delete,
}

impl Op {
    /// The name used on the wire (`"put"`, `"patch"`, `"delete"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Patch => "patch",
            Op::Delete => "delete",
        }
    }
}

/// One write, recorded on the device first and pushed later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// A UUID made by the client (v7 recommended): the idempotency key.
    pub event_id: String,
    /// The collection the record belongs to, e.g. `"notes"`.
    pub collection: String,
    /// The record's id, unique within its collection.
    pub record_id: String,
    /// What the event does.
    pub op: Op,
    /// The server version of the record the client last saw, `None` for a
    /// record the client has never seen from the server.
    #[serde(default)]
    pub base_version: Option<u64>,
    /// The object for `put`, the changed fields for `patch`, `null` for
    /// `delete`.
    #[serde(default)]
    pub payload: Value,
}

/// A record as the server holds it: the shape of pulled changes, of
/// conflict details and of single-record responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The collection the record belongs to.
    pub collection: String,
    /// The record's id within its collection.
    pub record_id: String,
    /// The server version: the position of the record's last change in the
    /// server's global order. `0` means the server has no such record.
    pub version: u64,
    /// `true` for a tombstone: the record was deleted and `data` is `null`.
    pub deleted: bool,
    /// The record's fields (an object), or `null` for a tombstone.
    pub data: Value,
}
