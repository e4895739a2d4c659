//! The PostgreSQL store: several server instances can share one database.
//!
//! Every write transaction first locks the single `seq` row of `counters`
//! (`SELECT … FOR UPDATE`, sent with the `BEGIN`), then decides and writes
//! each event, and moves `seq` once as it commits (five round trips for a
//! push, see [`apply_once`]). A transaction holds one push's events, or,
//! when requests of this instance wait for one another, the batches of
//! several (**group commit**, see [`Groups`]: one lock and one flushed
//! commit for all; a batch that fails is left out and the rest run again). That one row lock
//! serialises writers across all instances, so versions are taken and
//! committed in the same order: a pull never sees version N+1 while N is
//! still invisible, and never skips a change. Under the lock the
//! idempotency key is checked again (each statement of a READ COMMITTED
//! transaction sees every commit made before it started), so the same key
//! sent to two instances at once is applied once and the other gets the
//! stored outcome. Reads use one REPEATABLE READ snapshot, so a page and the
//! tombstone horizon it is checked against agree.

mod audit;
mod blobs;
mod connect;
mod errors;
mod tls;

/// The push's first statements, shared with the benchmark's PostgreSQL floor
/// (`examples/bench_push.rs`), so the floor runs exactly what the server runs.
pub use connect::{BEGIN_LOCKED, READ_BATCH};

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use outbox_sync_protocol::Record;
use postgres::IsolationLevel;
use r2d2::{Pool, PooledConnection};

use self::connect::{describe, Conn, LogErrors, Manager, Statements};
use self::errors::{classify, connection_lost, jitter, retryable, Fault};
use self::tls::Connector;
use super::rows::{self, Decided};
use super::schema::KEYS_EXPIRED_BEFORE;
use super::{Applied, ApplyRequest, Batch, Changes, Expired, Since, Store, StoreError};
use crate::apply::State;

pub use self::connect::redact;

/// How many times a transaction that PostgreSQL aborted (deadlock,
/// serialization failure) runs before the request answers `503`.
const ATTEMPTS: u32 = 5;

/// How long a request waits for a free pooled connection before `503`.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Records, keys and horizons in a PostgreSQL database.
pub struct PostgresStore {
    /// `None` only while dropping (see `Drop`).
    pool: Option<Pool<Manager>>,
    epoch: String,
    groups: Groups,
}

/// What a group commit answers for one batch.
type Answer = Result<Vec<Applied>, StoreError>;

impl PostgresStore {
    /// Connects to `url`, applies the missing migrations and keeps up to
    /// `pool_size` connections. TLS follows the URL's `sslmode`, trusting
    /// Mozilla's roots and the CA certificates in the PEM file `ca_file`.
    /// Blocking: call it outside async code (the server does so on tokio's
    /// blocking pool). The error says what failed.
    pub fn open(url: &str, pool_size: u32, ca_file: Option<&Path>) -> Result<Self, String> {
        let config = connect::config(url)?;
        let connector = Connector::new(ca_file)?;
        let mut client = connector.connect(&config).map_err(|e| {
            let hint = tls::hint(&e).unwrap_or_default();
            format!("cannot connect: {}{hint}", describe(&e))
        })?;
        let epoch = connect::migrate(&mut client)?;
        drop(client);
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(CHECKOUT_TIMEOUT)
            .error_handler(Box::new(LogErrors))
            .build(Manager::new(config, connector))
            .map_err(|e| format!("cannot start the connection pool: {e}"))?;
        Ok(PostgresStore {
            pool: Some(pool),
            epoch,
            groups: Groups::default(),
        })
    }

    fn connection(&self) -> Result<PooledConnection<Manager>, StoreError> {
        let pool = self.pool.as_ref().expect("the pool lives until drop");
        pool.get().map_err(|e| {
            tracing::warn!(error = %e, "no PostgreSQL connection free or reachable");
            StoreError::Busy
        })
    }

    /// Runs `work` on a pooled connection, again when PostgreSQL aborted
    /// the transaction for a reason that a new attempt can clear, and, if
    /// `repeatable` (running `work` twice does no harm), when the
    /// connection turned out to be lost (a database restart or failover
    /// leaves every pooled connection dead, each found on first use).
    fn run<T>(
        &self,
        repeatable: bool,
        mut work: impl FnMut(&mut Conn) -> Result<T, Fault>,
    ) -> Result<T, StoreError> {
        let mut aborted = 1;
        let mut lost = 0;
        loop {
            let mut conn = self.connection()?;
            let error = match work(&mut conn) {
                Ok(value) => return Ok(value),
                Err(Fault::Store(error)) => return Err(error),
                Err(Fault::Db(error)) => error,
            };
            if retryable(&error) && aborted < ATTEMPTS {
                tracing::debug!(error = %describe(&error), aborted, "transaction aborted; retrying");
                std::thread::sleep(Duration::from_millis(5 * u64::from(aborted)) + jitter());
                aborted += 1;
                continue;
            }
            let pool_size = self.pool.as_ref().map_or(1, Pool::max_size);
            conn.lost = connection_lost(&error);
            if repeatable && conn.lost && lost < pool_size {
                tracing::warn!(error = %describe(&error), "lost a PostgreSQL connection; retrying on another");
                lost += 1;
                continue;
            }
            return Err(classify(&error));
        }
    }
}

fn load(
    client: &mut postgres::Client,
    sql: &Statements,
    user: &str,
    collection: &str,
    record_id: &str,
) -> Result<Option<State>, Fault> {
    let row = client.query_opt(&sql.load, &[&user, &collection, &record_id])?;
    let Some(row) = row else {
        return Ok(None);
    };
    let deleted: i32 = row.get(1);
    let state = rows::state_of(row.get(0), deleted != 0, row.get(2), row.get(3))?;
    Ok(Some(state))
}

/// One attempt at applying a batch in one transaction, in five round trips
/// whatever its size: replays without a lock when every key is known
/// already (1); otherwise `BEGIN` with the `seq` lock (1, [`Locked::begin`]),
/// the batch's keys and records read in one statement (1), each event
/// decided in order ([`apply_event`]), what they changed, their keys and
/// their audit rows written in one statement ([`Pending::write`]: 1), and
/// `seq` moved with the `COMMIT` (1, [`Locked::commit`]).
fn apply_once(conn: &mut Conn, batch: &Batch) -> Result<Vec<Applied>, Fault> {
    let Conn { client, sql, .. } = conn;
    // A replay needs no lock: a stored key never changes.
    if let Some(replayed) = replay_all(client, sql, batch)? {
        return Ok(replayed);
    }
    let mut tx = Locked::begin(client)?;
    let mut seq = tx.start;
    let answers = apply_locked(tx.client(), sql, batch, &mut seq)?;
    tx.commit(seq)?;
    Ok(answers)
}

/// A transaction that holds the `seq` row lock, begun and committed with
/// one round trip each. Rolled back when dropped unfinished (an error left
/// it), so the pooled connection is clean for its next request.
struct Locked<'a> {
    client: &'a mut postgres::Client,
    /// `seq` when the lock was granted: the last version handed out.
    start: i64,
    open: bool,
}

impl<'a> Locked<'a> {
    /// `BEGIN` and the lock in one round trip ([`connect::BEGIN_LOCKED`]).
    fn begin(client: &'a mut postgres::Client) -> Result<Self, Fault> {
        let mut tx = Locked {
            client,
            start: 0,
            open: true,
        };
        let messages = tx.client.simple_query(connect::BEGIN_LOCKED)?;
        let value = messages.iter().find_map(|message| match message {
            postgres::SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        });
        tx.start = value.and_then(|v| v.parse().ok()).ok_or_else(|| {
            StoreError::Other("the seq counter is missing or not a number".into())
        })?;
        Ok(tx)
    }

    fn client(&mut self) -> &mut postgres::Client {
        self.client
    }

    /// Stores `seq` when it moved and commits, in one round trip. `seq` is
    /// a number, so it is written into the statement text (the simple
    /// query protocol takes no parameters).
    fn commit(mut self, seq: i64) -> Result<(), Fault> {
        let sql = if seq != self.start {
            format!("UPDATE counters SET value = {seq} WHERE name = 'seq'; COMMIT")
        } else {
            "COMMIT".to_owned()
        };
        self.client.batch_execute(&sql)?;
        self.open = false;
        Ok(())
    }

    fn rollback(mut self) -> Result<(), Fault> {
        self.open = false;
        self.client.batch_execute("ROLLBACK")?;
        Ok(())
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }
}

/// One attempt at a group commit: the batches of concurrent requests in
/// ONE transaction, so they share the `seq` lock and one flushed commit
/// (2 round trips for the group, 2 per batch that is not all replays).
/// No savepoints (each would cost two round trips per batch): when a
/// batch's events fail, the transaction is rolled back and run again
/// without that batch, which gets its error; the others are decided
/// afresh, in the same order, so the outcome is what savepoints would
/// give. An aborted transaction (deadlock, lost connection) fails the
/// attempt, which [`PostgresStore::run`] repeats.
fn apply_group(conn: &mut Conn, batches: &[&Batch]) -> Result<Vec<Answer>, Fault> {
    let Conn { client, sql, .. } = conn;
    let mut refused: Vec<Option<StoreError>> = vec![None; batches.len()];
    'attempt: loop {
        let mut tx = Locked::begin(client)?;
        let mut seq = tx.start;
        let mut answers = Vec::with_capacity(batches.len());
        for (index, batch) in batches.iter().enumerate() {
            if let Some(error) = &refused[index] {
                answers.push(Err(error.clone()));
                continue;
            }
            let error = match apply_locked(tx.client(), sql, batch, &mut seq) {
                Ok(applied) => {
                    answers.push(Ok(applied));
                    continue;
                }
                Err(Fault::Store(error)) => error,
                Err(Fault::Db(error)) if !retryable(&error) && !connection_lost(&error) => {
                    classify(&error)
                }
                Err(fault) => return Err(fault),
            };
            refused[index] = Some(error);
            tx.rollback()?;
            continue 'attempt;
        }
        tx.commit(seq)?;
        return Ok(answers);
    }
}

/// A batch's reads, decisions and writes inside a transaction that holds
/// the `seq` lock; `seq` is the last version handed out, moved by every
/// event applied (the caller stores it).
fn apply_locked(
    tx: &mut postgres::Client,
    sql: &Statements,
    batch: &Batch,
    seq: &mut i64,
) -> Result<Vec<Applied>, Fault> {
    // These run after the lock was granted, so they see every commit made
    // before: an instance that applied a key first, and each record as the
    // last writer left it.
    let mut pending = Pending::read(tx, sql, batch)?;
    let mut answers = Vec::with_capacity(batch.writes.len());
    let mut trail = Vec::new();
    for index in 0..batch.writes.len() {
        let request = batch.request(index);
        let applied = apply_event(&mut pending, &request, seq)?;
        if let Applied::Fresh(outcome) = &applied {
            trail.push(crate::audit::row(&request, outcome));
        }
        answers.push(applied);
    }
    pending.write(tx, sql, batch, &trail)?;
    Ok(answers)
}

/// The stored outcomes when every event of `batch` has a key seen before
/// (one round trip, no lock), or `None`.
fn replay_all(
    client: &mut postgres::Client,
    sql: &Statements,
    batch: &Batch,
) -> Result<Option<Vec<Applied>>, Fault> {
    let keys: Option<Vec<&str>> = batch.writes.iter().map(|w| w.key.as_deref()).collect();
    let Some(keys) = keys else {
        return Ok(None);
    };
    let rows = client.query(&sql.keys_of, &[&batch.user, &keys])?;
    let mut seen = HashMap::with_capacity(rows.len());
    for row in &rows {
        seen.insert(
            row.get::<_, &str>(0),
            (row.get::<_, &str>(1), row.get::<_, &str>(2)),
        );
    }
    let mut replayed = Vec::with_capacity(keys.len());
    for (index, key) in keys.iter().enumerate() {
        let Some((hash, outcome)) = seen.get(key) else {
            return Ok(None);
        };
        replayed.push(rows::replay(&batch.request(index), hash, outcome)?);
    }
    Ok(Some(replayed))
}

/// A batch's view of the database under the lock, and what its events
/// change: read before the events are decided, written after.
struct Pending {
    /// Key → (request hash, stored outcome): read, then added to.
    keys: HashMap<String, (String, String)>,
    /// (collection, record id) → the record now (`None`: none yet).
    records: HashMap<(String, String), Option<State>>,
    /// Records changed, each once, in the order first changed.
    changed: Vec<(String, String)>,
    /// The same, to tell whether a record was changed already.
    changed_ids: HashSet<(String, String)>,
    /// Keys to store, in order: (key, request hash, outcome).
    new_keys: Vec<(String, String, String)>,
}

impl Pending {
    /// Reads the batch's known keys and its records (1 round trip,
    /// [`connect::READ_BATCH`]).
    fn read(tx: &mut postgres::Client, sql: &Statements, batch: &Batch) -> Result<Pending, Fault> {
        let keys: Vec<&str> = batch
            .writes
            .iter()
            .filter_map(|w| w.key.as_deref())
            .collect();
        let collections: Vec<&str> = batch
            .writes
            .iter()
            .map(|w| w.event.collection.as_str())
            .collect();
        let record_ids: Vec<&str> = batch
            .writes
            .iter()
            .map(|w| w.event.record_id.as_str())
            .collect();
        let mut known = HashMap::with_capacity(keys.len());
        let mut records = HashMap::with_capacity(batch.writes.len());
        let rows = tx.query(
            &sql.read_batch,
            &[&batch.user, &keys, &collections, &record_ids],
        )?;
        for row in rows {
            let kind: i32 = row.get(0);
            if kind == 0 {
                known.insert(
                    row.get::<_, String>(1),
                    (row.get::<_, String>(2), row.get::<_, String>(3)),
                );
                continue;
            }
            let deleted: i32 = row.get(5);
            let state = rows::state_of(row.get(4), deleted != 0, row.get(3), row.get(6))?;
            records.insert(
                (row.get::<_, String>(1), row.get::<_, String>(2)),
                Some(state),
            );
        }
        Ok(Pending {
            keys: known,
            records,
            changed: Vec::new(),
            changed_ids: HashSet::new(),
            new_keys: Vec::new(),
        })
    }

    /// Writes every changed record, every new key and the batch's audit
    /// rows `trail` (1 round trip, none when the batch decided nothing).
    fn write(
        self,
        tx: &mut postgres::Client,
        sql: &Statements,
        batch: &Batch,
        trail: &[crate::audit::NewRow<'_>],
    ) -> Result<(), Fault> {
        if self.changed.is_empty() && self.new_keys.is_empty() && trail.is_empty() {
            return Ok(());
        }
        let mut columns = RecordColumns::default();
        for id in &self.changed {
            let Some(Some(state)) = self.records.get(id) else {
                continue;
            };
            let (data, fields) = rows::columns_of(state)?;
            columns.collections.push(id.0.as_str());
            columns.record_ids.push(id.1.as_str());
            columns.versions.push(state.version as i64);
            columns.deleted.push(i32::from(state.deleted));
            columns.data.push(data);
            columns.fields.push(fields);
        }
        let keys: Vec<&str> = self.new_keys.iter().map(|k| k.0.as_str()).collect();
        let hashes: Vec<&str> = self.new_keys.iter().map(|k| k.1.as_str()).collect();
        let outcomes: Vec<&str> = self.new_keys.iter().map(|k| k.2.as_str()).collect();
        let audit = audit::Columns::of(trail);
        tx.execute(
            &sql.write_all,
            &[
                &batch.user,
                &columns.collections,
                &columns.record_ids,
                &columns.versions,
                &columns.deleted,
                &columns.data,
                &columns.fields,
                &batch.now_ms,
                &keys,
                &hashes,
                &outcomes,
                &audit.users,
                &audit.event_ids,
                &audit.collections,
                &audit.record_ids,
                &audit.versions,
                &audit.ops,
                &audit.outcomes,
                &audit.at_ms,
            ],
        )?;
        Ok(())
    }
}

#[derive(Default)]
struct RecordColumns<'a> {
    collections: Vec<&'a str>,
    record_ids: Vec<&'a str>,
    versions: Vec<i64>,
    deleted: Vec<i32>,
    data: Vec<String>,
    fields: Vec<String>,
}

/// Decides one event against the batch's view (which holds every earlier
/// event's effects) and queues what it writes: the record at the next
/// version from `seq`, and its key with the outcome. Everything that
/// belongs to the event is queued here and written in the same transaction.
fn apply_event(
    pending: &mut Pending,
    request: &ApplyRequest<'_>,
    seq: &mut i64,
) -> Result<Applied, Fault> {
    let event = request.event;
    if let Some(key) = request.key {
        if let Some((hash, outcome)) = pending.keys.get(key) {
            return Ok(rows::replay(request, hash, outcome)?);
        }
    }
    let id = (event.collection.clone(), event.record_id.clone());
    let current = pending.records.get(&id).and_then(Option::as_ref);
    let next = *seq + 1;
    let decided = rows::decide(request, current, next as u64);
    let outcome = decided.outcome().clone();
    if let Decided::Apply { state, .. } = decided {
        if pending.changed_ids.insert(id.clone()) {
            pending.changed.push(id.clone());
        }
        pending.records.insert(id, Some(state));
        *seq = next;
    }
    if let Some(key) = request.key {
        let stored = rows::outcome_column(&outcome)?;
        pending.keys.insert(
            key.to_owned(),
            (request.request_hash.to_owned(), stored.clone()),
        );
        pending
            .new_keys
            .push((key.to_owned(), request.request_hash.to_owned(), stored));
    }
    Ok(Applied::Fresh(outcome))
}

fn changes_once(conn: &mut Conn, user: &str, since: Since, limit: usize) -> Result<Changes, Fault> {
    let Conn { client, sql, .. } = conn;
    // One snapshot for the horizon and the page: an expiry committing in
    // between cannot make the page skip purged tombstones.
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let position = since.position;
    let horizon: Option<i64> = tx.query_opt(&sql.horizon, &[&user])?.map(|row| row.get(0));
    let seq: i64 = tx.query_one(&sql.seq, &[])?.get(0);
    if let Some(refused) = rows::refuse(since, horizon, seq) {
        return Ok(refused);
    }
    let found = tx.query(
        &sql.page,
        &[&user, &(position as i64), &((limit + 1) as i64)],
    )?;
    tx.commit()?;
    let mut records = Vec::with_capacity(found.len());
    for row in &found {
        let deleted: i32 = row.get(3);
        records.push(rows::change_of(
            row.get(0),
            row.get(1),
            row.get(2),
            deleted != 0,
            row.get(4),
        )?);
    }
    Ok(rows::page(records, limit, since, horizon))
}

fn expire_once(
    conn: &mut Conn,
    keys_before_ms: i64,
    tombstones_before_ms: i64,
) -> Result<Expired, Fault> {
    let client = &mut conn.client;
    // Keys need no lock: a key is only ever read, or inserted once.
    // The cutoff moves in the same statement: the audit rows of the keys
    // deleted are then found by a scan (`schema::KEYS_EXPIRED_BEFORE`).
    let keys: i64 = client
        .query_one(
            &format!(
                "WITH gone AS (
                    DELETE FROM idempotency WHERE created_at < $1 RETURNING 1
                 ), cut AS (
                    INSERT INTO meta (name, value) VALUES ('{KEYS_EXPIRED_BEFORE}', $1::bigint::text)
                    ON CONFLICT (name) DO UPDATE SET value =
                        GREATEST(meta.value::bigint, excluded.value::bigint)::text
                 )
                 SELECT COUNT(*) FROM gone"
            ),
            &[&keys_before_ms],
        )?
        .get(0);
    let keys = keys as u64;
    // Tombstones go under the `seq` lock, so no write decides against a
    // tombstone that disappears before it commits. The horizon is computed
    // from exactly the rows deleted.
    let mut tx = client.transaction()?;
    tx.query_one(
        "SELECT value FROM counters WHERE name = 'seq' FOR UPDATE",
        &[],
    )?;
    let tombstones: i64 = tx
        .query_one(
            "WITH purged AS (
                DELETE FROM records WHERE deleted = 1 AND updated_at < $1
                RETURNING user_id, version
            ), moved AS (
                INSERT INTO horizons (user_id, seq)
                SELECT user_id, MAX(version) FROM purged GROUP BY user_id
                ON CONFLICT (user_id) DO UPDATE SET seq = GREATEST(horizons.seq, excluded.seq)
            )
            SELECT COUNT(*) FROM purged",
            &[&tombstones_before_ms],
        )?
        .get(0);
    tx.commit()?;
    Ok(Expired {
        keys,
        tombstones: tombstones as u64,
        ..Expired::default()
    })
}

impl PostgresStore {
    /// Applies `group` (taken from the queue by this thread, the group's
    /// leader) and sends every batch its answer.
    fn commit_group(&self, group: Vec<(Arc<Batch>, SyncSender<Answer>)>) {
        // With keys, a second run after a lost connection is safe: if the
        // first committed, the keys are found and their outcomes replayed.
        let repeatable = |batch: &Batch| batch.writes.iter().all(|write| write.key.is_some());
        let batches: Vec<&Batch> = group.iter().map(|(batch, _)| batch.as_ref()).collect();
        let answers = if let [batch] = batches[..] {
            vec![self.run(repeatable(batch), |conn| apply_once(conn, batch))]
        } else {
            let all_repeatable = batches.iter().all(|batch| repeatable(batch));
            self.run(all_repeatable, |conn| apply_group(conn, &batches))
                .unwrap_or_else(|error| batches.iter().map(|_| Err(error.clone())).collect())
        };
        for ((_, reply), answer) in group.into_iter().zip(answers) {
            let _ = reply.send(answer);
        }
    }
}

/// Batches of this instance's requests waiting for a group commit, and
/// whether one is running. Group commit without a thread of its own: the
/// request that finds no group running leads the next one (it takes every
/// batch waiting, up to [`MAX_GROUP_EVENTS`], its own included, and
/// answers them all); the others wait for their answer or their turn.
#[derive(Default)]
struct Groups {
    queue: Mutex<GroupQueue>,
    turn: Condvar,
}

#[derive(Default)]
struct GroupQueue {
    waiting: VecDeque<(Arc<Batch>, SyncSender<Answer>)>,
    running: bool,
}

/// Most events one group commit takes; more wait for the next group.
const MAX_GROUP_EVENTS: usize = 10_000;

/// Ends a leader's turn (also if the group panicked), waking the waiters.
struct Turn<'a>(&'a Groups);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        lock(&self.0.queue).running = false;
        self.0.turn.notify_all();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Store for PostgresStore {
    fn apply(&self, batch: Arc<Batch>) -> Result<Vec<Applied>, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let groups = &self.groups;
        let mut queue = lock(&groups.queue);
        queue.waiting.push_back((batch, reply));
        loop {
            if let Ok(answer) = answer.try_recv() {
                return answer;
            }
            if queue.running {
                queue = groups
                    .turn
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            // No group is running, so this batch is still waiting (a
            // group answers its batches before its turn ends): lead.
            queue.running = true;
            let mut events = 0;
            let mut group = Vec::new();
            while let Some((batch, _)) = queue.waiting.front() {
                if !group.is_empty() && events + batch.writes.len() > MAX_GROUP_EVENTS {
                    break;
                }
                events += batch.writes.len();
                group.extend(queue.waiting.pop_front());
            }
            drop(queue);
            let turn = Turn(groups);
            self.commit_group(group);
            drop(turn);
            queue = lock(&groups.queue);
        }
    }

    fn get(
        &self,
        user: &str,
        collection: &str,
        record_id: &str,
    ) -> Result<Option<Record>, StoreError> {
        self.run(true, |conn| {
            let Conn { client, sql, .. } = conn;
            let state = load(client, sql, user, collection, record_id)?;
            Ok(state.map(|state| rows::record_of(collection, record_id, &state)))
        })
    }

    fn changes(&self, user: &str, since: Since, limit: usize) -> Result<Changes, StoreError> {
        self.run(true, |conn| changes_once(conn, user, since, limit))
    }

    fn expire(
        &self,
        keys_before_ms: i64,
        tombstones_before_ms: i64,
    ) -> Result<Expired, StoreError> {
        self.run(true, |conn| {
            expire_once(conn, keys_before_ms, tombstones_before_ms)
        })
    }

    fn references_blob(&self, user: &str, sha256: &str) -> Result<bool, StoreError> {
        self.run(true, |conn| {
            let row = conn.client.query_one(
                "SELECT EXISTS (SELECT 1 FROM records
                                WHERE user_id = $1 AND deleted = 0 AND strpos(data, $2) > 0)",
                &[&user, &sha256],
            )?;
            Ok(row.get(0))
        })
    }

    fn epoch(&self) -> &str {
        &self.epoch
    }
}

impl Drop for PostgresStore {
    /// The sync client closes its connection by blocking on its own
    /// runtime, which panics inside async code; the last `Arc` of the store
    /// is often dropped there (a test's end, the server's shutdown), so the
    /// pool is closed on a plain thread.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let closing = std::thread::spawn(move || drop(pool));
            let _ = closing.join();
        }
    }
}
