//! [`IdbOutbox`]: the outbox contract on IndexedDB, for pages and service workers.
//!
//! Every operation is one transaction. Writes span every store they touch and
//! are committed explicitly (`indexed_db_futures` rolls back otherwise), with
//! strict durability: a change reported saved is on disk. The rules come from
//! the core's shared helpers, so this store and
//! [`MemoryOutbox`](crate::core::memory::MemoryOutbox) cannot drift apart.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use futures::future::join;
use indexed_db_futures::database::Database;
use indexed_db_futures::internals::SystemRepr;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::{
    Transaction, TransactionDurability, TransactionMode, TransactionOptions,
};
use uuid::Uuid;

use super::bfcache::PageTransactions;
use super::idb_blobs::{put_new, FileStores, NewBlob};
use super::idb_ops::{self as ops, commit};
use super::idb_write::{execute, store};
use super::schema::{self, BLOBS, BLOB_STATES, BY_STATE, CONFLICTS, OUTBOX, RECORDS};
use crate::core::drain::Step;
use crate::core::index::{IndexRef, IndexSpec};
use crate::core::outbox::{needs_retry_now, plan_discard, prepare_change, prepare_event};
use crate::core::query_key::KeyRange;
use crate::core::settle::{
    event_ids, plan_settlement, reads_unsent, records_to_read, RecordRead, Settlement,
};
use crate::core::write_set::WriteSet;
use crate::core::{
    Durability, EventState, NewEvent, OutboxEvent, OutboxStore, RecordKey, StoreConfig, StoreError,
    ValidationError,
};
use crate::core::{LocalRecord, StatusSummary};

/// An [`OutboxStore`] kept in an IndexedDB database: durable across reloads,
/// crashes and restarts, and shared by every tab and the service worker.
///
/// Several `IdbOutbox` values (in tabs, workers) may open the same database:
/// IndexedDB runs their write transactions one after another, so two drainers
/// never take the same event.
#[derive(Debug)]
pub struct IdbOutbox {
    db: Database,
    pub(super) config: StoreConfig,
    /// Every event with a lower `seq` is synced (a state no event leaves,
    /// and new events get higher `seq`s), so walks in send order start
    /// here instead of stepping over every synced event kept for retention.
    unsent_from: Cell<u64>,
    /// Read-write transactions this connection has opened (for tests that
    /// check how many commits an operation costs).
    write_transactions: Cell<u64>,
    /// The indexes declared on the records when this connection opened.
    indexes: Vec<IndexSpec>,
    /// In a page: the transactions still open, aborted when the page goes
    /// into the back-forward cache (WebKit would keep them open there and
    /// block every other tab and the service worker).
    page: PageTransactions,
}

impl IdbOutbox {
    /// Opens (creating or upgrading) the outbox database called `name`.
    ///
    /// Fails with [`StoreError::UpgradeBlocked`] when another tab keeps an older
    /// version open, [`StoreError::NewerSchema`] when a newer version of the
    /// library wrote it, and [`StoreError::Unavailable`] without IndexedDB.
    pub async fn open(name: &str, config: StoreConfig) -> Result<IdbOutbox, StoreError> {
        Self::open_with_indexes(name, config, None).await
    }

    /// Opens the database with the app's `declared` indexes on its records:
    /// indexes it lacks are built and indexes no longer declared are dropped,
    /// in one upgrade that keeps every change. `None` keeps the indexes the
    /// database has (a service worker knows no declaration).
    pub async fn open_with_indexes(
        name: &str,
        config: StoreConfig,
        declared: Option<Vec<IndexSpec>>,
    ) -> Result<IdbOutbox, StoreError> {
        let db = schema::open(name, declared.as_deref()).await?;
        let indexes = schema::declared_indexes(&db)?;
        Ok(IdbOutbox {
            db,
            config,
            unsent_from: Cell::new(0),
            write_transactions: Cell::new(0),
            indexes,
            page: PageTransactions::new(),
        })
    }

    /// The database's IndexedDB version (its schema level and index changes,
    /// see [`schema::level_of`]).
    pub fn version(&self) -> u32 {
        self.db.version() as u32
    }

    /// The database's name.
    pub fn name(&self) -> String {
        self.db.name()
    }

    /// Closes the connection once its running transactions finish; later
    /// operations fail with a [`StoreError`], never silently.
    pub fn close(&self) {
        self.db.clone().close();
    }

    /// Closes this connection and deletes the whole database: every change,
    /// record, conflict and setting on this device. Other connections (tabs,
    /// the service worker) close themselves when asked, so it is not blocked.
    pub async fn delete_database(&self) -> Result<(), StoreError> {
        let name = self.name();
        self.close();
        Database::delete_by_name(&name)
            .map_err(super::error::from_open)?
            .await
            .map_err(StoreError::from)
    }

    pub(super) fn read(&self, stores: &[&str]) -> Result<Transaction<'_>, StoreError> {
        self.page.check_open()?;
        let tx = self
            .db
            .transaction(stores)
            .with_mode(TransactionMode::Readonly)
            .build()?;
        self.page.track(tx.as_sys().as_ref());
        Ok(tx)
    }

    /// A read-only transaction as the browser gives it (for queries, which
    /// talk to IndexedDB directly, see [`super::idb_query`]): it commits by
    /// itself once its requests are answered. Tracked for the back-forward
    /// cache as every other.
    pub(super) fn read_direct(
        &self,
        stores: &[&str],
    ) -> Result<web_sys::IdbTransaction, StoreError> {
        self.page.check_open()?;
        let names: js_sys::Array = stores
            .iter()
            .map(|s| wasm_bindgen::JsValue::from_str(s))
            .collect();
        let tx = self
            .db
            .as_sys()
            .transaction_with_str_sequence(&names)
            .map_err(|e| super::idb_query::thrown("transaction", e))?;
        self.page.track(&tx);
        Ok(tx)
    }

    /// How many of this connection's transactions are open in this page
    /// (always 0 in a worker, where none are tracked): for tests of the
    /// back-forward cache workaround.
    #[doc(hidden)]
    pub fn open_page_transactions(&self) -> usize {
        self.page.open_count()
    }

    /// How many read-write transactions this connection has opened: every
    /// write the store makes is one, so tests can count what an operation
    /// costs.
    #[doc(hidden)]
    pub fn write_transactions(&self) -> u64 {
        self.write_transactions.get()
    }

    /// How many IndexedDB requests the stores of this page or worker have
    /// sent through their batched reads and write sets (the drain's and the
    /// pull's paths; a few one-off counts and cursor walks are not counted):
    /// for tests that check what an event costs. Counted in debug builds
    /// only (the tests'); always 0 in a release build.
    #[doc(hidden)]
    pub fn requests_sent(&self) -> u64 {
        super::requests::sent_so_far()
    }

    /// The bytes the outbox's events hold in their payloads, roughly (for
    /// tests that check what a synced change leaves behind), read one event
    /// at a time.
    #[doc(hidden)]
    pub async fn stored_event_bytes(&self) -> Result<u64, StoreError> {
        let tx = self.read(&[OUTBOX])?;
        let bytes = ops::payload_bytes(&tx.object_store(OUTBOX)?).await?;
        commit(tx).await?;
        Ok(bytes)
    }

    /// A read-write transaction with the configured durability (strict: its
    /// commit reaches the disk before it reports success).
    pub(super) fn write(&self, stores: &[&str]) -> Result<Transaction<'_>, StoreError> {
        let durability = match self.config.durability {
            Durability::Strict => TransactionDurability::Strict,
            Durability::Relaxed => TransactionDurability::Relaxed,
        };
        self.write_with(stores, durability)
    }

    /// A read-write transaction with relaxed durability, whatever the
    /// configuration: for what the server can tell again (a file's upload
    /// offset), where a flush per write would slow the upload down.
    pub(super) fn write_relaxed(&self, stores: &[&str]) -> Result<Transaction<'_>, StoreError> {
        self.write_with(stores, TransactionDurability::Relaxed)
    }

    /// A read-write transaction with `durability`, counted, and tracked for
    /// the back-forward cache (refused while the page is in it).
    fn write_with(
        &self,
        stores: &[&str],
        durability: TransactionDurability,
    ) -> Result<Transaction<'_>, StoreError> {
        self.page.check_open()?;
        self.write_transactions
            .set(self.write_transactions.get() + 1);
        let options = TransactionOptions::new().with_durability(durability);
        let tx = self
            .db
            .transaction(stores)
            .with_mode(TransactionMode::Readwrite)
            .with_options(options)
            .build()?;
        self.page.track(tx.as_sys().as_ref());
        Ok(tx)
    }

    /// Finds one event, applies `change` to it and saves it.
    async fn update(
        &self,
        event_id: Uuid,
        change: impl FnOnce(&mut OutboxEvent) -> Result<(), StoreError>,
    ) -> Result<OutboxEvent, StoreError> {
        let tx = self.write(&[OUTBOX])?;
        let event = {
            let outbox = tx.object_store(OUTBOX)?;
            let mut event = ops::find_event(&outbox, event_id)
                .await?
                .ok_or_else(|| not_found(event_id))?;
            change(&mut event)?;
            ops::put_event(&outbox, &event)?;
            event
        };
        commit(tx).await?;
        Ok(event)
    }

    /// Saves events with their records' new local views, in order, all or none.
    ///
    /// The files of `blobs` are stored in the same transaction: a change is
    /// never saved without its files, nor a file without its change.
    async fn insert(
        &self,
        items: Vec<Insert>,
        blobs: &[NewBlob],
        now_ms: u64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let tx = if blobs.is_empty() {
            self.write(&[OUTBOX, RECORDS])?
        } else {
            self.write(&[OUTBOX, RECORDS, BLOBS, BLOB_STATES])?
        };
        let saved = {
            let outbox = tx.object_store(OUTBOX)?;
            let records = tx.object_store(RECORDS)?;
            if !blobs.is_empty() {
                put_new(&FileStores::of(&tx)?, blobs, now_ms).await?;
            }
            // Every request of a kind goes out at once (IndexedDB answers a
            // transaction's requests in order): the records the batch
            // touches, then its events, then the records' new views.
            let mut touched: Vec<RecordKey> = Vec::new();
            for item in &items {
                let key = item.record_key();
                if !touched.contains(&key) {
                    touched.push(key);
                }
            }
            let stored = ops::get_stored_records(records.as_sys(), &touched).await?;
            let mut views: HashMap<RecordKey, Option<LocalRecord>> =
                touched.into_iter().zip(stored).collect();
            let mut events = Vec::with_capacity(items.len());
            for item in items {
                let key = item.record_key();
                let current = views.get(&key).cloned().flatten();
                let (record, event) = match item {
                    Insert::Change(change, now_ms) => prepare_change(
                        &self.config.limits,
                        current,
                        change,
                        Uuid::now_v7(),
                        now_ms,
                    )?,
                    Insert::Event(event) => {
                        (prepare_event(&self.config.limits, current, &event)?, event)
                    }
                };
                views.insert(key, Some(record));
                events.push(event);
            }
            // The events and the records' new views go out together: a
            // put() waits for one round trip after its read, not two.
            let adds = ops::send_adds(outbox.as_sys(), &mut events)?;
            for record in views.values().flatten() {
                ops::put_record(&records, record)?;
            }
            ops::added(&adds, events).await?
        };
        commit(tx).await?;
        Ok(saved)
    }
}

impl IdbOutbox {
    /// Saves changes and the files they refer to (`{"$blob": …}` fields) in
    /// one transaction, all or none: a quota error stores nothing.
    pub async fn enqueue_with_blobs(
        &self,
        changes: Vec<NewEvent>,
        blobs: Vec<NewBlob>,
        now_ms: u64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        if changes.is_empty() {
            return Err(ValidationError::EmptyBatch.into());
        }
        let items = changes
            .into_iter()
            .map(|c| Insert::Change(c, now_ms))
            .collect();
        self.insert(items, &blobs, now_ms).await
    }
}

/// What to save: a change the app asks for (and when), or an event built elsewhere.
enum Insert {
    Change(NewEvent, u64),
    Event(OutboxEvent),
}

impl Insert {
    fn record_key(&self) -> RecordKey {
        match self {
            Insert::Change(change, _) => RecordKey {
                collection: change.collection.clone(),
                record_id: change.record_id.clone(),
            },
            Insert::Event(event) => event.record_key(),
        }
    }
}

fn not_found(event_id: Uuid) -> StoreError {
    StoreError::EventNotFound(event_id.to_string())
}

impl OutboxStore for IdbOutbox {
    type Row = super::idb_query::JsRecord;

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
            return Err(ValidationError::EmptyBatch.into());
        }
        self.insert(
            changes
                .into_iter()
                .map(|c| Insert::Change(c, now_ms))
                .collect(),
            &[],
            now_ms,
        )
        .await
    }

    async fn insert_events(
        &self,
        events: Vec<OutboxEvent>,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.insert(events.into_iter().map(Insert::Event).collect(), &[], 0)
            .await
    }

    async fn event(&self, event_id: Uuid) -> Result<Option<OutboxEvent>, StoreError> {
        let tx = self.read(&[OUTBOX])?;
        let event = ops::find_event(&tx.object_store(OUTBOX)?, event_id).await?;
        commit(tx).await?;
        Ok(event)
    }

    async fn events_in_state(
        &self,
        state: EventState,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        // IndexedDB reads a limit of 0 as "no limit".
        if limit == 0 {
            return Ok(Vec::new());
        }
        let tx = self.read(&[OUTBOX])?;
        let events = {
            let outbox = tx.object_store(OUTBOX)?;
            let by_state = outbox.index(BY_STATE)?;
            let found = by_state
                .get_all::<OutboxEvent>()
                .with_query(state.as_str())
                .with_limit(limit)
                .serde()?
                .await?;
            found.collect::<Result<Vec<_>, _>>()?
        };
        commit(tx).await?;
        Ok(events)
    }

    async fn count(&self, state: EventState) -> Result<u32, StoreError> {
        let tx = self.read(&[OUTBOX])?;
        let count = ops::count_state(&tx.object_store(OUTBOX)?, state).await?;
        commit(tx).await?;
        Ok(count)
    }

    /// Counts every state in one transaction, so the numbers agree with each other.
    async fn unsent(&self, limit: u32) -> Result<Vec<OutboxEvent>, StoreError> {
        // One transaction, so an event moving from queued to syncing meanwhile
        // is listed once.
        let tx = self.read(&[OUTBOX])?;
        let events = ops::unsent_from(
            &tx.object_store(OUTBOX)?,
            self.unsent_from.get(),
            limit as usize,
        )
        .await?;
        commit(tx).await?;
        Ok(events)
    }

    async fn next_attempt_at(&self) -> Result<Option<u64>, StoreError> {
        let tx = self.read(&[OUTBOX])?;
        let earliest = ops::earliest_queued_deadline(&tx.object_store(OUTBOX)?).await?;
        commit(tx).await?;
        Ok(earliest)
    }

    async fn status(&self) -> Result<StatusSummary, StoreError> {
        let tx = self.read(&[OUTBOX])?;
        let mut status = StatusSummary::default();
        {
            let outbox = tx.object_store(OUTBOX)?;
            for state in EventState::ALL {
                if state != EventState::Synced {
                    status.add(state, ops::count_state(&outbox, state).await?);
                }
            }
        }
        commit(tx).await?;
        Ok(status)
    }

    async fn take_batch(&self, now_ms: u64, limit: usize) -> Result<Vec<OutboxEvent>, StoreError> {
        let tx = self.write(&[OUTBOX])?;
        let batch = {
            let outbox = tx.object_store(OUTBOX)?;
            let (mut batch, unsent_from) = ops::select_batch(
                &outbox,
                self.config.clock,
                now_ms,
                limit,
                self.unsent_from.get(),
            )
            .await?;
            self.unsent_from.set(unsent_from);
            let mut writes = WriteSet::default();
            for event in &mut batch {
                event.start_sync(now_ms + self.config.lease_ms)?;
                writes.put_event(event.clone());
            }
            execute(&tx, &writes)?;
            batch
        };
        commit(tx).await?;
        Ok(batch)
    }

    async fn recover_leases(&self, now_ms: u64) -> Result<u32, StoreError> {
        // Most drains find no lease to take back: look first, write only then.
        let clock = self.config.clock;
        let expired = |events: &[OutboxEvent]| -> WriteSet {
            let mut writes = WriteSet::default();
            for event in events {
                let mut event = event.clone();
                if event.recover_lease(&clock, now_ms) {
                    writes.put_event(event);
                }
            }
            writes
        };
        let tx = self.read(&[OUTBOX])?;
        let syncing = ops::in_state(&tx.object_store(OUTBOX)?, EventState::Syncing).await?;
        commit(tx).await?;
        if expired(&syncing).is_empty() {
            return Ok(0);
        }
        let tx = self.write(&[OUTBOX])?;
        let recovered = {
            let syncing = ops::in_state(&tx.object_store(OUTBOX)?, EventState::Syncing).await?;
            let writes = expired(&syncing);
            execute(&tx, &writes)?;
            writes.len() as u32
        };
        commit(tx).await?;
        Ok(recovered)
    }

    async fn complete(
        &self,
        event_id: Uuid,
        server_version: Option<u64>,
        now_ms: u64,
    ) -> Result<OutboxEvent, StoreError> {
        let tx = self.write(&[OUTBOX, RECORDS])?;
        let event = confirm_event(
            &tx.object_store(OUTBOX)?,
            &tx.object_store(RECORDS)?,
            event_id,
            server_version,
            now_ms,
        )
        .await?;
        commit(tx).await?;
        Ok(event)
    }

    async fn complete_all(
        &self,
        confirmed: &[(Uuid, Option<u64>)],
        now_ms: u64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        if confirmed.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.write(&[OUTBOX, RECORDS])?;
        let completed = {
            let outbox = tx.object_store(OUTBOX)?;
            let records = tx.object_store(RECORDS)?;
            confirm_events(&outbox, &records, confirmed, now_ms).await?
        };
        commit(tx).await?;
        Ok(completed)
    }

    async fn settle(&self, steps: Vec<Step>, now_ms: u64) -> Result<Settlement, StoreError> {
        if steps.is_empty() {
            return Ok(Settlement::default());
        }
        let tx = self.write(&[OUTBOX, RECORDS, CONFLICTS])?;
        let settlement = {
            let outbox = store(&tx, OUTBOX)?;
            let records = store(&tx, RECORDS)?;
            let events = ops::find_events(&outbox, &event_ids(&steps)).await?;
            let keys = records_to_read(&steps, &events);
            let current = ops::get_records(&records, &keys).await?;
            // Most records' only unconfirmed change is the one settled: the
            // others' events are read, together, only when some need them.
            let wanted: Vec<RecordKey> = keys
                .iter()
                .zip(&current)
                .filter(|(_, record)| reads_unsent(record.as_ref()))
                .map(|(key, _)| key.clone())
                .collect();
            let mut unsent = match wanted.is_empty() {
                true => Vec::new(),
                false => ops::unsent_of_each(&outbox, &wanted).await?,
            }
            .into_iter();
            let reads = keys
                .into_iter()
                .zip(current)
                .map(|(key, record)| RecordRead {
                    unsent: match reads_unsent(record.as_ref()) {
                        true => unsent.next().unwrap_or_default(),
                        false => Vec::new(),
                    },
                    key,
                    record,
                })
                .collect();
            let keep = self.config.keeps_synced();
            let settlement = plan_settlement(steps, events, reads, keep, now_ms);
            execute(&tx, &settlement.writes)?;
            settlement
        };
        commit(tx).await?;
        Ok(settlement)
    }

    async fn requeue(
        &self,
        event_id: Uuid,
        next_attempt_at_ms: u64,
        reason: &str,
    ) -> Result<OutboxEvent, StoreError> {
        self.update(event_id, |e| Ok(e.requeue(next_attempt_at_ms, reason)?))
            .await
    }

    async fn fail(&self, event_id: Uuid, reason: &str) -> Result<OutboxEvent, StoreError> {
        self.update(event_id, |e| Ok(e.fail(reason)?)).await
    }

    async fn mark_conflict(&self, event_id: Uuid, reason: &str) -> Result<OutboxEvent, StoreError> {
        self.update(event_id, |e| Ok(e.mark_conflict(reason)?))
            .await
    }

    async fn retry_now(&self, event_id: Uuid) -> Result<OutboxEvent, StoreError> {
        self.update(event_id, |e| Ok(e.retry_now()?)).await
    }

    async fn retry_all_now(&self, include_failed: bool) -> Result<u32, StoreError> {
        let tx = self.write(&[OUTBOX])?;
        let changed = {
            let outbox = tx.object_store(OUTBOX)?;
            // Seqs first, events one at a time: a long queue is never all in memory.
            let due = |e: &OutboxEvent| needs_retry_now(e, include_failed);
            let mut waiting = ops::seqs_in_state(&outbox, EventState::Queued, due).await?;
            if include_failed {
                waiting.extend(ops::seqs_in_state(&outbox, EventState::Failed, due).await?);
            }
            let mut changed = 0;
            for seq in waiting {
                if let Some(mut event) = ops::event_at(&outbox, seq).await? {
                    event.retry_now()?;
                    ops::put_event(&outbox, &event)?;
                    changed += 1;
                }
            }
            changed
        };
        commit(tx).await?;
        Ok(changed)
    }

    async fn discard(&self, event_id: Uuid) -> Result<(), StoreError> {
        let tx = self.write(&[OUTBOX, RECORDS, CONFLICTS])?;
        {
            let outbox = tx.object_store(OUTBOX)?;
            let event = ops::find_event(&outbox, event_id)
                .await?
                .ok_or_else(|| not_found(event_id))?;
            let key = event.record_key();
            let record = ops::get_record(&tx.object_store(RECORDS)?, &key).await?;
            let others: Vec<_> = ops::unsent_of(&outbox, &key)
                .await?
                .into_iter()
                .filter(|e| e.event_id != event_id)
                .collect();
            execute(&tx, &plan_discard(&event, record, &others)?)?;
        }
        commit(tx).await
    }

    async fn purge_synced(&self, before_ms: u64) -> Result<u32, StoreError> {
        let tx = self.write(&[OUTBOX])?;
        let purged = {
            let outbox = tx.object_store(OUTBOX)?;
            let old = ops::synced_before(&outbox, before_ms).await?;
            for seq in &old {
                ops::delete_event(&outbox, *seq)?;
            }
            old.len() as u32
        };
        commit(tx).await?;
        Ok(purged)
    }

    async fn unsent_events(&self, key: &RecordKey) -> Result<Vec<OutboxEvent>, StoreError> {
        let tx = self.read(&[OUTBOX])?;
        let events = ops::unsent_of(&tx.object_store(OUTBOX)?, key).await?;
        commit(tx).await?;
        Ok(events)
    }

    async fn unsent_events_of(
        &self,
        keys: &[RecordKey],
    ) -> Result<Vec<Vec<OutboxEvent>>, StoreError> {
        let tx = self.read(&[OUTBOX])?;
        let all = { ops::unsent_of_each(&store(&tx, OUTBOX)?, keys).await? };
        commit(tx).await?;
        Ok(all)
    }

    async fn records(&self, collection: &str, limit: u32) -> Result<Vec<LocalRecord>, StoreError> {
        // IndexedDB reads a limit of 0 as "no limit".
        if limit == 0 {
            return Ok(Vec::new());
        }
        let tx = self.read(&[RECORDS])?;
        let found = ops::records_of(&tx.object_store(RECORDS)?, collection, limit).await?;
        commit(tx).await?;
        Ok(found)
    }

    async fn record(&self, key: &RecordKey) -> Result<Option<LocalRecord>, StoreError> {
        let tx = self.read(&[RECORDS])?;
        let record = ops::get_record(&tx.object_store(RECORDS)?, key).await?;
        commit(tx).await?;
        Ok(record)
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
    ) -> Result<Vec<Self::Row>, StoreError> {
        let tx = self.read_direct(&[RECORDS, OUTBOX])?;
        let found = super::idb_query::scan(&tx, index, range, backwards, limit).await?;
        Ok(found)
    }
}

/// Marks one event synced and folds it into its record's base, within the
/// transaction the two stores belong to.
async fn confirm_event(
    outbox: &ObjectStore<'_>,
    records: &ObjectStore<'_>,
    event_id: Uuid,
    server_version: Option<u64>,
    now_ms: u64,
) -> Result<OutboxEvent, StoreError> {
    let mut event = ops::find_event(outbox, event_id)
        .await?
        .ok_or_else(|| not_found(event_id))?;
    event.mark_synced(now_ms)?;
    ops::put_event(outbox, &event)?;
    let key = event.record_key();
    if let Some(mut record) = ops::get_record(records, &key).await? {
        let unconfirmed = ops::unsent_of(outbox, &key).await?;
        record.confirm(&event, server_version, &unconfirmed);
        ops::put_record(records, &record)?;
    }
    Ok(event)
}

/// Marks events synced and folds them into their records, within one
/// transaction: each kind of request goes out for the whole batch at once
/// (IndexedDB answers a transaction's requests in order), so a batch costs a
/// few round trips instead of five per event. Events another drainer already
/// finished are skipped; an unknown event fails the lot.
async fn confirm_events(
    outbox: &ObjectStore<'_>,
    records: &ObjectStore<'_>,
    confirmed: &[(Uuid, Option<u64>)],
    now_ms: u64,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let ids: Vec<Uuid> = confirmed.iter().map(|(id, _)| *id).collect();
    let found = ops::find_events(outbox.as_sys(), &ids).await?;
    let mut completed = Vec::with_capacity(confirmed.len());
    for ((event_id, server_version), event) in confirmed.iter().zip(found) {
        let mut event = event.ok_or_else(|| not_found(*event_id))?;
        // Not syncing any more: another drainer finished it after this one's
        // lease ran out.
        if event.mark_synced(now_ms).is_ok() {
            completed.push((event, *server_version));
        }
    }
    let keys: Vec<RecordKey> = completed.iter().map(|(e, _)| e.record_key()).collect();
    if keys.iter().collect::<HashSet<_>>().len() < keys.len() {
        // Two events of one record: each must see the other's new state.
        let mut done = Vec::with_capacity(completed.len());
        for (event, server_version) in completed {
            done.push(
                confirm_event(outbox, records, event.event_id, server_version, now_ms).await?,
            );
        }
        return Ok(done);
    }
    for (event, _) in &completed {
        ops::put_event(outbox, event)?;
    }
    let (current, unsent) = join(
        ops::get_records(records.as_sys(), &keys),
        ops::unsent_of_each(outbox.as_sys(), &keys),
    )
    .await;
    let mut confirmed_records = Vec::new();
    for (((event, server_version), record), unsent) in completed.iter().zip(current?).zip(unsent?) {
        if let Some(mut record) = record {
            record.confirm(event, *server_version, &unsent);
            confirmed_records.push(record);
        }
    }
    for record in &confirmed_records {
        ops::put_record(records, record)?;
    }
    Ok(completed.into_iter().map(|(event, _)| event).collect())
}
