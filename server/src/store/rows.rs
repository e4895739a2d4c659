//! What the SQL stores share: a record's columns to and from its state, the
//! outcome a decision stores, and replaying a stored outcome. Keeping this in
//! one place means SQLite and PostgreSQL cannot drift apart in what they
//! answer.

use outbox_sync_protocol::{Map, Outcome, Record, Value};

use super::{Applied, ApplyRequest, Changes, Since, StoreError};
use crate::apply::{self, Decision, FieldVersions, State};

/// The record as the trait's `Record`.
pub fn record_of(collection: &str, record_id: &str, state: &State) -> Record {
    Record {
        collection: collection.to_owned(),
        record_id: record_id.to_owned(),
        version: state.version,
        deleted: state.deleted,
        data: if state.deleted {
            Value::Null
        } else {
            Value::Object(state.data.clone())
        },
    }
}

/// A record row's state from its `version`, `deleted`, `data` and
/// `field_versions` columns.
pub fn state_of(
    version: i64,
    deleted: bool,
    data: &str,
    fields: &str,
) -> Result<State, StoreError> {
    let data: Value = serde_json::from_str(data).map_err(json_error)?;
    let fields: FieldVersions = serde_json::from_str(fields).map_err(json_error)?;
    Ok(State {
        version: version as u64,
        deleted,
        data: match data {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        fields,
    })
}

/// One change of a pull page from its columns.
pub fn change_of(
    collection: String,
    record_id: String,
    version: i64,
    deleted: bool,
    data: &str,
) -> Result<Record, StoreError> {
    let data = if deleted {
        Value::Null
    } else {
        serde_json::from_str(data).map_err(json_error)?
    };
    Ok(Record {
        collection,
        record_id,
        version: version as u64,
        deleted,
        data,
    })
}

/// The `data` and `field_versions` columns of a state.
pub fn columns_of(state: &State) -> Result<(String, String), StoreError> {
    // A map serializes exactly as `Value::Object` of it does.
    let data = serde_json::to_string(&state.data).map_err(json_error)?;
    let fields = serde_json::to_string(&state.fields).map_err(json_error)?;
    Ok((data, fields))
}

/// What an event comes to, decided against the record's current state.
pub enum Decided {
    /// Store `state` (at the new version); answer `outcome`.
    Apply {
        /// The record's new state.
        state: State,
        /// The `applied` outcome.
        outcome: Outcome,
    },
    /// Change nothing; answer this `conflict` outcome.
    Conflict(Outcome),
}

impl Decided {
    /// The outcome to answer and to store with the key.
    pub fn outcome(&self) -> &Outcome {
        match self {
            Decided::Apply { outcome, .. } | Decided::Conflict(outcome) => outcome,
        }
    }

    /// The outcome, by value.
    pub fn into_outcome(self) -> Outcome {
        match self {
            Decided::Apply { outcome, .. } | Decided::Conflict(outcome) => outcome,
        }
    }
}

/// Decides the request's event against `current`; an applied event gets
/// version `next`.
pub fn decide(request: &ApplyRequest<'_>, current: Option<&State>, next: u64) -> Decided {
    let event = request.event;
    match apply::decide(request.policy, current, event, next) {
        Decision::Apply(state) => {
            let outcome = Outcome::Applied {
                version: next,
                record: record_of(&event.collection, &event.record_id, &state),
            };
            Decided::Apply { state, outcome }
        }
        Decision::Conflict { fields, message } => {
            let absent = State {
                version: 0,
                deleted: true,
                data: Map::new(),
                fields: FieldVersions::new(),
            };
            let state = current.unwrap_or(&absent);
            Decided::Conflict(Outcome::Conflict {
                current: record_of(&event.collection, &event.record_id, state),
                fields,
                message,
            })
        }
    }
}

/// The stored outcome column.
pub fn outcome_column(outcome: &Outcome) -> Result<String, StoreError> {
    serde_json::to_string(outcome).map_err(json_error)
}

/// The answer to a key seen before: its stored outcome when the request is
/// the same, `KeyReused` otherwise.
pub fn replay(
    request: &ApplyRequest<'_>,
    hash: &str,
    outcome: &str,
) -> Result<Applied, StoreError> {
    if hash != request.request_hash {
        return Ok(Applied::KeyReused);
    }
    let outcome: Outcome = serde_json::from_str(outcome).map_err(json_error)?;
    Ok(Applied::Replayed(outcome))
}

/// A stored JSON column that does not parse.
pub fn json_error(error: serde_json::Error) -> StoreError {
    StoreError::Other(format!("stored JSON is unreadable: {error}"))
}

/// Why a pull cannot start at `since`, given the user's tombstone
/// `horizon` and the highest position the database has handed out (`seq`).
pub fn refuse(since: Since, horizon: Option<i64>, seq: i64) -> Option<Changes> {
    let seq = seq.max(0) as u64;
    if since.position > seq || since.valid_above.is_some_and(|v| v > seq) {
        return Some(Changes::NotIssued);
    }
    let horizon = horizon.unwrap_or(0).max(0) as u64;
    since
        .valid_above
        .is_some_and(|v| v < horizon)
        .then_some(Changes::Gone)
}

/// A page of changes from up to `limit + 1` records read after `since`
/// (the extra one only says that more follow). The pages of a full resync
/// stay valid against the horizon the resync began with; its last page
/// moves to the user's `horizon` when that is further, since every purged
/// tombstone lies below it.
pub fn page(mut records: Vec<Record>, limit: usize, since: Since, horizon: Option<i64>) -> Changes {
    let has_more = records.len() > limit;
    records.truncate(limit);
    let last = records.last().map_or(since.position, |r| r.version);
    let horizon = horizon.unwrap_or(0).max(0) as u64;
    let next = match (since.is_resync(), has_more) {
        (true, true) => Since {
            position: last,
            valid_above: Some(since.valid_above.unwrap_or(horizon)),
        },
        (true, false) => Since::after(last.max(horizon)),
        (false, _) => Since::after(last),
    };
    Changes::Page {
        records,
        next,
        has_more,
    }
}
