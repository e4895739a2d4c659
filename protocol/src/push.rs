//! `POST /v1/push`: a batch of events in, one result per event out.

use serde::{Deserialize, Serialize};

use crate::{Event, Record};

/// The body of `POST /v1/push`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    /// The events to apply, in order.
    pub events: Vec<Event>,
}

/// The body of a `200` answer to `POST /v1/push`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    /// One result per event, in the order the events were sent.
    pub results: Vec<PushResult>,
}

/// What happened to one pushed event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResult {
    /// The event this result is for.
    pub event_id: String,
    /// The outcome; its `status` field sits beside `event_id` on the wire.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The outcome of one event, tagged by `status` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The event was applied now.
    Applied {
        /// The record's new version.
        version: u64,
        /// The record as it is after the event.
        record: Record,
    },
    /// The event had been received before; `original` is the outcome stored
    /// then (never itself a duplicate). Nothing was changed this time.
    Duplicate {
        /// The outcome the first delivery got.
        original: Box<Outcome>,
    },
    /// The event was not applied because the record changed on the server in
    /// a way the collection's conflict policy does not allow to overwrite.
    Conflict {
        /// The record as the server holds it now.
        current: Record,
        /// For `merge` collections, the fields both sides changed; empty
        /// otherwise.
        #[serde(default)]
        fields: Vec<String>,
        /// A sentence describing the conflict.
        message: String,
    },
    /// The event can never be applied as sent; nothing was changed.
    Rejected {
        /// A stable snake_case code, see `docs/protocol.md`.
        code: String,
        /// A sentence a person can act on.
        message: String,
    },
}

impl Outcome {
    /// The wire name of the status: `"applied"`, `"duplicate"`,
    /// `"conflict"` or `"rejected"`.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Applied { .. } => "applied",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::Conflict { .. } => "conflict",
            Outcome::Rejected { .. } => "rejected",
        }
    }

    /// The outcome that decides what the client does: the original one for a
    /// duplicate, the outcome itself otherwise.
    pub fn effective(&self) -> &Outcome {
        match self {
            Outcome::Duplicate { original } => original.effective(),
            other => other,
        }
    }
}
