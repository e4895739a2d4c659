//! What the server's answer to one push writes: every event's outcome, in
//! one write set.
//!
//! [`plan`](super::drain::plan) turns an answer into one [`Step`] per event;
//! [`plan_settlement`] turns the steps, and what the store read for them,
//! into the [`WriteSet`] of one transaction: confirmed events fold into
//! their records (and leave the outbox unless synced events are kept),
//! retried, failed and conflicting ones change state, conflicts are kept for
//! the user. An offline attempt on a batch of a hundred is one commit, not a
//! hundred.

use std::collections::HashMap;

use uuid::Uuid;

use super::drain::Step;
use super::event::{OutboxEvent, RecordKey};
use super::lease::Leases;
use super::record::LocalRecord;
use super::sync_store::prepare_conflict;
use super::write_set::WriteSet;

/// A record a settlement changes, as the store read it: the record (if the
/// device has it) and the record's events the server has not confirmed, in
/// send order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRead {
    /// Which record.
    pub key: RecordKey,
    /// The record as stored.
    pub record: Option<LocalRecord>,
    /// Its unconfirmed events, in send order.
    pub unsent: Vec<OutboxEvent>,
}

/// What one push's answer wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settlement {
    /// The writes, for one transaction.
    pub writes: WriteSet,
    /// The events this drainer confirmed, as they were when confirmed (one
    /// another drainer finished first is not among them).
    pub synced: Vec<OutboxEvent>,
}

/// The records a settlement must read: those of the events the server
/// confirmed or found in conflict, once each, in step order. `events` holds
/// the stored event of each step (`None` when it is gone).
pub fn records_to_read(steps: &[Step], events: &[Option<OutboxEvent>]) -> Vec<RecordKey> {
    let mut keys: Vec<RecordKey> = Vec::new();
    for (step, event) in steps.iter().zip(events) {
        let touches_record = matches!(step, Step::Synced { .. } | Step::Conflict { .. });
        if let (true, Some(event)) = (touches_record, event) {
            let key = event.record_key();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// Whether a settlement must read `record`'s unconfirmed events. A record
/// whose only unconfirmed change is the one being settled (the common case:
/// one change per record between syncs) has none left once it is confirmed,
/// so the read of each record's events through the outbox's index is
/// skipped for it; its [`RecordRead::unsent`] is empty.
pub fn reads_unsent(record: Option<&LocalRecord>) -> bool {
    record.is_some_and(|r| r.pending > 1)
}

/// Plans the writes of one push's `steps`.
///
/// `events` holds the stored event of each step, `records` what
/// [`records_to_read`] asked for. An event that is gone, or that is no longer
/// syncing (another drainer took over after this one's lease ran out and
/// finished it), is left as it is. With `keep_synced`, confirmed events stay
/// in the outbox as synced (for a retention period); otherwise they are
/// removed in the same transaction.
pub fn plan_settlement(
    steps: Vec<Step>,
    events: Vec<Option<OutboxEvent>>,
    records: Vec<RecordRead>,
    keep_synced: bool,
    now_ms: u64,
) -> Settlement {
    let mut records: HashMap<RecordKey, RecordRead> =
        records.into_iter().map(|r| (r.key.clone(), r)).collect();
    let mut changed: Vec<RecordKey> = Vec::new();
    let mut settlement = Settlement::default();
    for (step, event) in steps.into_iter().zip(events) {
        let Some(mut event) = event else { continue };
        match step {
            Step::Synced { version, .. } => {
                if event.mark_synced(now_ms).is_err() {
                    continue;
                }
                if let Some(read) = records.get_mut(&event.record_key()) {
                    read.unsent.retain(|e| e.event_id != event.event_id);
                    if let Some(record) = read.record.as_mut() {
                        record.confirm(&event, Some(version), &read.unsent);
                        mark_changed(&mut changed, &read.key);
                    }
                }
                match (keep_synced, event.seq) {
                    (false, Some(seq)) => settlement.writes.delete_event(seq),
                    _ => settlement.writes.put_event(event.clone()),
                }
                settlement.synced.push(event);
            }
            Step::Retry { at_ms, reason, .. } => {
                if event.requeue(at_ms, &reason).is_ok() {
                    settlement.writes.put_event(event);
                }
            }
            Step::Failed { reason, .. } => {
                if event.fail(&reason).is_ok() {
                    settlement.writes.put_event(event);
                }
            }
            Step::Conflict {
                current,
                fields,
                reason,
                ..
            } => {
                let record = records
                    .get(&event.record_key())
                    .and_then(|read| read.record.as_ref());
                if let Ok(conflict) =
                    prepare_conflict(&mut event, record, current, fields, &reason, now_ms)
                {
                    settlement.writes.put_event(event);
                    settlement.writes.put_conflict(conflict);
                }
            }
        }
    }
    for key in changed {
        if let Some(record) = records.remove(&key).and_then(|read| read.record) {
            settlement.writes.put_record(record);
        }
    }
    settlement
}

/// Adds to `writes` the release of every settled event from its batch
/// lease (`events`: the stored event of each step, `None` when it is gone):
/// one write per lease, not per event; a lease left empty is deleted.
pub fn release_settled(writes: &mut WriteSet, leases: &mut Leases, events: &[Option<OutboxEvent>]) {
    let seqs: Vec<u64> = events.iter().flatten().filter_map(|e| e.seq).collect();
    writes.leases.extend(leases.release(&seqs));
}

fn mark_changed(changed: &mut Vec<RecordKey>, key: &RecordKey) {
    if !changed.contains(key) {
        changed.push(key.clone());
    }
}

/// The ids of the events `steps` are for, in order.
pub fn event_ids(steps: &[Step]) -> Vec<Uuid> {
    steps.iter().map(Step::event_id).collect()
}

#[cfg(all(test, not(target_family = "wasm")))]
#[path = "settle_tests.rs"]
mod tests;
