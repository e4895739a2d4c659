//! The pull and conflict side of a store, and the pure steps both stores share.
//!
//! [`SyncStore`] extends [`OutboxStore`] with what the engine needs after the
//! server answered: apply pulled pages (records and the sync token together),
//! keep conflicts for the user, and carry out the user's choice.

use outbox_sync_protocol::Record;
use uuid::Uuid;

use super::conflict::{Conflict, Resolution};
use super::error::StoreError;
use super::event::{EventState, OutboxEvent, RecordKey};
use super::outbox::{prepare_change, OutboxStore};
use super::record::LocalRecord;
use super::remote::server_fields;
use super::validate::Limits;

/// The pull and conflict operations of a store. Each runs in one transaction.
#[allow(async_fn_in_trait)]
pub trait SyncStore: OutboxStore {
    /// The token to pull changes after; `None` before the first pull.
    async fn sync_token(&self) -> Result<Option<String>, StoreError>;

    /// Applies a pulled page, arrived at `now_ms`, to local records (pending
    /// changes stay on top) and saves `next_token`, together. Returns how
    /// many records changed.
    async fn apply_pulled(
        &self,
        changes: &[Record],
        next_token: &str,
        now_ms: u64,
    ) -> Result<u32, StoreError>;

    /// Forgets the sync token so the next pull starts from the beginning
    /// (after a `410`); pending events and local records stay.
    async fn reset_sync_token(&self) -> Result<(), StoreError>;

    /// A small setting kept beside the outbox (such as the sync server's
    /// address), `None` when unset.
    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// Saves (`Some`) or removes (`None`) a setting.
    async fn set_setting(&self, name: &str, value: Option<&str>) -> Result<(), StoreError>;

    /// The settings `names`, read together in one transaction.
    async fn settings(&self, names: &[&str]) -> Result<Vec<Option<String>>, StoreError>;

    /// Reads the settings `names`, lets `change` turn their values into new
    /// ones (`None` removes one), and saves those, all in one transaction:
    /// another context's change can neither slip in between nor be lost.
    async fn update_settings<F>(&self, names: &[&str], change: F) -> Result<(), StoreError>
    where
        F: FnOnce(Vec<Option<String>>) -> Result<Vec<Option<String>>, StoreError>;

    /// Marks a syncing event in conflict and keeps mine, base and theirs.
    async fn record_conflict(
        &self,
        event_id: Uuid,
        theirs: Record,
        fields: Vec<String>,
        reason: &str,
        now_ms: u64,
    ) -> Result<Conflict, StoreError>;

    /// Conflicts waiting for the user's choice, oldest first.
    async fn conflicts(&self) -> Result<Vec<Conflict>, StoreError>;

    /// Carries out the user's choice for the conflict of `event_id`; returns
    /// the new event it queued (none for "use theirs").
    async fn resolve_conflict(
        &self,
        event_id: Uuid,
        resolution: &Resolution,
        now_ms: u64,
    ) -> Result<Option<OutboxEvent>, StoreError>;
}

/// The conflict for a syncing `event`, from its record as the device shows it.
pub fn prepare_conflict(
    event: &mut OutboxEvent,
    record: Option<&LocalRecord>,
    theirs: Record,
    fields: Vec<String>,
    reason: &str,
    now_ms: u64,
) -> Result<Conflict, StoreError> {
    event.mark_conflict(reason)?;
    let (mine, base) = record.map_or((None, None), |r| (r.local.clone(), r.base.clone()));
    Ok(Conflict::new(
        event, mine, base, theirs, fields, reason, now_ms,
    ))
}

/// What resolving a conflict writes: the events it removes, the record, the new event.
#[derive(Debug)]
pub struct ResolutionWrite {
    /// Unsent events of the record that the choice replaces, by `seq`.
    pub removed: Vec<u64>,
    /// The record after the choice.
    pub record: LocalRecord,
    /// The new event to queue (without a `seq` yet), if the choice sends one.
    pub event: Option<OutboxEvent>,
}

/// Plans the user's choice for `conflict`.
///
/// The choice settles the whole record: the server's version becomes the
/// base, and the record's other unsent changes are folded into the choice
/// ("keep mine" sends what the device showed, which already holds them), so
/// none of them is sent later against an outdated version.
pub fn prepare_resolution(
    limits: &Limits,
    conflict: &Conflict,
    resolution: &Resolution,
    unsent: &[OutboxEvent],
    new_event_id: Uuid,
    now_ms: u64,
) -> Result<ResolutionWrite, StoreError> {
    if let Some(busy) = unsent.iter().find(|e| e.state == EventState::Syncing) {
        return Err(StoreError::CannotDiscard(busy.state));
    }
    let key = RecordKey {
        collection: conflict.collection.clone(),
        record_id: conflict.record_id.clone(),
    };
    let mut record = LocalRecord::empty(&key);
    record.base = server_fields(&conflict.theirs);
    // Version 0 is "the server has no such record": a change against it is a creation.
    record.base_version = Some(conflict.theirs.version).filter(|v| *v > 0);
    record.local = record.base.clone();
    record.updated_at_ms = now_ms;
    let removed = unsent.iter().filter_map(|e| e.seq).collect();
    let event = match conflict.resolution_change(resolution) {
        Some(change) => {
            let (next, event) = prepare_change(limits, Some(record), change, new_event_id, now_ms)?;
            record = next;
            Some(event)
        }
        None => None,
    };
    Ok(ResolutionWrite {
        removed,
        record,
        event,
    })
}

/// `NotFound` for a conflict that is not (or no longer) waiting.
pub fn conflict_not_found(event_id: Uuid) -> StoreError {
    StoreError::EventNotFound(event_id.to_string())
}
