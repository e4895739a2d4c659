//! The outbox contract every store implements, and the steps they share.
//!
//! [`MemoryOutbox`](super::memory::MemoryOutbox) implements it for native
//! tests; the IndexedDB store implements it in the browser. Both build their
//! writes with the pure helpers below, so their rules cannot drift apart.

use uuid::Uuid;

use super::drain::Step;
use super::error::StoreError;
use super::event::{EventState, NewEvent, OutboxEvent, RecordKey};
use super::index::{IndexRef, IndexSpec, Shown};
use super::query_key::KeyRange;
use super::record::LocalRecord;
use super::schedule::Clock;
use super::settle::Settlement;
use super::status::StatusSummary;
use super::validate::Limits;
use super::write_set::WriteSet;

/// How a store checks, schedules and keeps events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// The sizes accepted.
    pub limits: Limits,
    /// The longest lease and backoff, to see through clock jumps.
    pub clock: Clock,
    /// How long a drainer's lease on the events it takes lasts.
    pub lease_ms: u64,
    /// How long a synced event stays in the outbox after the server
    /// confirmed it. `0` (the default): it is removed in the transaction
    /// that confirms it, so a synced photo does not stay on the device.
    pub synced_retention_ms: u64,
    /// How write transactions reach the disk.
    pub durability: Durability,
}

impl StoreConfig {
    /// Whether confirmed events stay in the outbox (as synced) for a while.
    pub fn keeps_synced(&self) -> bool {
        self.synced_retention_ms > 0
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            limits: Limits::default(),
            clock: Clock::default(),
            lease_ms: 30_000,
            synced_retention_ms: 0,
            durability: Durability::Strict,
        }
    }
}

/// How a store's write transactions reach the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// A write is reported done once it is on disk (IndexedDB `"strict"`):
    /// a change reported saved survives a power cut.
    #[default]
    Strict,
    /// A write is reported done once the operating system has it
    /// (IndexedDB `"relaxed"`): faster, and still survives a closed tab or
    /// a crashed browser, but not always a power cut.
    Relaxed,
}

impl Durability {
    /// Reads `"strict"` or `"relaxed"`.
    pub fn parse(name: &str) -> Option<Durability> {
        match name {
            "strict" => Some(Durability::Strict),
            "relaxed" => Some(Durability::Relaxed),
            _ => None,
        }
    }
}

/// A durable outbox of write events and the local records they change.
///
/// Every method changes everything it says or nothing: an error means the
/// outbox is as it was.
// The stores run on one thread (the browser's event loop), so the futures
// need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait OutboxStore {
    /// A record as [`scan_records`](Self::scan_records) reads it for a query.
    type Row: Shown;

    /// The configuration the store was opened with.
    fn config(&self) -> &StoreConfig;

    /// Saves one change: its event and the updated local record, together.
    async fn enqueue(&self, change: NewEvent, now_ms: u64) -> Result<OutboxEvent, StoreError>;

    /// Saves several changes, in order, all or none.
    async fn enqueue_batch(
        &self,
        changes: Vec<NewEvent>,
        now_ms: u64,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// Saves events built elsewhere (keeping their ids), all or none.
    async fn insert_events(&self, events: Vec<OutboxEvent>)
        -> Result<Vec<OutboxEvent>, StoreError>;

    /// The event with this id, if it is in the outbox.
    async fn event(&self, event_id: Uuid) -> Result<Option<OutboxEvent>, StoreError>;

    /// Events in `state`, in send order, at most `limit`.
    async fn events_in_state(
        &self,
        state: EventState,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// Every event the server has not confirmed (queued, syncing, failed,
    /// conflict), in send order, at most `limit`, read at one moment.
    async fn unsent(&self, limit: u32) -> Result<Vec<OutboxEvent>, StoreError>;

    /// How many events are in `state`.
    async fn count(&self, state: EventState) -> Result<u32, StoreError>;

    /// Counts of unfinished events by state.
    async fn status(&self) -> Result<StatusSummary, StoreError> {
        let mut status = StatusSummary::default();
        for state in EventState::ALL {
            if state != EventState::Synced {
                status.add(state, self.count(state).await?);
            }
        }
        Ok(status)
    }

    /// The earliest time a waiting (queued, backing off) event becomes due;
    /// `None` when none waits.
    async fn next_attempt_at(&self) -> Result<Option<u64>, StoreError> {
        let queued = self.events_in_state(EventState::Queued, u32::MAX).await?;
        Ok(queued.iter().filter_map(|e| e.next_attempt_at_ms).min())
    }

    /// Selects the next sendable batch and marks it syncing under a lease, in one step,
    /// so two drainers never take the same event.
    async fn take_batch(&self, now_ms: u64, limit: usize) -> Result<Vec<OutboxEvent>, StoreError>;

    /// Returns syncing events whose lease ran out to the queue; returns how many.
    async fn recover_leases(&self, now_ms: u64) -> Result<u32, StoreError>;

    /// Marks an event confirmed by the server at `server_version`.
    async fn complete(
        &self,
        event_id: Uuid,
        server_version: Option<u64>,
        now_ms: u64,
    ) -> Result<OutboxEvent, StoreError>;

    /// Marks several events confirmed, each as [`complete`](Self::complete)
    /// would, all in one step where the store can (one transaction in
    /// IndexedDB: a drained batch costs one commit, not one per event).
    /// An event another drainer already finished is skipped; any other
    /// error leaves every event as it was. Returns the events completed.
    async fn complete_all(
        &self,
        confirmed: &[(Uuid, Option<u64>)],
        now_ms: u64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let mut completed = Vec::with_capacity(confirmed.len());
        for &(event_id, server_version) in confirmed {
            match self.complete(event_id, server_version, now_ms).await {
                Ok(event) => completed.push(event),
                Err(StoreError::Transition(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(completed)
    }

    /// Writes every outcome of one push in one transaction: the `steps` of
    /// [`plan`](super::drain::plan), plus retries for the unsent rest of a
    /// batch the drain stopped. Confirmed events fold into their records and
    /// leave the outbox (unless [`StoreConfig::synced_retention_ms`] keeps
    /// them); an event another drainer finished first is left alone.
    async fn settle(&self, steps: Vec<Step>, now_ms: u64) -> Result<Settlement, StoreError>;

    /// [`settle`](Self::settle), then [`take_batch`](Self::take_batch) of
    /// at most `limit`, as one step where the store can (one IndexedDB
    /// transaction: a drain round costs one commit, not two). The take sees
    /// every outcome written, as it would after a separate settle, unless
    /// `beside_push`: a request is on its way, so the drain takes again
    /// after its answer and what this take leaves is not lost; the take may
    /// then see the outbox as it was before the settlement (its events still
    /// held and skipped, their records held back, an event it puts back left
    /// for a later take), and a store may read it ahead of the settlement's
    /// writes.
    async fn settle_then_take(
        &self,
        steps: Vec<Step>,
        now_ms: u64,
        limit: usize,
        beside_push: bool,
    ) -> Result<(Settlement, Vec<OutboxEvent>), StoreError> {
        let _ = beside_push;
        let settlement = self.settle(steps, now_ms).await?;
        Ok((settlement, self.take_batch(now_ms, limit).await?))
    }

    /// Puts a syncing event back in the queue until `next_attempt_at_ms`.
    async fn requeue(
        &self,
        event_id: Uuid,
        next_attempt_at_ms: u64,
        reason: &str,
    ) -> Result<OutboxEvent, StoreError>;

    /// Marks a syncing event refused for good.
    async fn fail(&self, event_id: Uuid, reason: &str) -> Result<OutboxEvent, StoreError>;

    /// Marks a syncing event in conflict with the server.
    async fn mark_conflict(&self, event_id: Uuid, reason: &str) -> Result<OutboxEvent, StoreError>;

    /// Makes a failed or waiting event due now.
    async fn retry_now(&self, event_id: Uuid) -> Result<OutboxEvent, StoreError>;

    /// Makes every waiting event due now, and failed ones too when
    /// `include_failed` ("retry now", or the network came back); returns how many.
    async fn retry_all_now(&self, include_failed: bool) -> Result<u32, StoreError>;

    /// Removes an unsent event that is not syncing, and recomputes its record's local view.
    async fn discard(&self, event_id: Uuid) -> Result<(), StoreError>;

    /// Removes synced events confirmed before `before_ms`; returns how many.
    async fn purge_synced(&self, before_ms: u64) -> Result<u32, StoreError>;

    /// The record's changes not yet confirmed by the server, in send order.
    async fn unsent_events(&self, key: &RecordKey) -> Result<Vec<OutboxEvent>, StoreError>;

    /// [`unsent_events`](Self::unsent_events) of each record, in the order
    /// given, read together (one transaction in IndexedDB).
    async fn unsent_events_of(
        &self,
        keys: &[RecordKey],
    ) -> Result<Vec<Vec<OutboxEvent>>, StoreError> {
        let mut all = Vec::with_capacity(keys.len());
        for key in keys {
            all.push(self.unsent_events(key).await?);
        }
        Ok(all)
    }

    /// The state each record shows ([`record_state`] of its unsent events),
    /// in the order given, read together. (IndexedDB reads most states with
    /// the records themselves, see [`Shown::known_state`].)
    async fn states_of(&self, keys: &[RecordKey]) -> Result<Vec<EventState>, StoreError> {
        Ok(self
            .unsent_events_of(keys)
            .await?
            .iter()
            .map(|events| record_state(events))
            .collect())
    }

    /// The records of `collection` as the device sees them, by record id, at most `limit`.
    async fn records(&self, collection: &str, limit: u32) -> Result<Vec<LocalRecord>, StoreError>;

    /// The record as the device sees it, pending changes applied.
    async fn record(&self, key: &RecordKey) -> Result<Option<LocalRecord>, StoreError>;

    /// The indexes the app declared on the records, which queries may walk.
    fn declared_indexes(&self) -> Vec<IndexSpec>;

    /// The records whose keys in `index` lie in `range`, in key order
    /// (highest first when `backwards`), at most `limit` (all with `None`).
    /// Deleted records are included: the caller filters.
    async fn scan_records(
        &self,
        index: &IndexRef,
        range: &KeyRange,
        backwards: bool,
        limit: Option<u32>,
    ) -> Result<Vec<Self::Row>, StoreError>;
}

/// Validates `change` and builds its event and the record's new local view.
pub fn prepare_change(
    limits: &Limits,
    record: Option<LocalRecord>,
    change: NewEvent,
    event_id: Uuid,
    now_ms: u64,
) -> Result<(LocalRecord, OutboxEvent), StoreError> {
    let mut event = draft_change(limits, change, event_id, now_ms)?;
    let (record, _) = finish_change(record, &mut event);
    Ok((record, event))
}

/// Validates `change` and builds its event before its record is read, as
/// if the record were new to the device (no base version);
/// [`finish_change`] sets it right once the record is read. A store can so
/// send the event's write beside the record's read: a save waits for one
/// answer from the storage before its commit, not two.
pub fn draft_change(
    limits: &Limits,
    change: NewEvent,
    event_id: Uuid,
    now_ms: u64,
) -> Result<OutboxEvent, StoreError> {
    limits.check(&change)?;
    Ok(OutboxEvent::queued(change, event_id, None, now_ms))
}

/// The record's new local view once the drafted `event`
/// ([`draft_change`]) applies to `record` as stored, with the event's base
/// version set to the record's; `true` when that changed the event, which
/// must then be written again (the draft written beside the read carried
/// none).
pub fn finish_change(record: Option<LocalRecord>, event: &mut OutboxEvent) -> (LocalRecord, bool) {
    let mut record = record.unwrap_or_else(|| LocalRecord::empty(&event.record_key()));
    let rewrite = event.base_version != record.base_version;
    event.base_version = record.base_version;
    record.apply_local(event);
    (record, rewrite)
}

/// Validates an event built elsewhere and applies it to its record's local view.
pub fn prepare_event(
    limits: &Limits,
    record: Option<LocalRecord>,
    event: &OutboxEvent,
) -> Result<LocalRecord, StoreError> {
    check_event(limits, event)?;
    Ok(apply_event(record, event))
}

/// Validates an event built elsewhere, as [`prepare_event`] does.
pub fn check_event(limits: &Limits, event: &OutboxEvent) -> Result<(), StoreError> {
    let change = NewEvent {
        collection: event.collection.clone(),
        record_id: event.record_id.clone(),
        op: event.op,
        payload: event.payload.clone(),
    };
    Ok(limits.check(&change)?)
}

/// The record's new local view once `event`, built elsewhere and checked
/// ([`check_event`]), applies to `record` as stored.
pub fn apply_event(record: Option<LocalRecord>, event: &OutboxEvent) -> LocalRecord {
    let mut record = record.unwrap_or_else(|| LocalRecord::empty(&event.record_key()));
    record.apply_local(event);
    record
}

/// Checks that an event may be discarded: anything unsent that no drainer holds.
pub fn check_discardable(event: &OutboxEvent) -> Result<(), StoreError> {
    match event.state {
        EventState::Queued | EventState::Failed | EventState::Conflict => Ok(()),
        other => Err(StoreError::CannotDiscard(other)),
    }
}

/// Plans discarding `event`: it leaves the outbox (with its conflict, if it
/// was in one) and its record's local view is rebuilt from the base and the
/// record's other unconfirmed events, `others` (in send order, without
/// `event`). Refused, with nothing planned, for an event being sent or
/// already delivered.
pub fn plan_discard(
    event: &OutboxEvent,
    record: Option<LocalRecord>,
    others: &[OutboxEvent],
) -> Result<WriteSet, StoreError> {
    check_discardable(event)?;
    let seq = event.seq.ok_or_else(|| {
        StoreError::Corrupt(format!("event {} is stored without a seq", event.event_id))
    })?;
    let mut writes = WriteSet::default();
    writes.delete_event(seq);
    if event.state == EventState::Conflict {
        writes.delete_conflict(event.event_id);
    }
    if let Some(mut record) = record {
        record.rebuild(others);
        writes.put_record(record);
    }
    Ok(writes)
}

/// Which events [`OutboxStore::retry_all_now`] changes: waiting ones (with a
/// backoff) and, when asked, failed ones.
pub fn needs_retry_now(event: &OutboxEvent, include_failed: bool) -> bool {
    match event.state {
        EventState::Queued => event.next_attempt_at_ms.is_some(),
        EventState::Failed => include_failed,
        _ => false,
    }
}

/// The state a record shows: its most pressing unconfirmed change's, or
/// synced when everything is confirmed.
pub fn record_state(unsent: &[OutboxEvent]) -> EventState {
    let states: Vec<EventState> = unsent.iter().map(|e| e.state).collect();
    shown_state(&states)
}

/// The state a record shows given the states of its events: the most
/// pressing unconfirmed one, or synced when every one is confirmed.
pub fn shown_state(states: &[EventState]) -> EventState {
    [
        EventState::Conflict,
        EventState::Failed,
        EventState::Syncing,
        EventState::Queued,
    ]
    .into_iter()
    .find(|state| states.contains(state))
    .unwrap_or(EventState::Synced)
}
