//! Batch leases: one record per batch a drainer takes, instead of every
//! event of the batch rewritten as syncing.
//!
//! A taken event stays stored as queued; the [`BatchLease`] that holds it
//! (its `seq`, and its attempts when taken) makes it *show* as syncing, with
//! one more attempt and the lease's expiry, wherever the store reads it
//! ([`Leases::show`]). So taking a batch of 500 writes one small record, not
//! 500 events with their payloads. Whoever settles, requeues, fails or
//! confirms a leased event releases it from its lease in the same
//! transaction ([`Leases::release`]); an entry that no longer matches its
//! event (the event changed state or attempts since) is ignored, so a late
//! writer can never make an event show as syncing again. A lease whose
//! expiry passed is taken back by
//! [`recover_leases`](super::OutboxStore::recover_leases), exactly as a
//! per-event lease was: its events are queued again, due now, with the
//! "interrupted" reason.

use serde::{Deserialize, Serialize};

use super::event::{EventState, OutboxEvent, RecordKey};
use super::schedule::Clock;

/// One event a lease holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeasedEvent {
    /// The event's `seq`.
    pub seq: u64,
    /// Its attempts as stored when taken (it shows one more while held).
    pub attempts: u32,
    /// Its record's collection (queries show the record as syncing).
    pub collection: String,
    /// Its record's id.
    pub record_id: String,
}

/// A drainer's hold on the batch it is sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchLease {
    /// The batch's id (the key in the `leases` store).
    pub batch_id: String,
    /// Who holds it: the connection (tab, worker) that took the batch.
    pub holder: String,
    /// When the hold runs out (see [`Clock::lease_expired`]).
    pub until_ms: u64,
    /// The events still held, in send order.
    pub events: Vec<LeasedEvent>,
}

/// A change to the leases store.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseWrite {
    /// Save the lease under its batch id.
    Put(BatchLease),
    /// Remove the lease with this batch id.
    Delete(String),
}

/// Every stored lease, as one transaction read them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Leases {
    leases: Vec<BatchLease>,
}

impl Leases {
    /// The leases as read.
    pub fn new(leases: Vec<BatchLease>) -> Self {
        Leases { leases }
    }

    /// Whether no lease is held.
    pub fn is_empty(&self) -> bool {
        self.leases.iter().all(|lease| lease.events.is_empty())
    }

    /// The lease entry of `seq`, with its lease's expiry.
    fn entry(&self, seq: u64) -> Option<(&LeasedEvent, u64)> {
        self.leases.iter().find_map(|lease| {
            let entry = lease.events.iter().find(|e| e.seq == seq)?;
            Some((entry, lease.until_ms))
        })
    }

    /// Shows `event` (as stored) as a drainer holds it: syncing, with one
    /// more attempt and the lease's expiry, when a lease holds it and the
    /// event is as it was when taken. Any other event is left as it is.
    pub fn show(&self, event: &mut OutboxEvent) {
        let Some(seq) = event.seq else { return };
        if event.state != EventState::Queued {
            return;
        }
        if let Some((entry, until_ms)) = self.entry(seq) {
            if entry.attempts == event.attempts {
                event.state = EventState::Syncing;
                event.attempts += 1;
                event.lease_until_ms = Some(until_ms);
            }
        }
    }

    /// [`show`](Self::show) for each event.
    pub fn shown(&self, mut events: Vec<OutboxEvent>) -> Vec<OutboxEvent> {
        events.iter_mut().for_each(|event| self.show(event));
        events
    }

    /// How many events the leases hold (they are stored as queued and shown
    /// as syncing).
    pub fn held(&self) -> u32 {
        self.leases
            .iter()
            .map(|lease| lease.events.len() as u32)
            .sum()
    }

    /// The `seq`s of the held events.
    pub fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.leases
            .iter()
            .flat_map(|lease| lease.events.iter().map(|e| e.seq))
    }

    /// Whether a lease holds the event stored under `seq`.
    pub fn holds(&self, seq: u64) -> bool {
        self.entry(seq).is_some()
    }

    /// The `seq`s the leases of `holder` hold, sorted (for `binary_search`).
    pub fn seqs_of(&self, holder: &str) -> Vec<u64> {
        let mut seqs: Vec<u64> = self
            .leases
            .iter()
            .filter(|lease| lease.holder == holder)
            .flat_map(|lease| lease.events.iter().map(|e| e.seq))
            .collect();
        seqs.sort_unstable();
        seqs
    }

    /// The records of the held events (each shows as syncing).
    pub fn records(&self) -> impl Iterator<Item = RecordKey> + '_ {
        self.leases.iter().flat_map(|lease| {
            lease.events.iter().map(|e| RecordKey {
                collection: e.collection.clone(),
                record_id: e.record_id.clone(),
            })
        })
    }

    /// The writes that release the events stored under `seqs` from their
    /// leases (settled, retried, failed, confirmed): a lease left with no
    /// event is deleted.
    pub fn release(&mut self, seqs: &[u64]) -> Vec<LeaseWrite> {
        let mut writes = Vec::new();
        for lease in &mut self.leases {
            let before = lease.events.len();
            lease.events.retain(|e| !seqs.contains(&e.seq));
            if lease.events.len() == before {
                continue;
            }
            writes.push(match lease.events.is_empty() {
                true => LeaseWrite::Delete(lease.batch_id.clone()),
                false => LeaseWrite::Put(lease.clone()),
            });
        }
        self.leases.retain(|lease| !lease.events.is_empty());
        writes
    }

    /// Takes back the leases that ran out at `now_ms`: the writes that
    /// delete them, and the `seq`s of the events they held.
    pub fn expire(&mut self, clock: &Clock, now_ms: u64) -> (Vec<LeaseWrite>, Vec<u64>) {
        let mut writes = Vec::new();
        let mut seqs = Vec::new();
        self.leases.retain(|lease| {
            if !clock.lease_expired(lease.until_ms, now_ms) {
                return true;
            }
            writes.push(LeaseWrite::Delete(lease.batch_id.clone()));
            seqs.extend(lease.events.iter().map(|e| e.seq));
            false
        });
        (writes, seqs)
    }
}

/// Takes `batch` (selected, as stored) under one lease until `until_ms`:
/// the lease to store, and the events as the drainer sends them (syncing,
/// one more attempt). The events themselves are not rewritten.
pub fn take(
    batch: Vec<OutboxEvent>,
    batch_id: String,
    holder: String,
    until_ms: u64,
) -> Result<(BatchLease, Vec<OutboxEvent>), super::error::TransitionError> {
    let mut lease = BatchLease {
        batch_id,
        holder,
        until_ms,
        events: Vec::with_capacity(batch.len()),
    };
    let mut taken = Vec::with_capacity(batch.len());
    for mut event in batch {
        let Some(seq) = event.seq else { continue };
        lease.events.push(LeasedEvent {
            seq,
            attempts: event.attempts,
            collection: event.collection.clone(),
            record_id: event.record_id.clone(),
        });
        event.start_sync(until_ms)?;
        taken.push(event);
    }
    Ok((lease, taken))
}

#[cfg(all(test, not(target_family = "wasm")))]
#[path = "lease_tests.rs"]
mod tests;
