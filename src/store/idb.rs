//! [`IdbOutbox`]: the outbox contract on IndexedDB, for pages and service workers.
//!
//! Every operation is one transaction. Writes span every store they touch and
//! are committed explicitly (`indexed_db_futures` rolls back otherwise), with
//! strict durability: a change reported saved is on disk. The rules come from
//! the core's shared helpers, so this store and
//! [`MemoryOutbox`](crate::core::memory::MemoryOutbox) cannot drift apart.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::{Rc, Weak};

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
use super::idb_query::take_payloads;
use super::idb_write::{execute, execute_with, store};
use super::outgoing::{Holding, Outgoing};
use super::requests::{decode, from_js};
use super::saves::Saves;
use super::schema::{self, BLOBS, BLOB_STATES, BY_STATE, CONFLICTS, LEASES, OUTBOX, RECORDS};
use crate::core::drain::Step;
use crate::core::index::{IndexRef, IndexSpec};
use crate::core::lease::{self, LeaseWrite, Leases};
use crate::core::outbox::{
    apply_event, check_event, draft_change, finish_change, needs_retry_now, plan_discard,
};
use crate::core::query_key::KeyRange;
use crate::core::settle::{
    confirms_by_patch, needs_payload, plan_settlement, reads_unsent, records_to_read,
    release_settled, whole_records, RecordRead, Settlement,
};
use crate::core::write_set::WriteSet;
use crate::core::{
    Durability, EventState, NewEvent, OutboxEvent, OutboxStore, RecordKey, StoreConfig, StoreError,
    ValidationError,
};
use crate::core::{LocalRecord, StatusSummary};

/// Something in this page or worker told when a change saved through this
/// connection (`put()`, `patch()`, `delete()`, `putMany()`) has had every
/// request answered and only its commit is left: a live query, which then
/// reads again at once. IndexedDB starts a read-only transaction created
/// now only after that write has finished, so the read sees the change
/// once it is committed, or, if the commit fails, the records as they were.
pub trait WriteListener {
    /// Called with the collections the write changes.
    fn committing(&self, collections: &[&str]);
}

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
    /// Of those, the ones opened with strict durability (flushed to disk).
    strict_transactions: Cell<u64>,
    /// The indexes declared on the records when this connection opened.
    indexes: Vec<IndexSpec>,
    /// Who this connection is, in the batch leases it takes.
    holder: String,
    /// In a page: the transactions still open, aborted when the page goes
    /// into the back-forward cache (WebKit would keep them open there and
    /// block every other tab and the service worker).
    page: PageTransactions,
    /// The saves in progress, which the sync's writes let finish first.
    saves: Rc<Saves>,
    /// Told before each saved change's commit ([`WriteListener`]).
    write_listeners: RefCell<Vec<Weak<dyn WriteListener>>>,
    /// The payloads of taken batches, held for the push while a drain
    /// asks ([`hold_payloads`](Self::hold_payloads)).
    outgoing: Rc<Outgoing>,
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
            strict_transactions: Cell::new(0),
            indexes,
            holder: Uuid::now_v7().to_string(),
            page: PageTransactions::new(),
            saves: Rc::default(),
            write_listeners: RefCell::default(),
            outgoing: Rc::default(),
        })
    }

    /// While the returned hold lives, batches taken leave their payloads
    /// in JavaScript for the push ([`outgoing`](Self::outgoing), see
    /// [`super::outgoing`]): the drain that holds it must push through a
    /// transport that reads them there.
    pub fn hold_payloads(&self) -> Holding {
        Holding::new(self.outgoing.clone())
    }

    /// Where taken batches leave their payloads while a drain
    /// [holds them](Self::hold_payloads).
    pub fn outgoing(&self) -> Rc<Outgoing> {
        self.outgoing.clone()
    }

    /// Waits until the saves (`put()`, `putMany()`, `patch()`, `delete()`)
    /// in progress on this connection now have committed: the sync's own
    /// writes (a batch taken, a push's outcomes, a pulled page, the run
    /// recorded) go after them instead of beside them, so a save shares
    /// neither the disk nor the main thread with the sync's commits. It
    /// waits until no save is in progress (see `saves.rs`): saves that
    /// overlap one another hold it back until the last of them commits.
    ///
    /// Having waited, it goes on from a timer of 0 ms, not at once: the
    /// last save's commit wakes it before that save's promise resolves,
    /// and the sync's next transaction (created, its requests cloned) would
    /// otherwise run on the main thread before the app hears the save.
    pub async fn after_saves(&self) {
        let idle = self.saves.idle();
        let waits = idle.waits();
        idle.await;
        if waits {
            crate::timer::sleep_ms(0).await;
        }
    }

    /// How many saves are in progress on this connection (for tests).
    #[doc(hidden)]
    pub fn saves_in_progress(&self) -> u32 {
        self.saves.running()
    }

    /// The database's IndexedDB version (its schema level and index changes,
    /// see [`schema::level_of`]).
    pub fn version(&self) -> u32 {
        self.db.version() as u32
    }

    /// Which connection this is, among those open in this page or worker
    /// (its address: it is shared behind an `Rc` while open), for the
    /// messages it announces ([`crate::engine::broadcast::announce_saved`]).
    pub fn connection(&self) -> usize {
        self as *const IdbOutbox as usize
    }

    /// Lets `listener` hear, for as long as it lives, each change saved
    /// through this connection just before its commit ([`WriteListener`]).
    pub fn listen_to_writes(&self, listener: Weak<dyn WriteListener>) {
        let mut listeners = self.write_listeners.borrow_mut();
        listeners.retain(|l| l.strong_count() > 0);
        listeners.push(listener);
    }

    /// Tells the [`WriteListener`]s that a write of `collections` is about
    /// to commit.
    fn committing(&self, collections: &[&str]) {
        let listeners: Vec<_> = self
            .write_listeners
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for listener in listeners {
            listener.committing(collections);
        }
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

    /// How many of [`write_transactions`](Self::write_transactions) were
    /// strict (their commit waits for the disk), so tests can check that
    /// only the user's own changes pay for a flush.
    #[doc(hidden)]
    pub fn strict_transactions(&self) -> u64 {
        self.strict_transactions.get()
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
    /// offset, a push's outcomes, a batch's lease, a pulled page), where a
    /// flush per write would slow the sync down. Losing such a commit to a
    /// power cut only repeats work: the events go out again under the same
    /// idempotency keys, the page is pulled again. A later strict commit
    /// (a `put()`) flushes it too, as IndexedDB's log is written in order.
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
        if durability == TransactionDurability::Strict {
            self.strict_transactions
                .set(self.strict_transactions.get() + 1);
        }
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
        let tx = self.write(&[OUTBOX, LEASES])?;
        let event = {
            let outbox = tx.object_store(OUTBOX)?;
            let mut leases = leases_of(&tx).await?;
            let mut event = ops::find_event(&outbox, event_id)
                .await?
                .ok_or_else(|| not_found(event_id))?;
            leases.show(&mut event);
            change(&mut event)?;
            ops::put_event(&outbox, &event)?;
            release(&tx, &mut leases, &[ops::seq_of(&event)?])?;
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
        // Until it commits (or fails), the sync's writes wait for it.
        let _saving = self.saves.begin();
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
            // Every change is checked and its event drafted before anything
            // is sent: a bad change late in a batch stores none of it.
            let mut events = Vec::with_capacity(items.len());
            let mut drafted = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Insert::Change(change, now_ms) => {
                        let id = Uuid::now_v7();
                        events.push(draft_change(&self.config.limits, change, id, now_ms)?);
                        drafted.push(true);
                    }
                    Insert::Event(event) => {
                        check_event(&self.config.limits, &event)?;
                        events.push(event);
                        drafted.push(false);
                    }
                }
            }
            // Each record once, in first-seen order (a set, not a search of
            // the list: a putMany of 10k was 50M key comparisons).
            let mut seen: HashSet<RecordKey> = HashSet::with_capacity(events.len());
            let mut touched: Vec<RecordKey> = Vec::new();
            for event in &events {
                let key = event.record_key();
                if seen.insert(key.clone()) {
                    touched.push(key);
                }
            }
            // The events' adds go out first, the reads of their records
            // right behind them, all at once: once the reads are answered,
            // so are the adds (IndexedDB answers a transaction's requests in
            // order). A put() so waits for one answer before its last
            // writes, not two. Then the records' new views, and each drafted
            // event whose record had a base version (rewritten with it).
            // The commit is asked for only once every add has succeeded:
            // asked for beside them, Firefox committed the batch's first
            // event when a later add was refused (a reused event id),
            // breaking the batch's all-or-nothing (contract test
            // event_and_record_are_written_together_or_not_at_all).
            let adds = ops::send_adds(outbox.as_sys(), &mut events)?;
            let stored = ops::get_stored_records(records.as_sys(), &touched).await;
            // A refused add aborted the reads: its failure is the one told.
            let mut events = ops::added_already(&adds, events)?;
            let mut views: HashMap<RecordKey, Option<LocalRecord>> =
                touched.into_iter().zip(stored?).collect();
            for (event, drafted) in events.iter_mut().zip(drafted) {
                let key = event.record_key();
                let current = views.remove(&key).flatten();
                let record = match drafted {
                    true => {
                        let (record, rewrite) = finish_change(current, event);
                        if rewrite {
                            ops::put_event(&outbox, event)?;
                        }
                        record
                    }
                    false => apply_event(current, event),
                };
                views.insert(key, Some(record));
            }
            for record in views.values().flatten() {
                ops::put_record(&records, record)?;
            }
            events
        };
        let mut collections: Vec<&str> = Vec::new();
        for event in &saved {
            if !collections.contains(&event.collection.as_str()) {
                collections.push(&event.collection);
            }
        }
        self.committing(&collections);
        commit(tx).await?;
        Ok(saved)
    }
}

impl IdbOutbox {
    /// [`take_batch`](OutboxStore::take_batch)'s work in `tx` (the
    /// caller commits); `leases` when `tx` has read them already.
    async fn take_in(
        &self,
        tx: &Transaction<'_>,
        leases: Option<Leases>,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let batch = {
            let outbox = tx.object_store(OUTBOX)?;
            // The leases (unless given) and the walk's first events are read together.
            let hold = self.outgoing.is_holding();
            let chunk = ops::walk_chunk(limit);
            let (leases, from_seq, skipped, first) = match leases {
                // Known leases: the walk starts past this drainer's own.
                Some(leases) => {
                    let (from_seq, skipped) =
                        ops::walk_start(&outbox, &leases, &self.holder, self.unsent_from.get())
                            .await?;
                    let first = ops::read_chunk(&outbox, from_seq, chunk, hold).await;
                    (leases, from_seq, skipped, first)
                }
                // Otherwise the leases and the walk's first events together.
                None => {
                    let from_seq = self.unsent_from.get();
                    let first = ops::read_chunk(&outbox, from_seq, chunk, hold);
                    let (leases, first) = join(leases_of(tx), first).await;
                    (leases?, from_seq, None, first)
                }
            };
            let (batch, held, unsent_from) = ops::select_batch(
                &outbox,
                &leases,
                self.config.clock,
                now_ms,
                limit,
                hold,
                (from_seq, first?),
                skipped,
            )
            .await?;
            self.unsent_from.set(unsent_from);
            for (event, (row, payload)) in batch.iter().zip(held) {
                self.outgoing.hold(event.event_id, row, payload);
            }
            let hold = self.outgoing.is_holding();
            if batch.is_empty() {
                batch
            } else {
                // One lease record for the batch: its events are not rewritten.
                let until_ms = now_ms + self.config.lease_ms;
                let batch_id = Uuid::now_v7().to_string();
                let (lease, taken) = lease::take(batch, batch_id, self.holder.clone(), until_ms)?;
                let writes = WriteSet {
                    leases: vec![LeaseWrite::Put(lease)],
                    ..WriteSet::default()
                };
                execute(tx, &writes)?;
                if hold {
                    self.outgoing.keep(&taken);
                }
                taken
            }
        };
        Ok(batch)
    }

    /// [`settle`](OutboxStore::settle)'s work in `tx` (the caller
    /// commits); `leases` when `tx` has read them already. Returns the
    /// settlement and the leases as it left them.
    async fn settle_in(
        &self,
        tx: &Transaction<'_>,
        leases: Option<Leases>,
        steps: Vec<Step>,
        now_ms: u64,
    ) -> Result<(Settlement, Leases), StoreError> {
        let settlement = {
            let outbox = store(tx, OUTBOX)?;
            let records = store(tx, RECORDS)?;
            let keep = self.config.keeps_synced();
            // A confirmed event the drain's take kept is not read again: a
            // keys-only read says it is still stored, the leases that it is
            // still this drainer's (see `outgoing`). The others are read by id.
            let kept: Vec<Option<OutboxEvent>> = steps
                .iter()
                .map(|step| {
                    let kept = self.outgoing.kept(&step.event_id());
                    kept.filter(|_| matches!(step, Step::Synced { .. }) && !keep)
                })
                .collect();
            let ids: Vec<Uuid> = steps
                .iter()
                .zip(&kept)
                .filter(|(_, kept)| kept.is_none())
                .map(|(step, _)| step.event_id())
                .collect();
            let kept_seqs: Vec<u64> = kept.iter().flatten().filter_map(|e| e.seq).collect();
            let reads = join(
                ops::find_event_objects(&outbox, &ids),
                ops::stored_seqs(&outbox, &kept_seqs),
            );
            let (mut leases, (objects, stored)) = match leases {
                Some(leases) => (leases, reads.await),
                None => {
                    let (leases, reads) = join(leases_of(tx), reads).await;
                    (leases?, reads)
                }
            };
            let (objects, stored) = (objects?, stored?);
            // Decoded without their payloads: a confirmed event that leaves
            // the outbox needs none (`needs_payload`); the others get theirs
            // below, once the records are read.
            let read_payloads = take_payloads(objects.clone());
            let mut read = objects
                .into_iter()
                .map(from_js::<OutboxEvent>)
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .zip(read_payloads);
            let own = leases.seqs_of(&self.holder);
            let mut events = Vec::with_capacity(steps.len());
            let mut payloads = Vec::with_capacity(steps.len());
            for kept in kept {
                match kept {
                    Some(event) => {
                        let seq = event.seq.unwrap_or_default();
                        let held =
                            stored.binary_search(&seq).is_ok() && own.binary_search(&seq).is_ok();
                        events.push(held.then_some(event));
                        payloads.push(wasm_bindgen::JsValue::UNDEFINED);
                    }
                    None => {
                        let (mut event, payload) = read.next().unwrap_or_default();
                        if let Some(event) = event.as_mut() {
                            leases.show(event);
                        }
                        events.push(event);
                        payloads.push(payload);
                    }
                }
            }
            let keys = records_to_read(&steps, &events);
            let whole = whole_records(&steps, &events);
            let objects = ops::record_objects_by_range(&records, &keys).await?;
            // A record whose one unconfirmed change is the settled one (most
            // of a drain's) is patched as IndexedDB gave it, its fields never
            // decoded; the others are decoded whole.
            let mut patched: HashMap<RecordKey, wasm_bindgen::JsValue> = HashMap::new();
            let mut current = Vec::with_capacity(keys.len());
            for (key, object) in keys.iter().zip(objects) {
                let pending = js_sys::Reflect::get(&object, &"pending".into())
                    .ok()
                    .and_then(|p| p.as_f64());
                let one_change = !object.is_undefined()
                    && pending.is_some_and(|p| confirms_by_patch(p as u32, whole.contains(key)));
                match one_change {
                    true => {
                        patched.insert(key.clone(), object);
                        current.push((None, true));
                    }
                    false => current.push((from_js::<LocalRecord>(object)?, false)),
                }
            }
            // Most records' only unconfirmed change is the one settled: the
            // others' events are read, together, only when some need them.
            let wanted: Vec<RecordKey> = keys
                .iter()
                .zip(&current)
                .filter(|(_, (record, _))| reads_unsent(record.as_ref()))
                .map(|(key, _)| key.clone())
                .collect();
            let mut unsent = match wanted.is_empty() {
                true => Vec::new(),
                false => ops::unsent_of_each(&outbox, &wanted).await?,
            }
            .into_iter();
            let reads: Vec<RecordRead> = keys
                .into_iter()
                .zip(current)
                .map(|(key, (record, one_change))| RecordRead {
                    unsent: match reads_unsent(record.as_ref()) {
                        true => unsent.next().unwrap_or_default(),
                        false => Vec::new(),
                    },
                    key,
                    record,
                    one_change,
                })
                .collect();
            let decoded: HashSet<&RecordKey> = reads
                .iter()
                .filter(|read| read.record.is_some())
                .map(|read| &read.key)
                .collect();
            let mut missing = Vec::new();
            for ((step, event), payload) in steps.iter().zip(&mut events).zip(payloads) {
                if let Some(event) = event {
                    if needs_payload(step, keep, decoded.contains(&event.record_key())) {
                        match payload.is_undefined() {
                            // A kept event: its payload is read now.
                            true => missing.push(event),
                            false => event.payload = decode(payload)?,
                        }
                    }
                }
            }
            if !missing.is_empty() {
                let seqs: Vec<u64> = missing.iter().filter_map(|e| e.seq).collect();
                let stored = ops::events_at(&outbox, &seqs).await?;
                for event in missing {
                    if let Some(found) = stored.iter().find(|s| s.seq == event.seq) {
                        event.payload = found.payload.clone();
                    }
                }
            }
            let mut settlement = plan_settlement(steps, events.clone(), reads, keep, now_ms);
            release_settled(&mut settlement.writes, &mut leases, &events);
            execute_with(tx, &settlement.writes, &patched)?;
            (settlement, leases)
        };
        Ok(settlement)
    }

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

/// The batch leases stored, read in `tx` (which spans the leases store).
pub(super) async fn leases_of(tx: &Transaction<'_>) -> Result<Leases, StoreError> {
    ops::leases(&store(tx, LEASES)?).await
}

/// Releases the events stored under `seqs` from their leases, in `tx`.
pub(super) fn release(
    tx: &Transaction<'_>,
    leases: &mut Leases,
    seqs: &[u64],
) -> Result<(), StoreError> {
    let writes = WriteSet {
        leases: leases.release(seqs),
        ..WriteSet::default()
    };
    execute(tx, &writes)
}

/// How many events show `state`, from the count stored in it: the events
/// `leases` hold are stored as queued and show as syncing.
fn shown_count(state: EventState, stored: u32, leases: &Leases) -> u32 {
    match state {
        EventState::Queued => stored.saturating_sub(leases.held()),
        EventState::Syncing => stored + leases.held(),
        _ => stored,
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
        let tx = self.read(&[OUTBOX, LEASES])?;
        let leases = leases_of(&tx).await?;
        let mut event = ops::find_event(&tx.object_store(OUTBOX)?, event_id).await?;
        commit(tx).await?;
        if let Some(event) = event.as_mut() {
            leases.show(event);
        }
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
        let tx = self.read(&[OUTBOX, LEASES])?;
        let events = {
            let outbox = tx.object_store(OUTBOX)?;
            let leases = leases_of(&tx).await?;
            // Held events are stored as queued: read past them.
            let wanted = match state {
                EventState::Queued => limit.saturating_add(leases.held()),
                _ => limit,
            };
            let by_state = outbox.index(BY_STATE)?;
            let found = by_state
                .get_all::<wasm_bindgen::JsValue>()
                .with_query(state.as_str())
                .with_limit(wanted)
                .await?;
            let mut events: Vec<OutboxEvent> = ops::decode_all(found)?;
            if state == EventState::Syncing && !leases.is_empty() {
                let held: Vec<u64> = leases.seqs().collect();
                events.extend(ops::events_at(outbox.as_sys(), &held).await?);
                events.sort_by_key(|e| e.seq);
            }
            let mut events = leases.shown(events);
            events.retain(|e| e.state == state);
            events.truncate(limit as usize);
            events
        };
        commit(tx).await?;
        Ok(events)
    }

    async fn count(&self, state: EventState) -> Result<u32, StoreError> {
        let tx = self.read(&[OUTBOX, LEASES])?;
        let leases = leases_of(&tx).await?;
        let count = ops::count_state(&tx.object_store(OUTBOX)?, state).await?;
        commit(tx).await?;
        Ok(shown_count(state, count, &leases))
    }

    /// Counts every state in one transaction, so the numbers agree with each other.
    async fn unsent(&self, limit: u32) -> Result<Vec<OutboxEvent>, StoreError> {
        // One transaction, so an event moving from queued to syncing meanwhile
        // is listed once.
        let tx = self.read(&[OUTBOX, LEASES])?;
        let leases = leases_of(&tx).await?;
        let events = ops::unsent_from(
            &tx.object_store(OUTBOX)?,
            self.unsent_from.get(),
            limit as usize,
        )
        .await?;
        commit(tx).await?;
        Ok(leases.shown(events))
    }

    async fn next_attempt_at(&self) -> Result<Option<u64>, StoreError> {
        let tx = self.read(&[OUTBOX, LEASES])?;
        let leases = leases_of(&tx).await?;
        let earliest = ops::earliest_queued_deadline(&tx.object_store(OUTBOX)?, &leases).await?;
        commit(tx).await?;
        Ok(earliest)
    }

    async fn status(&self) -> Result<StatusSummary, StoreError> {
        let tx = self.read(&[OUTBOX, LEASES])?;
        let mut status = StatusSummary::default();
        {
            let leases = leases_of(&tx).await?;
            let outbox = tx.object_store(OUTBOX)?;
            for state in EventState::ALL {
                if state != EventState::Synced {
                    let stored = ops::count_state(&outbox, state).await?;
                    status.add(state, shown_count(state, stored, &leases));
                }
            }
        }
        commit(tx).await?;
        Ok(status)
    }

    async fn take_batch(&self, now_ms: u64, limit: usize) -> Result<Vec<OutboxEvent>, StoreError> {
        // Relaxed: a lease lost to a power cut only sends the batch again.
        self.after_saves().await;
        let tx = self.write_relaxed(&[OUTBOX, LEASES])?;
        let batch = self.take_in(&tx, None, now_ms, limit).await?;
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
        // Events stored as syncing (by a version before batch leases) keep
        // their own lease; batch leases are taken back whole.
        let tx = self.read(&[OUTBOX, LEASES])?;
        let mut leases = leases_of(&tx).await?;
        let syncing = ops::in_state(&tx.object_store(OUTBOX)?, EventState::Syncing).await?;
        commit(tx).await?;
        if expired(&syncing).is_empty() && leases.expire(&clock, now_ms).0.is_empty() {
            return Ok(0);
        }
        let tx = self.write(&[OUTBOX, LEASES])?;
        let recovered = {
            let outbox = tx.object_store(OUTBOX)?;
            let syncing = ops::in_state(&outbox, EventState::Syncing).await?;
            let mut writes = expired(&syncing);
            let mut leases = leases_of(&tx).await?;
            let shown = leases.clone();
            let (released, held) = leases.expire(&clock, now_ms);
            let held = shown.shown(ops::events_at(outbox.as_sys(), &held).await?);
            writes.events.extend(expired(&held).events);
            let recovered = writes.len() as u32;
            writes.leases = released;
            execute(&tx, &writes)?;
            recovered
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
        let tx = self.write(&[OUTBOX, RECORDS, LEASES])?;
        let event = {
            let mut leases = leases_of(&tx).await?;
            let event = confirm_event(
                &tx.object_store(OUTBOX)?,
                &tx.object_store(RECORDS)?,
                &leases,
                event_id,
                server_version,
                now_ms,
            )
            .await?;
            release(&tx, &mut leases, &[ops::seq_of(&event)?])?;
            event
        };
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
        let tx = self.write(&[OUTBOX, RECORDS, LEASES])?;
        let completed = {
            let outbox = tx.object_store(OUTBOX)?;
            let records = tx.object_store(RECORDS)?;
            let mut leases = leases_of(&tx).await?;
            let completed = confirm_events(&outbox, &records, &leases, confirmed, now_ms).await?;
            let seqs: Vec<u64> = completed.iter().filter_map(|e| e.seq).collect();
            release(&tx, &mut leases, &seqs)?;
            completed
        };
        commit(tx).await?;
        Ok(completed)
    }

    async fn settle(&self, steps: Vec<Step>, now_ms: u64) -> Result<Settlement, StoreError> {
        if steps.is_empty() {
            return Ok(Settlement::default());
        }
        // Relaxed: outcomes lost to a power cut are told again by the server
        // when the events go out again (see `write_relaxed`).
        self.after_saves().await;
        let tx = self.write_relaxed(&[OUTBOX, RECORDS, CONFLICTS, LEASES])?;
        let (settlement, _) = self.settle_in(&tx, None, steps, now_ms).await?;
        commit(tx).await?;
        Ok(settlement)
    }

    async fn settle_then_take(
        &self,
        steps: Vec<Step>,
        now_ms: u64,
        limit: usize,
        beside_push: bool,
    ) -> Result<(Settlement, Vec<OutboxEvent>), StoreError> {
        if steps.is_empty() {
            return Ok((Settlement::default(), self.take_batch(now_ms, limit).await?));
        }
        if !beside_push {
            // The drain's last look: the take sees every outcome written,
            // its reads sent after the settlement's writes (IndexedDB answers
            // a transaction's requests in order), with the leases as the
            // settlement left them.
            self.after_saves().await;
            let tx = self.write_relaxed(&[OUTBOX, RECORDS, CONFLICTS, LEASES])?;
            let (settlement, leases) = self.settle_in(&tx, None, steps, now_ms).await?;
            let batch = self.take_in(&tx, Some(leases), now_ms, limit).await?;
            commit(tx).await?;
            return Ok((settlement, batch));
        }
        // Beside a push: one transaction, relaxed as each would be. The
        // leases are read first; then the settlement and the take run side by side, so the
        // take's reads go before the settlement's writes (IndexedDB answers
        // a transaction's requests in order) and its rows are decoded while
        // the records are written. The take sees the outbox as it was before
        // the settlement: the settled events are still this drainer's
        // (leased), so it skips them and holds back their records, as it
        // does the batch on its way; an event the settlement puts back is
        // taken by a later take (docs/design.md, "The drain's rounds").
        self.after_saves().await;
        let tx = self.write_relaxed(&[OUTBOX, RECORDS, CONFLICTS, LEASES])?;
        let leases = leases_of(&tx).await?;
        let (settled, batch) = join(
            self.settle_in(&tx, Some(leases.clone()), steps, now_ms),
            self.take_in(&tx, Some(leases), now_ms, limit),
        )
        .await;
        let ((settlement, _), batch) = (settled?, batch?);
        commit(tx).await?;
        Ok((settlement, batch))
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
        let tx = self.write(&[OUTBOX, LEASES])?;
        let changed = {
            let outbox = tx.object_store(OUTBOX)?;
            let leases = leases_of(&tx).await?;
            // Seqs first, events one at a time: a long queue is never all in memory.
            let due = |e: &OutboxEvent| {
                let mut shown = e.clone();
                leases.show(&mut shown);
                needs_retry_now(&shown, include_failed)
            };
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
        let tx = self.write(&[OUTBOX, RECORDS, CONFLICTS, LEASES])?;
        {
            let outbox = tx.object_store(OUTBOX)?;
            let leases = leases_of(&tx).await?;
            let mut event = ops::find_event(&outbox, event_id)
                .await?
                .ok_or_else(|| not_found(event_id))?;
            leases.show(&mut event);
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
        let tx = self.read(&[OUTBOX, LEASES])?;
        let leases = leases_of(&tx).await?;
        let events = ops::unsent_of(&tx.object_store(OUTBOX)?, key).await?;
        commit(tx).await?;
        Ok(leases.shown(events))
    }

    async fn unsent_events_of(
        &self,
        keys: &[RecordKey],
    ) -> Result<Vec<Vec<OutboxEvent>>, StoreError> {
        let tx = self.read(&[OUTBOX, LEASES])?;
        let leases = leases_of(&tx).await?;
        let all = { ops::unsent_of_each(&store(&tx, OUTBOX)?, keys).await? };
        commit(tx).await?;
        Ok(all.into_iter().map(|events| leases.shown(events)).collect())
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
        let tx = self.read_direct(&[RECORDS, OUTBOX, LEASES])?;
        let found = super::idb_query::scan(&tx, index, range, backwards, limit).await?;
        Ok(found)
    }
}

/// Marks one event synced and folds it into its record's base, within the
/// transaction the two stores belong to.
async fn confirm_event(
    outbox: &ObjectStore<'_>,
    records: &ObjectStore<'_>,
    leases: &Leases,
    event_id: Uuid,
    server_version: Option<u64>,
    now_ms: u64,
) -> Result<OutboxEvent, StoreError> {
    let mut event = ops::find_event(outbox, event_id)
        .await?
        .ok_or_else(|| not_found(event_id))?;
    leases.show(&mut event);
    event.mark_synced(now_ms)?;
    ops::put_event(outbox, &event)?;
    let key = event.record_key();
    if let Some(mut record) = ops::get_record(records, &key).await? {
        let unconfirmed = leases.shown(ops::unsent_of(outbox, &key).await?);
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
    leases: &Leases,
    confirmed: &[(Uuid, Option<u64>)],
    now_ms: u64,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let ids: Vec<Uuid> = confirmed.iter().map(|(id, _)| *id).collect();
    let found = ops::find_events(outbox.as_sys(), &ids).await?;
    let mut completed = Vec::with_capacity(confirmed.len());
    for ((event_id, server_version), event) in confirmed.iter().zip(found) {
        let mut event = event.ok_or_else(|| not_found(*event_id))?;
        leases.show(&mut event);
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
                confirm_event(
                    outbox,
                    records,
                    leases,
                    event.event_id,
                    server_version,
                    now_ms,
                )
                .await?,
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
