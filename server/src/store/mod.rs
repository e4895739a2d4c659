//! Durable storage behind a trait: records, their change order, idempotency
//! keys and tombstone horizons, all scoped per user.
//!
//! SQLite (`sqlite.rs`) is the default: one server per file, nothing to set
//! up. PostgreSQL (`postgres.rs`) lets several server instances share one
//! database. Both run the same portable DDL (`schema.rs`) and share their
//! row encoding (`rows.rs`). Calls are blocking: the routes run them on
//! tokio's blocking pool.

pub mod postgres;
pub mod rows;
pub mod schema;
pub mod sqlite;

use std::fmt;

use outbox_sync_protocol::{Event, Outcome, Record};

use crate::audit::AuditTrail;
use crate::config::Policy;

/// One event to apply, with what idempotency needs.
#[derive(Debug)]
pub struct ApplyRequest<'a> {
    /// Whose data this is.
    pub user: &'a str,
    /// The validated event.
    pub event: &'a Event,
    /// The idempotency key, or `None` for a write sent without one.
    pub key: Option<&'a str>,
    /// Hash of everything in the request except the key; a key seen again
    /// with another hash is refused.
    pub request_hash: &'a str,
    /// The conflict policy to apply.
    pub policy: Policy,
    /// Wall-clock time, for expiry only (never for ordering).
    pub now_ms: i64,
}

/// What `apply` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The event was decided now; the outcome and key were stored together.
    Fresh(Outcome),
    /// The key had been seen with the same request: the stored outcome.
    Replayed(Outcome),
    /// The key had been seen with a different request; nothing changed.
    KeyReused,
}

/// One page of changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Changes {
    /// Records changed after the given position, oldest first.
    Page {
        /// At most `limit` records.
        records: Vec<Record>,
        /// The position after the last record (or the one asked for).
        position: u64,
        /// Whether more records follow.
        has_more: bool,
    },
    /// Tombstones after the asked position were purged: resync from scratch.
    Gone,
}

/// What a maintenance pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    /// Idempotency keys removed.
    pub keys: u64,
    /// Tombstones removed.
    pub tombstones: u64,
    /// Audit entries removed.
    pub audit: u64,
}

/// A storage failure.
#[derive(Debug)]
pub enum StoreError {
    /// The database is locked by another writer for too long: retry later.
    Busy,
    /// Anything else; the text is for logs, not for clients.
    Other(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Busy => f.write_str("database busy"),
            StoreError::Other(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for StoreError {}

/// Durable storage of one server, with its audit trail.
pub trait Store: AuditTrail + Send + Sync + 'static {
    /// Applies one event in its own transaction, writing the change and the
    /// idempotency record (key, request hash, outcome) together.
    fn apply(&self, request: &ApplyRequest<'_>) -> Result<Applied, StoreError>;

    /// The record, tombstones included, or `None` when there is none.
    fn get(
        &self,
        user: &str,
        collection: &str,
        record_id: &str,
    ) -> Result<Option<Record>, StoreError>;

    /// Up to `limit` records changed after `since` (`None`: from the start).
    fn changes(&self, user: &str, since: Option<u64>, limit: usize) -> Result<Changes, StoreError>;

    /// Removes keys created before `keys_before_ms` and tombstones last
    /// changed before `tombstones_before_ms`, moving each user's horizon.
    fn expire(&self, keys_before_ms: i64, tombstones_before_ms: i64)
        -> Result<Expired, StoreError>;

    /// A random id of this database, fixed at creation: sync tokens carry it
    /// so a token from another database is recognised.
    fn epoch(&self) -> &str;
}
