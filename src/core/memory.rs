//! An outbox kept in memory: the reference implementation for native tests.
//! The store contract suite (`tests/contract/`, run by `tests/memory.rs`)
//! checks it against the same tests as the IndexedDB store.
//!
//! Each operation works on a copy and swaps it in only when everything
//! succeeded, which gives the same all-or-nothing behaviour as an IndexedDB
//! transaction.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use super::conflict::{Conflict, Resolution};
use super::drain::Step;
use super::error::StoreError;
use super::event::{EventState, NewEvent, OutboxEvent, RecordKey};
use super::index::{IndexRef, IndexSpec};
use super::lease::{self, BatchLease, LeaseWrite, Leases};
use super::outbox::{
    needs_retry_now, plan_discard, prepare_change, prepare_event, OutboxStore, StoreConfig,
};
use super::query_key::{compare, Key, KeyRange};
use super::record::{id_order, LocalRecord};
use super::remote::{last_change_of_each_record, plan_page, remote_key};
use super::schedule::BatchSelector;
use super::settle::{
    confirms_by_patch, event_ids, plan_settlement, reads_unsent, records_to_read, release_settled,
    whole_records, RecordRead, Settlement,
};
use super::sync_store::{conflict_not_found, prepare_conflict, prepare_resolution, SyncStore};
use super::write_set::{ConflictWrite, EventWrite, RecordWrite, WriteSet};
use outbox_sync_protocol::Record;

#[derive(Debug, Clone, Default)]
struct Contents {
    events: BTreeMap<u64, OutboxEvent>,
    records: HashMap<RecordKey, LocalRecord>,
    next_seq: u64,
    conflicts: BTreeMap<Uuid, Conflict>,
    /// Batch leases by batch id; the events they hold stay stored as queued.
    leases: BTreeMap<String, BatchLease>,
    sync_token: Option<String>,
    settings: HashMap<String, String>,
}

impl Contents {
    fn seq_of(&self, event_id: Uuid) -> Result<u64, StoreError> {
        self.events
            .iter()
            .find(|(_, e)| e.event_id == event_id)
            .map(|(seq, _)| *seq)
            .ok_or_else(|| StoreError::EventNotFound(event_id.to_string()))
    }

    fn insert(
        &mut self,
        mut event: OutboxEvent,
        record: LocalRecord,
    ) -> Result<OutboxEvent, StoreError> {
        if self.events.values().any(|e| e.event_id == event.event_id) {
            return Err(StoreError::DuplicateEvent(event.event_id.to_string()));
        }
        self.next_seq += 1;
        event.seq = Some(self.next_seq);
        self.events.insert(self.next_seq, event.clone());
        self.records.insert(event.record_key(), record);
        Ok(event)
    }

    /// Runs a write set, as IndexedDB runs it in one transaction.
    fn apply(&mut self, writes: WriteSet) {
        for write in writes.events {
            match write {
                EventWrite::Put(event) => {
                    let seq = event.seq.expect("a write set puts stored events");
                    self.events.insert(seq, event);
                }
                EventWrite::Delete(seq) => {
                    self.events.remove(&seq);
                }
            }
        }
        for write in writes.records {
            match write {
                RecordWrite::Put(record) => {
                    self.records.insert(record.key(), record);
                }
                RecordWrite::Delete(key) => {
                    self.records.remove(&key);
                }
                RecordWrite::Confirm { key, version } => {
                    if let Some(record) = self.records.get_mut(&key) {
                        record.base = record.local.clone();
                        record.base_version = Some(version);
                        record.pending = 0;
                    }
                }
            }
        }
        for write in writes.conflicts {
            match write {
                ConflictWrite::Put(conflict) => {
                    self.conflicts.insert(conflict.event_id, conflict);
                }
                ConflictWrite::Delete(event_id) => {
                    self.conflicts.remove(&event_id);
                }
            }
        }
        for write in writes.leases {
            match write {
                LeaseWrite::Put(lease) => {
                    self.leases.insert(lease.batch_id.clone(), lease);
                }
                LeaseWrite::Delete(batch_id) => {
                    self.leases.remove(&batch_id);
                }
            }
        }
    }

    /// The stored leases.
    fn leases(&self) -> Leases {
        Leases::new(self.leases.values().cloned().collect())
    }

    /// Every event as the outbox shows it (held ones as syncing), in send order.
    fn shown_events(&self) -> Vec<OutboxEvent> {
        self.leases().shown(self.events.values().cloned().collect())
    }

    /// The event stored under `seq`, as the outbox shows it.
    fn shown_at(&self, seq: u64) -> OutboxEvent {
        let mut event = self.events[&seq].clone();
        self.leases().show(&mut event);
        event
    }

    /// Saves a changed event and releases it from its lease, as IndexedDB does.
    fn put_changed(&mut self, seq: u64, event: OutboxEvent) {
        self.events.insert(seq, event);
        let writes = self.leases().release(&[seq]);
        self.apply(WriteSet {
            leases: writes,
            ..WriteSet::default()
        });
    }

    fn find(&self, event_id: Uuid) -> Option<OutboxEvent> {
        let seq = self.seq_of(event_id).ok()?;
        Some(self.shown_at(seq))
    }

    /// Marks an event synced and folds it into its record's base.
    fn confirm(
        &mut self,
        event_id: Uuid,
        server_version: Option<u64>,
        now_ms: u64,
    ) -> Result<OutboxEvent, StoreError> {
        let seq = self.seq_of(event_id)?;
        let mut event = self.shown_at(seq);
        event.mark_synced(now_ms)?;
        self.put_changed(seq, event.clone());
        let unconfirmed = self.unconfirmed_of(&event.record_key());
        if let Some(record) = self.records.get_mut(&event.record_key()) {
            record.confirm(&event, server_version, &unconfirmed);
        }
        Ok(event)
    }

    fn unconfirmed_of(&self, key: &RecordKey) -> Vec<OutboxEvent> {
        let mine = self
            .events
            .values()
            .filter(|e| e.state.is_unsent() && &e.record_key() == key)
            .cloned()
            .collect();
        self.leases().shown(mine)
    }
}

/// An [`OutboxStore`] in memory, lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    config: StoreConfig,
    indexes: Vec<IndexSpec>,
    contents: RefCell<Contents>,
}

impl MemoryOutbox {
    /// An empty outbox with `config`.
    pub fn new(config: StoreConfig) -> Self {
        Self::with_indexes(config, Vec::new())
    }

    /// An empty outbox with `config` and the declared `indexes`.
    pub fn with_indexes(config: StoreConfig, indexes: Vec<IndexSpec>) -> Self {
        MemoryOutbox {
            config,
            indexes,
            contents: RefCell::default(),
        }
    }

    /// Runs `change` on a copy of the contents and keeps the copy only on success.
    fn transact<T>(
        &self,
        change: impl FnOnce(&mut Contents) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut copy = self.contents.borrow().clone();
        let out = change(&mut copy)?;
        *self.contents.borrow_mut() = copy;
        Ok(out)
    }

    /// Applies a state change to one event.
    fn update(
        &self,
        event_id: Uuid,
        change: impl FnOnce(&mut OutboxEvent) -> Result<(), StoreError>,
    ) -> Result<OutboxEvent, StoreError> {
        self.transact(|c| {
            let seq = c.seq_of(event_id)?;
            let mut event = c.shown_at(seq);
            change(&mut event)?;
            c.put_changed(seq, event.clone());
            Ok(event)
        })
    }
}

impl OutboxStore for MemoryOutbox {
    type Row = LocalRecord;

    fn config(&self) -> &StoreConfig {
        &self.config
    }

    async fn enqueue(&self, change: NewEvent, now_ms: u64) -> Result<OutboxEvent, StoreError> {
        Ok(self.enqueue_batch(vec![change], now_ms).await?.remove(0))
    }

    async fn enqueue_batch(
        &self,
        changes: Vec<NewEvent>,
        now_ms: u64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        if changes.is_empty() {
            return Err(super::ValidationError::EmptyBatch.into());
        }
        self.transact(|c| {
            changes
                .into_iter()
                .map(|change| {
                    let key = RecordKey {
                        collection: change.collection.clone(),
                        record_id: change.record_id.clone(),
                    };
                    let current = c.records.get(&key).cloned();
                    let (record, event) = prepare_change(
                        &self.config.limits,
                        current,
                        change,
                        Uuid::now_v7(),
                        now_ms,
                    )?;
                    c.insert(event, record)
                })
                .collect()
        })
    }

    async fn insert_events(
        &self,
        events: Vec<OutboxEvent>,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.transact(|c| {
            events
                .into_iter()
                .map(|event| {
                    let record = prepare_event(
                        &self.config.limits,
                        c.records.get(&event.record_key()).cloned(),
                        &event,
                    )?;
                    c.insert(event, record)
                })
                .collect()
        })
    }

    async fn event(&self, event_id: Uuid) -> Result<Option<OutboxEvent>, StoreError> {
        Ok(self.contents.borrow().find(event_id))
    }

    async fn events_in_state(
        &self,
        state: EventState,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let contents = self.contents.borrow();
        Ok(contents
            .shown_events()
            .into_iter()
            .filter(|e| e.state == state)
            .take(limit as usize)
            .collect())
    }

    async fn unsent(&self, limit: u32) -> Result<Vec<OutboxEvent>, StoreError> {
        let contents = self.contents.borrow();
        let unsent = contents.shown_events().into_iter();
        Ok(unsent
            .filter(|e| e.state.is_unsent())
            .take(limit as usize)
            .collect())
    }

    async fn count(&self, state: EventState) -> Result<u32, StoreError> {
        Ok(self
            .contents
            .borrow()
            .shown_events()
            .iter()
            .filter(|e| e.state == state)
            .count() as u32)
    }

    async fn take_batch(&self, now_ms: u64, limit: usize) -> Result<Vec<OutboxEvent>, StoreError> {
        self.transact(|c| {
            let mut selector = BatchSelector::new(self.config.clock, now_ms, limit);
            for event in c.shown_events() {
                if !selector.offer(event) {
                    break;
                }
            }
            let batch = selector.finish();
            if batch.is_empty() {
                return Ok(batch);
            }
            let until_ms = now_ms + self.config.lease_ms;
            let batch_id = Uuid::now_v7().to_string();
            let (lease, taken) = lease::take(batch, batch_id, "memory".into(), until_ms)?;
            c.apply(WriteSet {
                leases: vec![LeaseWrite::Put(lease)],
                ..WriteSet::default()
            });
            Ok(taken)
        })
    }

    async fn recover_leases(&self, now_ms: u64) -> Result<u32, StoreError> {
        self.transact(|c| {
            let mut leases = c.leases();
            let (writes, held) = leases.expire(&self.config.clock, now_ms);
            let mut recovered = 0;
            for seq in held {
                let Some(mut event) = c.events.get(&seq).cloned() else {
                    continue;
                };
                c.leases().show(&mut event);
                if event.recover_lease(&self.config.clock, now_ms) {
                    c.events.insert(seq, event);
                    recovered += 1;
                }
            }
            c.apply(WriteSet {
                leases: writes,
                ..WriteSet::default()
            });
            Ok(recovered)
        })
    }

    async fn complete(
        &self,
        event_id: Uuid,
        server_version: Option<u64>,
        now_ms: u64,
    ) -> Result<OutboxEvent, StoreError> {
        self.transact(|c| c.confirm(event_id, server_version, now_ms))
    }

    async fn complete_all(
        &self,
        confirmed: &[(Uuid, Option<u64>)],
        now_ms: u64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        // One step, as in IndexedDB: an unknown event leaves every event as it was.
        self.transact(|c| {
            let mut completed = Vec::with_capacity(confirmed.len());
            for &(event_id, server_version) in confirmed {
                match c.confirm(event_id, server_version, now_ms) {
                    Ok(event) => completed.push(event),
                    // Another drainer finished it first.
                    Err(StoreError::Transition(_)) => {}
                    Err(other) => return Err(other),
                }
            }
            Ok(completed)
        })
    }

    async fn settle(&self, steps: Vec<Step>, now_ms: u64) -> Result<Settlement, StoreError> {
        self.transact(|c| {
            let events: Vec<_> = event_ids(&steps).into_iter().map(|id| c.find(id)).collect();
            let whole = whole_records(&steps, &events);
            let records = records_to_read(&steps, &events)
                .into_iter()
                .map(|key| {
                    // As IndexedDB's store does: a record whose one change is
                    // the settled one is patched, not read.
                    let stored = c.records.get(&key);
                    let one_change =
                        stored.is_some_and(|r| confirms_by_patch(r.pending, whole.contains(&key)));
                    let record = stored.filter(|_| !one_change).cloned();
                    let unsent = match reads_unsent(record.as_ref()) {
                        true => c.unconfirmed_of(&key),
                        false => Vec::new(),
                    };
                    RecordRead {
                        record,
                        unsent,
                        key,
                        one_change,
                    }
                })
                .collect();
            let keep = self.config.keeps_synced();
            let mut leases = c.leases();
            let mut settlement = plan_settlement(steps, events.clone(), records, keep, now_ms);
            release_settled(&mut settlement.writes, &mut leases, &events);
            c.apply(settlement.writes.clone());
            Ok(settlement)
        })
    }

    async fn requeue(
        &self,
        event_id: Uuid,
        next_attempt_at_ms: u64,
        reason: &str,
    ) -> Result<OutboxEvent, StoreError> {
        self.update(event_id, |e| Ok(e.requeue(next_attempt_at_ms, reason)?))
    }

    async fn fail(&self, event_id: Uuid, reason: &str) -> Result<OutboxEvent, StoreError> {
        self.update(event_id, |e| Ok(e.fail(reason)?))
    }

    async fn mark_conflict(&self, event_id: Uuid, reason: &str) -> Result<OutboxEvent, StoreError> {
        self.update(event_id, |e| Ok(e.mark_conflict(reason)?))
    }

    async fn retry_now(&self, event_id: Uuid) -> Result<OutboxEvent, StoreError> {
        self.update(event_id, |e| Ok(e.retry_now()?))
    }

    async fn retry_all_now(&self, include_failed: bool) -> Result<u32, StoreError> {
        self.transact(|c| {
            let mut changed = 0;
            for mut event in c.shown_events() {
                if needs_retry_now(&event, include_failed) {
                    event.retry_now()?;
                    c.events
                        .insert(event.seq.expect("stored events have a seq"), event);
                    changed += 1;
                }
            }
            Ok(changed)
        })
    }

    async fn discard(&self, event_id: Uuid) -> Result<(), StoreError> {
        self.transact(|c| {
            let seq = c.seq_of(event_id)?;
            let event = c.shown_at(seq);
            let key = event.record_key();
            let others: Vec<_> = c
                .unconfirmed_of(&key)
                .into_iter()
                .filter(|e| e.seq != Some(seq))
                .collect();
            let writes = plan_discard(&event, c.records.get(&key).cloned(), &others)?;
            c.apply(writes);
            Ok(())
        })
    }

    async fn purge_synced(&self, before_ms: u64) -> Result<u32, StoreError> {
        self.transact(|c| {
            let before = c.events.len();
            c.events.retain(|_, e| {
                !(e.state == EventState::Synced && e.synced_at_ms.is_some_and(|at| at < before_ms))
            });
            Ok((before - c.events.len()) as u32)
        })
    }

    async fn unsent_events(&self, key: &RecordKey) -> Result<Vec<OutboxEvent>, StoreError> {
        Ok(self.contents.borrow().unconfirmed_of(key))
    }

    async fn records(&self, collection: &str, limit: u32) -> Result<Vec<LocalRecord>, StoreError> {
        let contents = self.contents.borrow();
        let mut found: Vec<_> = contents
            .records
            .values()
            .filter(|r| r.collection == collection)
            .cloned()
            .collect();
        found.sort_by(|a, b| id_order(&a.record_id, &b.record_id));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn record(&self, key: &RecordKey) -> Result<Option<LocalRecord>, StoreError> {
        Ok(self.contents.borrow().records.get(key).cloned())
    }

    fn declared_indexes(&self) -> Vec<IndexSpec> {
        self.indexes.clone()
    }

    async fn scan_records(
        &self,
        index: &IndexRef,
        range: &KeyRange,
        backwards: bool,
        limit: Option<u32>,
    ) -> Result<Vec<LocalRecord>, StoreError> {
        if let IndexRef::Declared(spec) = index {
            if !self.indexes.contains(spec) {
                return Err(StoreError::Corrupt(format!("no index {}", spec.name())));
            }
        }
        let contents = self.contents.borrow();
        let mut found: Vec<(Key, &LocalRecord)> = contents
            .records
            .values()
            .filter_map(|record| Some((index.key_of(record)?, record)))
            .filter(|(key, _)| range.contains(key))
            .collect();
        found.sort_by(|a, b| compare(&a.0, &b.0));
        if backwards {
            found.reverse();
        }
        let limit = limit.map_or(usize::MAX, |l| l as usize);
        Ok(found
            .into_iter()
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
    }
}

impl SyncStore for MemoryOutbox {
    async fn sync_token(&self) -> Result<Option<String>, StoreError> {
        Ok(self.contents.borrow().sync_token.clone())
    }

    async fn apply_pulled(
        &self,
        changes: &[Record],
        next_token: &str,
        now_ms: u64,
    ) -> Result<u32, StoreError> {
        self.transact(|c| {
            let page = last_change_of_each_record(changes);
            let keys: Vec<RecordKey> = page.iter().map(|r| remote_key(r)).collect();
            let current = keys.iter().map(|k| c.records.get(k).cloned()).collect();
            let unsent = keys.iter().map(|k| c.unconfirmed_of(k)).collect();
            let writes = plan_page(&page, current, unsent, now_ms);
            let changed = writes.records.len() as u32;
            c.apply(writes);
            c.sync_token = Some(next_token.to_owned());
            Ok(changed)
        })
    }

    async fn reset_sync_token(&self) -> Result<(), StoreError> {
        self.transact(|c| {
            c.sync_token = None;
            Ok(())
        })
    }

    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.contents.borrow().settings.get(name).cloned())
    }

    async fn set_setting(&self, name: &str, value: Option<&str>) -> Result<(), StoreError> {
        self.transact(|c| {
            match value {
                Some(value) => c.settings.insert(name.to_owned(), value.to_owned()),
                None => c.settings.remove(name),
            };
            Ok(())
        })
    }

    async fn settings(&self, names: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        let contents = self.contents.borrow();
        Ok(names
            .iter()
            .map(|name| contents.settings.get(*name).cloned())
            .collect())
    }

    async fn update_settings<F>(&self, names: &[&str], change: F) -> Result<(), StoreError>
    where
        F: FnOnce(Vec<Option<String>>) -> Result<Vec<Option<String>>, StoreError>,
    {
        self.transact(|c| {
            let current = names.iter().map(|n| c.settings.get(*n).cloned()).collect();
            for (name, value) in names.iter().zip(change(current)?) {
                match value {
                    Some(value) => c.settings.insert((*name).to_owned(), value),
                    None => c.settings.remove(*name),
                };
            }
            Ok(())
        })
    }

    async fn record_conflict(
        &self,
        event_id: Uuid,
        theirs: Record,
        fields: Vec<String>,
        reason: &str,
        now_ms: u64,
    ) -> Result<Conflict, StoreError> {
        self.transact(|c| {
            let seq = c.seq_of(event_id)?;
            let mut event = c.shown_at(seq);
            let record = c.records.get(&event.record_key());
            let conflict = prepare_conflict(&mut event, record, theirs, fields, reason, now_ms)?;
            c.put_changed(seq, event);
            c.conflicts.insert(event_id, conflict.clone());
            Ok(conflict)
        })
    }

    async fn conflicts(&self) -> Result<Vec<Conflict>, StoreError> {
        let mut all: Vec<_> = self.contents.borrow().conflicts.values().cloned().collect();
        all.sort_by_key(|c| c.found_at_ms);
        Ok(all)
    }

    async fn resolve_conflict(
        &self,
        event_id: Uuid,
        resolution: &Resolution,
        now_ms: u64,
    ) -> Result<Option<OutboxEvent>, StoreError> {
        self.transact(|c| {
            let conflict = c
                .conflicts
                .remove(&event_id)
                .ok_or_else(|| conflict_not_found(event_id))?;
            let key = RecordKey {
                collection: conflict.collection.clone(),
                record_id: conflict.record_id.clone(),
            };
            let unsent = c.unconfirmed_of(&key);
            let write = prepare_resolution(
                &self.config.limits,
                &conflict,
                resolution,
                &unsent,
                Uuid::now_v7(),
                now_ms,
            )?;
            for seq in &write.removed {
                c.events.remove(seq);
            }
            match write.event {
                Some(event) => c.insert(event, write.record).map(Some),
                None => {
                    c.records.insert(key, write.record);
                    Ok(None)
                }
            }
        })
    }
}
