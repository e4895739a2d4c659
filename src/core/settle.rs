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

use std::collections::{HashMap, HashSet};

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
    /// The record is stored and its one unconfirmed change is the one being
    /// settled ([`confirms_by_patch`]); its fields were not read (`record`
    /// is `None`). Confirming it is a [`RecordWrite::Confirm`](super::write_set::RecordWrite::Confirm).
    pub one_change: bool,
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
    let mut seen: HashSet<RecordKey> = HashSet::new();
    for (step, event) in steps.iter().zip(events) {
        let touches_record = matches!(step, Step::Synced { .. } | Step::Conflict { .. });
        if let (true, Some(event)) = (touches_record, event) {
            let key = event.record_key();
            if seen.insert(key.clone()) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The records of `steps` a settlement needs whole, fields and all, even
/// when their one unconfirmed change is the one settled: those of
/// conflicts, which are kept with the record's fields.
pub fn whole_records(steps: &[Step], events: &[Option<OutboxEvent>]) -> HashSet<RecordKey> {
    steps
        .iter()
        .zip(events)
        .filter(|(step, _)| matches!(step, Step::Conflict { .. }))
        .filter_map(|(_, event)| event.as_ref().map(OutboxEvent::record_key))
        .collect()
}

/// Whether a settlement confirms a stored record with `pending` unconfirmed
/// changes by patching it ([`RecordRead::one_change`]) rather than reading
/// it whole: with one change pending, the one being confirmed, the record's
/// local view is its base with that change applied, which is what the base
/// becomes. Not for the records of [`whole_records`].
pub fn confirms_by_patch(pending: u32, whole: bool) -> bool {
    pending == 1 && !whole
}

/// Whether a settlement must read `record`'s unconfirmed events. A record
/// whose only unconfirmed change is the one being settled (the common case:
/// one change per record between syncs) has none left once it is confirmed,
/// so the read of each record's events through the outbox's index is
/// skipped for it; its [`RecordRead::unsent`] is empty.
pub fn reads_unsent(record: Option<&LocalRecord>) -> bool {
    record.is_some_and(|r| r.pending > 1)
}

/// Whether a settlement needs the event of `step` whole, its payload
/// decoded: a confirmed event that leaves the outbox is only deleted and
/// timed (its seq, state, attempts, record and creation time are read), so
/// a store may read it without its payload, the larger part of it. It is
/// needed when the event is kept (`keep_synced`: it is written back), when
/// its record is folded whole (`record_whole`: the record was read and
/// decoded, and the event's change goes into its base), and for every
/// other outcome, which rewrites the event.
pub fn needs_payload(step: &Step, keep_synced: bool, record_whole: bool) -> bool {
    !matches!(step, Step::Synced { .. }) || keep_synced || record_whole
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
    let mut changed = Changed::default();
    let mut settlement = Settlement::default();
    for (step, event) in steps.into_iter().zip(events) {
        let Some(mut event) = event else { continue };
        match step {
            Step::Synced { version, .. } => {
                if event.mark_synced(now_ms).is_err() {
                    continue;
                }
                if let Some(read) = records.get_mut(&event.record_key()) {
                    if read.one_change {
                        // Once: a second confirmation of the record (which
                        // had one change pending) has nothing to fold.
                        read.one_change = false;
                        settlement.writes.confirm_record(read.key.clone(), version);
                    }
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
    for key in changed.keys {
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

/// The records a settlement rewrites, once each, in first-changed order.
#[derive(Default)]
struct Changed {
    keys: Vec<RecordKey>,
    seen: HashSet<RecordKey>,
}

fn mark_changed(changed: &mut Changed, key: &RecordKey) {
    if changed.seen.insert(key.clone()) {
        changed.keys.push(key.clone());
    }
}

/// The ids of the events `steps` are for, in order.
pub fn event_ids(steps: &[Step]) -> Vec<Uuid> {
    steps.iter().map(Step::event_id).collect()
}

#[cfg(all(test, not(target_family = "wasm")))]
#[path = "settle_tests.rs"]
mod tests;
