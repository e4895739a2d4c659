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
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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

/// One event of a [`Batch`], with what idempotency needs.
#[derive(Debug, Clone)]
pub struct Write {
    /// The validated event.
    pub event: Event,
    /// The idempotency key, or `None` for a write sent without one.
    pub key: Option<String>,
    /// Hash of everything in the request except the key.
    pub request_hash: String,
    /// The conflict policy to apply.
    pub policy: Policy,
}

/// The events of one request (a push, or a single-record write), applied
/// in order in one transaction.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Whose data this is.
    pub user: String,
    /// The events, in the order they are applied.
    pub writes: Vec<Write>,
    /// Wall-clock time, for expiry only (never for ordering).
    pub now_ms: i64,
}

impl Batch {
    /// The [`ApplyRequest`] of the `index`th write.
    pub fn request(&self, index: usize) -> ApplyRequest<'_> {
        let write = &self.writes[index];
        ApplyRequest {
            user: &self.user,
            event: &write.event,
            key: write.key.as_deref(),
            request_hash: &write.request_hash,
            policy: write.policy,
            now_ms: self.now_ms,
        }
    }
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

/// The answer of [`Store::apply_queued`], to await.
pub type Queued = Pin<Box<dyn Future<Output = Result<Vec<Applied>, StoreError>> + Send>>;

/// Where a pull starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since {
    /// Records after this position are returned.
    pub position: u64,
    /// The tombstone horizon this pull must not be behind (`410` when the
    /// user's horizon is above it): the position itself for an incremental
    /// pull; for the later pages of a full resync, the horizon when the
    /// resync began (so a purge during the resync restarts it, and nothing
    /// else does); `None` for the first page of a full resync.
    pub valid_above: Option<u64>,
}

impl Since {
    /// A full resync from the beginning.
    pub const START: Since = Since {
        position: 0,
        valid_above: None,
    };

    /// An incremental pull after `position`.
    pub fn after(position: u64) -> Since {
        Since {
            position,
            valid_above: Some(position),
        }
    }

    /// Whether this pull is part of a full resync.
    pub fn is_resync(&self) -> bool {
        self.valid_above != Some(self.position)
    }
}

/// One page of changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Changes {
    /// Records changed after the given position, oldest first.
    Page {
        /// At most `limit` records.
        records: Vec<Record>,
        /// Where the next pull starts: after the last record, or, at the end
        /// of a full resync, at least at the user's tombstone horizon (so
        /// the token is never older than the horizon).
        next: Since,
        /// Whether more records follow.
        has_more: bool,
    },
    /// Tombstones after the asked position were purged: resync from scratch.
    Gone,
    /// The position is beyond anything this database has handed out: not
    /// a token of this server.
    NotIssued,
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
    /// Blobs (and unfinished uploads) removed.
    pub blobs: u64,
}

/// A storage failure.
#[derive(Debug, Clone)]
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
    /// Applies a batch's events in order in one transaction, each with its
    /// own outcome (a conflict or a reused key refuses that event only),
    /// writing every change with its idempotency record (key, request hash,
    /// outcome). Returns once the transaction is committed (flushed, for a
    /// durable store); on an error nothing of the batch is kept.
    fn apply(&self, batch: Arc<Batch>) -> Result<Vec<Applied>, StoreError>;

    /// [`Store::apply`] without blocking the caller, for a store whose
    /// writes run on a thread of its own: queues the batch and returns the
    /// answer to await. `None` (the default): the store has no such thread;
    /// call `apply` on the blocking pool.
    fn apply_queued(&self, batch: Arc<Batch>) -> Option<Queued> {
        let _ = batch;
        None
    }

    /// The record, tombstones included, or `None` when there is none.
    fn get(
        &self,
        user: &str,
        collection: &str,
        record_id: &str,
    ) -> Result<Option<Record>, StoreError>;

    /// Up to `limit` records changed after `since`.
    fn changes(&self, user: &str, since: Since, limit: usize) -> Result<Changes, StoreError>;

    /// Removes keys created before `keys_before_ms` and tombstones last
    /// changed before `tombstones_before_ms`, moving each user's horizon.
    fn expire(&self, keys_before_ms: i64, tombstones_before_ms: i64)
        -> Result<Expired, StoreError>;

    /// Whether a live record of `user` holds the blob id `sha256` in its
    /// data (a `$blob` reference). Matching the id as text may also find it
    /// in an ordinary string, which only keeps that blob longer.
    fn references_blob(&self, user: &str, sha256: &str) -> Result<bool, StoreError>;

    /// A random id of this database, fixed at creation: sync tokens carry it
    /// so a token from another database is recognised.
    fn epoch(&self) -> &str;
}
