//! Write sets: everything one transaction writes, decided by the core.
//!
//! A store reads what a rule needs, the core decides and returns a
//! [`WriteSet`], and the store runs it whole in one transaction: IndexedDB
//! with every request in flight at once, [`MemoryOutbox`](super::memory::MemoryOutbox)
//! on its maps. Both stores write exactly what the rules decided, so they
//! cannot drift apart.

use uuid::Uuid;

use super::conflict::Conflict;
use super::event::{OutboxEvent, RecordKey};
use super::lease::LeaseWrite;
use super::record::LocalRecord;

/// One change to the outbox store.
// Most writes are puts: boxing them would add an allocation to each for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum EventWrite {
    /// Save a stored event (it has its `seq`) as it is now.
    Put(OutboxEvent),
    /// Remove the event stored under this `seq`.
    Delete(u64),
}

/// One change to the records store.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordWrite {
    /// Save the record under its `[collection, record_id]`.
    Put(LocalRecord),
    /// Remove the record.
    Delete(RecordKey),
    /// The server confirmed the record's one unconfirmed change: its base
    /// becomes its local view, at `version`, with nothing pending. The
    /// store patches the record it read instead of decoding and re-encoding
    /// its fields (the common case of a drain: one change per record).
    Confirm {
        /// Which record.
        key: RecordKey,
        /// The server's version of the record now.
        version: u64,
    },
}

/// One change to the conflicts store.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ConflictWrite {
    /// Save the conflict under its event id.
    Put(Conflict),
    /// Remove the conflict of this event.
    Delete(Uuid),
}

/// Puts and deletes across the outbox, records, conflicts and leases, run in one
/// transaction. No key appears twice in one set, so the order of its
/// requests does not matter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteSet {
    /// Changes to stored events.
    pub events: Vec<EventWrite>,
    /// Changes to local records.
    pub records: Vec<RecordWrite>,
    /// Changes to kept conflicts.
    pub conflicts: Vec<ConflictWrite>,
    /// Changes to batch leases.
    pub leases: Vec<LeaseWrite>,
}

impl WriteSet {
    /// Whether the set writes nothing (a store then commits no transaction).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.records.is_empty()
            && self.conflicts.is_empty()
            && self.leases.is_empty()
    }

    /// How many writes the set holds.
    pub fn len(&self) -> usize {
        self.events.len() + self.records.len() + self.conflicts.len() + self.leases.len()
    }

    /// Saves `event` (a stored event, with its `seq`).
    pub fn put_event(&mut self, event: OutboxEvent) {
        self.events.push(EventWrite::Put(event));
    }

    /// Removes the event stored under `seq`.
    pub fn delete_event(&mut self, seq: u64) {
        self.events.push(EventWrite::Delete(seq));
    }

    /// Saves `record`.
    pub fn put_record(&mut self, record: LocalRecord) {
        self.records.push(RecordWrite::Put(record));
    }

    /// Makes the base of the record under `key` its local view, at
    /// `version` (see [`RecordWrite::Confirm`]).
    pub fn confirm_record(&mut self, key: RecordKey, version: u64) {
        self.records.push(RecordWrite::Confirm { key, version });
    }

    /// Removes the record under `key`.
    pub fn delete_record(&mut self, key: RecordKey) {
        self.records.push(RecordWrite::Delete(key));
    }

    /// Saves `conflict`.
    pub fn put_conflict(&mut self, conflict: Conflict) {
        self.conflicts.push(ConflictWrite::Put(conflict));
    }

    /// Removes the conflict of `event_id`.
    pub fn delete_conflict(&mut self, event_id: Uuid) {
        self.conflicts.push(ConflictWrite::Delete(event_id));
    }
}

/// The runs of consecutive numbers in `seqs`, as `(first, last)`, lowest
/// first: a synced batch's events usually have consecutive `seq`s, and one
/// `delete` over their key range removes them all (a range of integers
/// holds no other key, so nothing else is deleted).
pub fn seq_runs(mut seqs: Vec<u64>) -> Vec<(u64, u64)> {
    seqs.sort_unstable();
    seqs.dedup();
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for seq in seqs {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == seq => *last = seq,
            _ => runs.push((seq, seq)),
        }
    }
    runs
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::seq_runs;

    #[test]
    fn consecutive_seqs_make_one_run_and_gaps_start_another() {
        assert_eq!(seq_runs(vec![]), vec![]);
        assert_eq!(seq_runs(vec![7]), vec![(7, 7)]);
        assert_eq!(
            seq_runs(vec![3, 1, 2, 2, 5, 6, 9]),
            vec![(1, 3), (5, 6), (9, 9)]
        );
    }
}
