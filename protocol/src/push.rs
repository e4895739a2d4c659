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
#[serde(try_from = "WireOutcome")]
pub struct PushResult {
    /// The event this result is for.
    pub event_id: String,
    /// The outcome; its `status` field sits beside `event_id` on the wire.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The outcome of one event, tagged by `status` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", try_from = "WireOutcome")]
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

/// A push result or outcome as it is read: one flat object, every field
/// optional, checked by `TryFrom` for its `status`.
///
/// serde's derive for `#[serde(flatten)]` and internally tagged enums reads
/// each result twice (first into a generic buffer, then into the variant),
/// and that buffering code was the largest serde item of the wasm client
/// (about 22 KB of 500); a plain struct is read in one pass. Serializing is
/// still derived: the server writes the same shape.
#[derive(Deserialize)]
struct WireOutcome {
    event_id: Option<String>,
    status: WireStatus,
    version: Option<u64>,
    record: Option<Record>,
    original: Option<Box<WireOutcome>>,
    current: Option<Record>,
    #[serde(default)]
    fields: Vec<String>,
    message: Option<String>,
    code: Option<String>,
}

/// The values of `status`.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireStatus {
    Applied,
    Duplicate,
    Conflict,
    Rejected,
}

/// A field a result's `status` needs is missing (or `null`).
#[derive(Debug)]
pub struct MissingField(&'static str, &'static str);

impl std::fmt::Display for MissingField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("missing field `")?;
        f.write_str(self.0)?;
        f.write_str("` in a push result with status \"")?;
        f.write_str(self.1)?;
        f.write_str("\"")
    }
}

fn needed<T>(
    value: Option<T>,
    field: &'static str,
    status: &'static str,
) -> Result<T, MissingField> {
    value.ok_or(MissingField(field, status))
}

impl TryFrom<WireOutcome> for Outcome {
    type Error = MissingField;

    fn try_from(wire: WireOutcome) -> Result<Self, MissingField> {
        Ok(match wire.status {
            WireStatus::Applied => Outcome::Applied {
                version: needed(wire.version, "version", "applied")?,
                record: needed(wire.record, "record", "applied")?,
            },
            WireStatus::Duplicate => Outcome::Duplicate {
                original: Box::new(Outcome::try_from(*needed(
                    wire.original,
                    "original",
                    "duplicate",
                )?)?),
            },
            WireStatus::Conflict => Outcome::Conflict {
                current: needed(wire.current, "current", "conflict")?,
                fields: wire.fields,
                message: needed(wire.message, "message", "conflict")?,
            },
            WireStatus::Rejected => Outcome::Rejected {
                code: needed(wire.code, "code", "rejected")?,
                message: needed(wire.message, "message", "rejected")?,
            },
        })
    }
}

impl TryFrom<WireOutcome> for PushResult {
    type Error = MissingField;

    fn try_from(mut wire: WireOutcome) -> Result<Self, MissingField> {
        let event_id = wire.event_id.take();
        let status = match wire.status {
            WireStatus::Applied => "applied",
            WireStatus::Duplicate => "duplicate",
            WireStatus::Conflict => "conflict",
            WireStatus::Rejected => "rejected",
        };
        Ok(PushResult {
            event_id: needed(event_id, "event_id", status)?,
            outcome: Outcome::try_from(wire)?,
        })
    }
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
