//! The audit trail: one row per event the server decided (applied, or
//! refused by a conflict), appended in the same transaction as the change
//! and its idempotency key. A replay finds the key and writes nothing, so
//! the trail says how many times each event really changed data: once.
//!
//! Users read a record's history (`GET /v1/records/{collection}/{id}/history`);
//! operators find one event (`outbox-sync-server audit --event-id ...`).
//! The maintenance pass removes rows older than the audit retention.
//!
//! This module holds what both stores share: the row, the page, the reading
//! trait and the SQL text. Each store runs [`append`]'s row in its apply
//! transaction (`store/sqlite/audit.rs`, `store/postgres/audit.rs`).

use outbox_sync_protocol::Outcome;
use serde::Serialize;

use crate::store::{ApplyRequest, StoreError};

/// One row of the trail, as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The row's position in the trail (commit order, over all users).
    pub id: u64,
    /// Whose data it changed.
    pub user: String,
    /// The event id (the idempotency key); `None` for a single-record write
    /// sent without an `Idempotency-Key`.
    pub event_id: Option<String>,
    /// The record's collection.
    pub collection: String,
    /// The record's id.
    pub record_id: String,
    /// The version the event gave the record (`applied`), or the version it
    /// conflicted with (`conflict`; `None` when there was no record).
    pub version: Option<u64>,
    /// `put`, `patch` or `delete`.
    pub op: String,
    /// `applied` or `conflict`.
    pub outcome: String,
    /// When it committed, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// One page of a record's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Up to `limit` entries after the cursor, oldest first.
    pub entries: Vec<Entry>,
    /// Whether more entries follow the last one.
    pub has_more: bool,
}

/// The row an apply transaction appends (the id is taken by the store).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow<'a> {
    /// Whose data.
    pub user: &'a str,
    /// The event id, `None` without a key.
    pub event_id: Option<&'a str>,
    /// The collection.
    pub collection: &'a str,
    /// The record id.
    pub record_id: &'a str,
    /// See [`Entry::version`].
    pub version: Option<i64>,
    /// The operation's wire name.
    pub op: &'static str,
    /// `applied` or `conflict`.
    pub outcome: &'static str,
    /// The request's time.
    pub at_ms: i64,
}

/// The row for `request` decided as `outcome` (a fresh decision, never a
/// replay).
pub fn row<'a>(request: &ApplyRequest<'a>, outcome: &Outcome) -> NewRow<'a> {
    let version = match outcome {
        Outcome::Applied { version, .. } => Some(*version as i64),
        Outcome::Conflict { current, .. } if current.version > 0 => Some(current.version as i64),
        _ => None,
    };
    NewRow {
        user: request.user,
        event_id: request.key,
        collection: &request.event.collection,
        record_id: &request.event.record_id,
        version,
        op: request.event.op.as_str(),
        outcome: outcome.status(),
        at_ms: request.now_ms,
    }
}

/// Reading and expiring the trail; every store implements it.
pub trait AuditTrail {
    /// `user`'s entries for one record with an id above `after`, oldest
    /// first, at most `limit`.
    fn history(
        &self,
        user: &str,
        collection: &str,
        record_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Page, StoreError>;

    /// Every entry of `event_id` (of `user` only, when given), oldest first.
    /// Event ids are unique per user, so several users may each have one.
    fn find_event(&self, event_id: &str, user: Option<&str>) -> Result<Vec<Entry>, StoreError>;

    /// Removes entries written before `before_ms`; returns how many.
    fn expire_audit(&self, before_ms: i64) -> Result<u64, StoreError>;
}

/// A page from up to `limit + 1` entries (the extra one only says that more
/// follow).
pub fn page(mut entries: Vec<Entry>, limit: usize) -> Page {
    let has_more = entries.len() > limit;
    entries.truncate(limit);
    Page { entries, has_more }
}

/// The columns every read selects, in [`Entry`]'s order.
pub const COLUMNS: &str =
    "id, user_id, event_id, collection, record_id, version, op, outcome, at_ms";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use outbox_sync_protocol::{Event, Op, Record, Value};

    fn record(version: u64) -> Record {
        Record {
            collection: "notes".into(),
            record_id: "n1".into(),
            version,
            deleted: false,
            data: Value::Null,
        }
    }

    #[test]
    fn a_row_names_the_event_and_what_it_came_to() {
        let event = Event {
            event_id: "e1".into(),
            collection: "notes".into(),
            record_id: "n1".into(),
            op: Op::Patch,
            base_version: Some(3),
            payload: Value::Null,
        };
        let request = ApplyRequest {
            user: "alice",
            event: &event,
            key: Some("e1"),
            request_hash: "h",
            policy: Policy::Merge,
            now_ms: 42,
        };
        let applied = Outcome::Applied {
            version: 7,
            record: record(7),
        };
        let row = row(&request, &applied);
        assert_eq!(
            (
                row.user,
                row.event_id,
                row.version,
                row.op,
                row.outcome,
                row.at_ms
            ),
            ("alice", Some("e1"), Some(7), "patch", "applied", 42)
        );
        let conflict = |version| Outcome::Conflict {
            current: record(version),
            fields: Vec::new(),
            message: String::new(),
        };
        let at_5 = super::row(&request, &conflict(5));
        assert_eq!((at_5.version, at_5.outcome), (Some(5), "conflict"));
        assert_eq!(super::row(&request, &conflict(0)).version, None);
    }

    #[test]
    fn a_page_says_whether_more_follow() {
        let entry = |id| Entry {
            id,
            user: "u".into(),
            event_id: None,
            collection: "c".into(),
            record_id: "r".into(),
            version: Some(id),
            op: "put".into(),
            outcome: "applied".into(),
            at_ms: 0,
        };
        let full = page((1..=3).map(entry).collect(), 2);
        assert_eq!((full.entries.len(), full.has_more), (2, true));
        let last = page((1..=2).map(entry).collect(), 2);
        assert_eq!((last.entries.len(), last.has_more), (2, false));
    }
}
