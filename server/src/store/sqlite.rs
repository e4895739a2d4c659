//! The embedded SQLite store: one writer connection (so versions commit in
//! order) and a few reader connections ([`readers`]), in WAL mode.
//!
//! The writer lives on its own thread. Requests queue their batches; the
//! thread takes every batch waiting, applies them in ONE transaction (each
//! event with its own outcome; a batch that fails is rolled back alone, see
//! `commit_group`) and commits once:
//! **group commit**. While one commit is being flushed the next group
//! gathers, so concurrent pushes share a flush and a durable commit costs
//! one `fsync` per group rather than per event. The `seq` and `audit`
//! counters are read once per group and written once at its end.
//! Statements are prepared once and cached on the connection. Async callers
//! get their answer straight from the writer (`apply_queued`). A thread of
//! its own checkpoints the log, so commits do not (`sqlite/checkpoint.rs`).

mod audit;
mod checkpoint;
mod readers;

use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use outbox_sync_protocol::Record;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

pub use self::checkpoint::writer_checkpoints;
use self::checkpoint::{Checkpointer, Restart, Wake};
use self::readers::{Readers, READERS};
use super::rows::{self, Decided};
use super::schema::{KEYS_EXPIRED_BEFORE, STEPS};
use super::{Applied, ApplyRequest, Batch, Changes, Expired, Queued, Since, Store, StoreError};
use crate::apply::State;

/// Most events one group commit takes; more wait for the next group, so a
/// flood of pushes cannot make one transaction (and its answers) huge.
const MAX_GROUP_EVENTS: usize = 10_000;

/// The writer's page cache, in KiB (at most this much memory).
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// Each reader's page cache, in KiB.
const READER_CACHE_KIB: i64 = 16 * 1024;

/// What the writer answers for one batch.
type Answer = Result<Vec<Applied>, StoreError>;

/// Where the writer sends a batch's answer: to a thread blocked on it, or
/// to an async task (which then needs no thread of tokio's blocking pool).
enum Reply {
    Blocking(SyncSender<Answer>),
    Async(oneshot::Sender<Answer>),
}

impl Reply {
    fn send(self, answer: Answer) {
        // The asker may have gone (a request cancelled): nothing to do.
        let _ = match self {
            Reply::Blocking(sender) => sender.send(answer).ok(),
            Reply::Async(sender) => sender.send(answer).ok(),
        };
    }
}

/// Work for the writer thread.
enum Job {
    /// A batch to apply in the next group commit.
    Apply { batch: Arc<Batch>, reply: Reply },
    /// Anything else that writes (expiry), run alone between groups.
    Run(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// Records, keys and horizons in one SQLite file.
pub struct SqliteStore {
    /// `None` only while dropping.
    jobs: Option<Mutex<Sender<Job>>>,
    writer: Option<JoinHandle<()>>,
    readers: Readers,
    epoch: String,
    /// Copies the log into the database file beside the writer.
    _checkpointer: Checkpointer,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`. With `durable`,
    /// every commit is flushed to disk before it is acknowledged.
    pub fn open(path: &Path, durable: bool) -> Result<Self, StoreError> {
        let mut writer = connect(path, durable)?;
        migrate(&mut writer)?;
        let fresh_epoch = hex::encode(&random_bytes()[..8]);
        writer
            .execute(
                "INSERT INTO meta (name, value) VALUES ('epoch', ?1) ON CONFLICT (name) DO NOTHING",
                params![fresh_epoch],
            )
            .map_err(other)?;
        let epoch: String = writer
            .query_row("SELECT value FROM meta WHERE name = 'epoch'", [], |row| {
                row.get(0)
            })
            .map_err(other)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = connect(path, durable)?;
            reader
                .pragma_update(None, "cache_size", -READER_CACHE_KIB)
                .map_err(other)?;
            readers.push(reader);
        }
        // Page caches larger than SQLite's 2 MiB default: keys and audit
        // rows land on random pages of their indexes, and the writer
        // re-read a page from the OS for about every second page it wrote
        // under the load test (pread64 beside pwrite64, strace).
        writer
            .pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
            .map_err(other)?;
        // Commits leave checkpoints to the checkpoint thread, and restart
        // the log when it asks (see `checkpoint.rs`).
        checkpoint::install_fallback(&writer);
        let restart = Restart::default();
        let checkpointer = Checkpointer::start(connect(path, durable)?, path, restart.clone())?;
        let wake = checkpointer.wake();
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || write_loop(writer, queue, restart, wake))
            .map_err(|e| StoreError::Other(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            jobs: Some(Mutex::new(jobs)),
            writer: Some(thread),
            readers: Readers::new(readers),
            epoch,
            _checkpointer: checkpointer,
        })
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().expect("the queue lives until drop");
        lock(jobs).send(job).map_err(|_| stopped())
    }

    /// Runs `work` on the writer connection between two groups.
    fn run_on_writer<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Job::Run(Box::new(move |conn| {
            let _ = reply.send(work(conn));
        })))?;
        answer.recv().map_err(|_| stopped())?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue ends the writer after the jobs already queued.
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Runs the schema steps this database has not run yet, in one
/// transaction, and records how many ran in `PRAGMA user_version` (a
/// database made before it was kept reads 0 and reruns the first two
/// steps, which create only what is missing). Safe beside another process
/// opening the same file: the version is read under the write lock.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(other)?;
    let done: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(other)?;
    let known = STEPS.len() as i64;
    if done > known {
        return Err(StoreError::Other(format!(
            "the database was set up by a newer outbox-sync-server (schema version {done}; \
             this one knows up to {known}): run the newer server, or point --database at \
             another file"
        )));
    }
    if done == known {
        return Ok(());
    }
    for step in &STEPS[done as usize..] {
        tx.execute_batch(step).map_err(other)?;
    }
    tx.pragma_update(None, "user_version", known)
        .map_err(other)?;
    tx.commit().map_err(other)
}

fn stopped() -> StoreError {
    StoreError::Other("the SQLite writer thread stopped".to_owned())
}

/// The writer thread: one group commit per turn, built from every batch
/// waiting in the queue; between two turns, the log restart the
/// checkpoint thread asked for; after a commit that grew the log enough,
/// a ring of the checkpoint thread's bell.
fn write_loop(mut conn: Connection, queue: Receiver<Job>, restart: Restart, mut wake: Wake) {
    let mut next = queue.recv().ok();
    while let Some(job) = next.take() {
        if restart.take() {
            if let Err(error) = checkpoint::restart(&conn) {
                tracing::warn!(%error, "restarting the log failed; the checkpoint thread asks again");
            }
        }
        match job {
            Job::Run(work) => work(&mut conn),
            Job::Apply { batch, reply } => {
                let mut events = batch.writes.len();
                let mut group = vec![(batch, reply)];
                while events < MAX_GROUP_EVENTS {
                    match queue.try_recv() {
                        Ok(Job::Apply { batch, reply }) => {
                            events += batch.writes.len();
                            group.push((batch, reply));
                        }
                        Ok(run) => {
                            next = Some(run);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let batches: Vec<&Batch> = group.iter().map(|(batch, _)| batch.as_ref()).collect();
                let answers = commit_group(&mut conn, &batches);
                for ((_, reply), answer) in group.into_iter().zip(answers) {
                    reply.send(answer);
                }
                wake.after_commit();
            }
        }
        if next.is_none() {
            next = queue.recv().ok();
        }
    }
}

/// Applies `batches` in one transaction and commits once; returns one
/// answer per batch. A batch that fails is rolled back alone: the group is
/// first applied without savepoints ([`commit_together`]); only if a batch
/// of it fails is that transaction rolled back and the group applied again
/// with each batch in a savepoint of its own ([`commit_apart`]).
fn commit_group(conn: &mut Connection, batches: &[&Batch]) -> Vec<Answer> {
    commit_together(conn, batches).unwrap_or_else(|| commit_apart(conn, batches))
}

/// Every answer `error`, for a group whose transaction failed as a whole.
fn fail_all(batches: &[&Batch], error: StoreError) -> Vec<Answer> {
    batches.iter().map(|_| Err(error.clone())).collect()
}

/// The group in one transaction with no savepoint, so no page is copied
/// into a savepoint's journal (under the load test that was a tenth of
/// the writer's time). `None` when a batch of a group of several failed:
/// the transaction was rolled back and nothing of the group is stored. A
/// group of one batch that fails is answered with its error.
fn commit_together(conn: &mut Connection, batches: &[&Batch]) -> Option<Vec<Answer>> {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return Some(fail_all(batches, other(e))),
    };
    let start = match Counters::read(&tx) {
        Ok(counters) => counters,
        Err(e) => return Some(fail_all(batches, e)),
    };
    let mut counters = start;
    let mut answers = Vec::with_capacity(batches.len());
    for batch in batches {
        match apply_batch(&tx, batch, &mut counters) {
            Ok(applied) => answers.push(Ok(applied)),
            // Dropping the transaction rolls it back.
            Err(e) if batches.len() == 1 => return Some(vec![Err(e)]),
            Err(_) => return None,
        }
    }
    if let Err(e) = counters.write(&tx, start) {
        return Some(fail_all(batches, e));
    }
    Some(match tx.commit() {
        Ok(()) => answers,
        Err(e) => fail_all(batches, other(e)),
    })
}

/// The group in one transaction, each batch in its own savepoint: a batch
/// that fails is rolled back alone and answered with its error, the
/// others commit.
fn commit_apart(conn: &mut Connection, batches: &[&Batch]) -> Vec<Answer> {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return fail_all(batches, other(e)),
    };
    let start = match Counters::read(&tx) {
        Ok(counters) => counters,
        Err(e) => return fail_all(batches, e),
    };
    let mut counters = start;
    let mut answers = Vec::with_capacity(batches.len());
    for batch in batches {
        let before = counters;
        let answer = tx.savepoint().map_err(other).and_then(|savepoint| {
            let applied = apply_batch(&savepoint, batch, &mut counters)?;
            savepoint.commit().map_err(other)?;
            Ok(applied)
        });
        if answer.is_err() {
            // The savepoint rolled back when dropped.
            counters = before;
        }
        answers.push(answer);
    }
    if let Err(e) = counters.write(&tx, start) {
        return fail_all(batches, e);
    }
    match tx.commit() {
        Ok(()) => answers,
        Err(e) => fail_all(batches, other(e)),
    }
}

/// The push path's loop: each event of `batch` in order, on the open
/// transaction.
fn apply_batch(
    conn: &Connection,
    batch: &Batch,
    counters: &mut Counters,
) -> Result<Vec<Applied>, StoreError> {
    (0..batch.writes.len())
        .map(|index| apply_event(conn, &batch.request(index), counters))
        .collect()
}

/// The `seq` (last version handed out) and `audit` (last audit row)
/// counters of a group commit: read once at its start, advanced in memory
/// by each event, written once at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counters {
    seq: i64,
    audit: i64,
}

impl Counters {
    fn read(conn: &Connection) -> Result<Counters, StoreError> {
        let mut counters = Counters { seq: 0, audit: 0 };
        let mut select = conn
            .prepare_cached("SELECT name, value FROM counters WHERE name IN ('seq', 'audit')")
            .map_err(other)?;
        let mut rows = select.query([]).map_err(other)?;
        while let Some(row) = rows.next().map_err(other)? {
            let name: String = row.get(0).map_err(other)?;
            let value: i64 = row.get(1).map_err(other)?;
            match name.as_str() {
                "seq" => counters.seq = value,
                _ => counters.audit = value,
            }
        }
        Ok(counters)
    }

    /// Stores the counters that moved since `start`.
    fn write(&self, conn: &Connection, start: Counters) -> Result<(), StoreError> {
        let mut update = conn
            .prepare_cached("UPDATE counters SET value = ?2 WHERE name = ?1")
            .map_err(other)?;
        if self.seq != start.seq {
            update.execute(params!["seq", self.seq]).map_err(other)?;
        }
        if self.audit != start.audit {
            update
                .execute(params!["audit", self.audit])
                .map_err(other)?;
        }
        Ok(())
    }
}

/// Applies one event on `conn`, inside the caller's transaction: replays a
/// known key, or decides against the record, writes the change (taking the
/// next version from `seq`) and stores the key with its outcome. Every
/// write that belongs to the event goes here, in this transaction.
fn apply_event(
    conn: &Connection,
    request: &ApplyRequest<'_>,
    counters: &mut Counters,
) -> Result<Applied, StoreError> {
    let event = request.event;
    if let Some(key) = request.key {
        let seen: Option<(String, String)> = conn
            .prepare_cached(
                "SELECT request_hash, outcome FROM idempotency WHERE user_id = ?1 AND idem_key = ?2",
            )
            .and_then(|mut select| {
                select
                    .query_row(params![request.user, key], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()
            })
            .map_err(other)?;
        if let Some((hash, outcome)) = seen {
            return rows::replay(request, &hash, &outcome);
        }
    }
    let current = load(conn, request.user, &event.collection, &event.record_id)?;
    let next = counters.seq as u64 + 1;
    let decided = rows::decide(request, current.as_ref(), next);
    if let Decided::Apply { state, .. } = &decided {
        let (data, fields) = rows::columns_of(state)?;
        conn.prepare_cached(
            "INSERT INTO records
                (user_id, collection, record_id, version, deleted, data, field_versions, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (user_id, collection, record_id) DO UPDATE SET
                version = excluded.version, deleted = excluded.deleted, data = excluded.data,
                field_versions = excluded.field_versions, updated_at = excluded.updated_at",
        )
        .and_then(|mut upsert| {
            upsert.execute(params![
                request.user,
                event.collection,
                event.record_id,
                next as i64,
                i64::from(state.deleted),
                data,
                fields,
                request.now_ms
            ])
        })
        .map_err(other)?;
        counters.seq = next as i64;
    }
    let outcome = decided.into_outcome();
    audit::append(
        conn,
        counters.audit + 1,
        &crate::audit::row(request, &outcome),
    )?;
    counters.audit += 1;
    if let Some(key) = request.key {
        let stored = rows::outcome_column(&outcome)?;
        conn.prepare_cached(
            "INSERT INTO idempotency (user_id, idem_key, request_hash, outcome, created_at, audit_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                request.user,
                key,
                request.request_hash,
                stored,
                request.now_ms,
                counters.audit
            ])
        })
        .map_err(other)?;
    }
    Ok(Applied::Fresh(outcome))
}

fn connect(path: &Path, durable: bool) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(other)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(other)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(other)?;
    conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })
        .map_err(other)?;
    // A group commit's savepoints journal the pages they change: in
    // memory, not in a temporary file that spills to disk past 64 KiB.
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(other)?;
    Ok(conn)
}

fn random_bytes() -> [u8; 32] {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(now.as_nanos().to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update((&now as *const _ as usize).to_le_bytes());
    hasher.finalize().into()
}

fn other(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
        _ => StoreError::Other(error.to_string()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a transaction open
    // (rusqlite rolls back on drop), so the connection is still sound.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn load(
    conn: &Connection,
    user: &str,
    collection: &str,
    record_id: &str,
) -> Result<Option<State>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT version, deleted, data, field_versions FROM records
             WHERE user_id = ?1 AND collection = ?2 AND record_id = ?3",
        )
        .and_then(|mut select| {
            select
                .query_row(params![user, collection, record_id], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                })
                .optional()
        })
        .map_err(other)?;
    row.map(|(version, deleted, data, fields)| {
        rows::state_of(version, deleted != 0, &data, &fields)
    })
    .transpose()
}

impl Store for SqliteStore {
    fn apply(&self, batch: Arc<Batch>) -> Result<Vec<Applied>, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Job::Apply {
            batch,
            reply: Reply::Blocking(reply),
        })?;
        answer.recv().map_err(|_| stopped())?
    }

    fn apply_queued(&self, batch: Arc<Batch>) -> Option<Queued> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Apply {
            batch,
            reply: Reply::Async(reply),
        };
        // If the writer stopped, the reply is dropped with the job and the
        // receiver says so.
        let _ = self.send(job);
        Some(Box::pin(
            async move { answer.await.map_err(|_| stopped())? },
        ))
    }

    fn get(
        &self,
        user: &str,
        collection: &str,
        record_id: &str,
    ) -> Result<Option<Record>, StoreError> {
        let mut conn = self.readers.get();
        let tx = conn.transaction().map_err(other)?;
        let state = load(&tx, user, collection, record_id)?;
        Ok(state.map(|state| rows::record_of(collection, record_id, &state)))
    }

    fn changes(&self, user: &str, since: Since, limit: usize) -> Result<Changes, StoreError> {
        let mut conn = self.readers.get();
        let tx = conn.transaction().map_err(other)?;
        let position = since.position;
        let horizon: Option<i64> = tx
            .prepare_cached("SELECT seq FROM horizons WHERE user_id = ?1")
            .and_then(|mut s| s.query_row(params![user], |row| row.get(0)).optional())
            .map_err(other)?;
        let seq: i64 = tx
            .prepare_cached("SELECT value FROM counters WHERE name = 'seq'")
            .and_then(|mut s| s.query_row([], |row| row.get(0)))
            .map_err(other)?;
        if let Some(refused) = rows::refuse(since, horizon, seq) {
            return Ok(refused);
        }
        let mut statement = tx
            .prepare_cached(
                "SELECT collection, record_id, version, deleted, data FROM records
                 WHERE user_id = ?1 AND version > ?2 ORDER BY version LIMIT ?3",
            )
            .map_err(other)?;
        let rows = statement
            .query_map(params![user, position as i64, (limit + 1) as i64], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })
            .map_err(other)?;
        let stored = rows.collect::<Result<Vec<_>, _>>().map_err(other)?;
        // The snapshot ends here, before the rows are parsed: a reader
        // still on the log keeps the checkpoints from restarting it.
        drop(statement);
        drop(tx);
        let mut records = Vec::with_capacity(stored.len());
        for (collection, record_id, version, deleted, data) in stored {
            records.push(rows::change_of(
                collection,
                record_id,
                version,
                deleted != 0,
                &data,
            )?);
        }
        Ok(rows::page(records, limit, since, horizon))
    }

    fn expire(
        &self,
        keys_before_ms: i64,
        tombstones_before_ms: i64,
    ) -> Result<Expired, StoreError> {
        self.run_on_writer(move |conn| expire_on(conn, keys_before_ms, tombstones_before_ms))
    }

    fn references_blob(&self, user: &str, sha256: &str) -> Result<bool, StoreError> {
        let conn = self.readers.get();
        conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM records
                            WHERE user_id = ?1 AND deleted = 0 AND instr(data, ?2) > 0)",
        )
        .and_then(|mut select| select.query_row(params![user, sha256], |row| row.get(0)))
        .map_err(other)
    }

    fn epoch(&self) -> &str {
        &self.epoch
    }
}

fn expire_on(
    conn: &mut Connection,
    keys_before_ms: i64,
    tombstones_before_ms: i64,
) -> Result<Expired, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(other)?;
    let keys = tx
        .execute(
            "DELETE FROM idempotency WHERE created_at < ?1",
            params![keys_before_ms],
        )
        .map_err(other)?;
    // The audit rows of the keys just deleted are now found by a scan.
    tx.execute(
        &format!(
            "INSERT INTO meta (name, value) VALUES ('{KEYS_EXPIRED_BEFORE}', CAST(?1 AS TEXT))
             ON CONFLICT (name) DO UPDATE SET value = CAST(MAX(CAST(meta.value AS INTEGER),
                                                               CAST(excluded.value AS INTEGER)) AS TEXT)"
        ),
        params![keys_before_ms],
    )
    .map_err(other)?;
    tx.execute(
        "INSERT INTO horizons (user_id, seq)
         SELECT user_id, MAX(version) FROM records
         WHERE deleted = 1 AND updated_at < ?1 GROUP BY user_id
         ON CONFLICT (user_id) DO UPDATE SET
            seq = CASE WHEN excluded.seq > horizons.seq THEN excluded.seq ELSE horizons.seq END",
        params![tombstones_before_ms],
    )
    .map_err(other)?;
    let tombstones = tx
        .execute(
            "DELETE FROM records WHERE deleted = 1 AND updated_at < ?1",
            params![tombstones_before_ms],
        )
        .map_err(other)?;
    tx.commit().map_err(other)?;
    Ok(Expired {
        keys: keys as u64,
        tombstones: tombstones as u64,
        ..Expired::default()
    })
}

#[cfg(test)]
mod tests {
    use outbox_sync_protocol::{Event, Op, Outcome, Value};

    use super::*;
    use crate::config::Policy;
    use crate::store::Write;

    fn put(key: &str, record_id: &str) -> Write {
        Write {
            event: Event {
                event_id: key.to_owned(),
                collection: "items".to_owned(),
                record_id: record_id.to_owned(),
                op: Op::Put,
                base_version: None,
                payload: Value::Object(
                    [("k".to_owned(), Value::String(key.to_owned()))]
                        .into_iter()
                        .collect(),
                ),
            },
            key: Some(key.to_owned()),
            request_hash: format!("hash-{key}"),
            policy: Policy::Lww,
        }
    }

    fn batch(writes: Vec<Write>) -> Batch {
        Batch {
            user: "alice".to_owned(),
            writes,
            now_ms: 1,
        }
    }

    fn versions(answer: &Result<Vec<Applied>, StoreError>) -> Vec<u64> {
        let applied = answer.as_ref().expect("applied");
        applied
            .iter()
            .map(|a| match a {
                Applied::Fresh(Outcome::Applied { version, .. }) => *version,
                other => panic!("expected a fresh apply, got {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_failing_batch_rolls_back_alone_and_the_group_commits_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        drop(SqliteStore::open(&path, false).unwrap());
        let mut conn = connect(&path, false).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON records WHEN NEW.record_id = 'boom'
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
        let first = batch(vec![put("k1", "a"), put("k2", "b")]);
        let failing = batch(vec![put("k3", "c"), put("k4", "boom")]);
        let last = batch(vec![put("k5", "d"), put("k1", "a")]);
        let answers = commit_group(&mut conn, &[&first, &failing, &last]);
        assert_eq!(versions(&answers[0]), [1, 2]);
        assert!(answers[1].is_err(), "{:?}", answers[1]);
        let last_answers = answers[2].as_ref().unwrap();
        assert!(matches!(
            &last_answers[0],
            Applied::Fresh(Outcome::Applied { version: 3, .. })
        ));
        assert!(
            matches!(&last_answers[1], Applied::Replayed(_)),
            "a key applied earlier in the same group is a duplicate"
        );
        let count = |conn: &Connection, sql: &str| -> i64 {
            conn.query_row(sql, [], |row| row.get(0)).unwrap()
        };
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM records WHERE record_id = 'c'"),
            0
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM idempotency WHERE idem_key = 'k3'"
            ),
            0
        );
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM records"), 3);
        assert_eq!(
            count(&conn, "SELECT value FROM counters WHERE name = 'seq'"),
            3
        );
        // One audit row per fresh decision, numbered 1..=3 from the counter
        // read once for the group; the rolled-back batch took its rows along.
        assert_eq!(
            count(&conn, "SELECT value FROM counters WHERE name = 'audit'"),
            3
        );
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM audit WHERE id BETWEEN 1 AND 3"),
            3
        );

        // A group of one batch (no savepoint) that fails leaves nothing.
        let alone = batch(vec![put("k6", "e"), put("k7", "boom")]);
        let answers = commit_group(&mut conn, &[&alone]);
        assert!(answers[0].is_err(), "{:?}", answers[0]);
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM idempotency WHERE idem_key = 'k6'"
            ),
            0
        );
        assert_eq!(
            count(&conn, "SELECT value FROM counters WHERE name = 'seq'"),
            3
        );
        assert_eq!(
            count(&conn, "SELECT value FROM counters WHERE name = 'audit'"),
            3
        );
        let next = batch(vec![put("k8", "f")]);
        assert_eq!(versions(&commit_group(&mut conn, &[&next])[0]), [4]);
        assert_eq!(count(&conn, "SELECT MAX(id) FROM audit"), 4);
    }

    /// The plan SQLite picks for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let mut bound = statement.raw_query();
        let mut lines = Vec::new();
        while let Some(row) = bound.next().unwrap() {
            lines.push(row.get::<_, String>(3).unwrap());
        }
        lines.join("\n")
    }

    #[test]
    fn the_audit_step_keeps_every_row_and_every_answer_of_a_database_made_before_it() {
        use crate::audit::AuditTrail;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        // A database as the servers before step 3 left it: steps 1 and 2,
        // user_version 0, with keys, audit rows, an unkeyed row, a row whose
        // key expired and the same event id sent by two users.
        {
            let old = connect(&path, false).unwrap();
            for step in &STEPS[..2] {
                old.execute_batch(step).unwrap();
            }
            old.execute_batch(
                "INSERT INTO meta (name, value) VALUES ('epoch', 'e0');
                 INSERT INTO idempotency VALUES ('alice', 'k1', 'h1', 'o1', 100);
                 INSERT INTO idempotency VALUES ('alice', 'k2', 'h2', 'o2', 200);
                 INSERT INTO idempotency VALUES ('bob', 'k2', 'h3', 'o3', 300);
                 INSERT INTO audit VALUES (1, 'alice', 'k0', 'items', 'a', 1, 'put', 'applied', 50);
                 INSERT INTO audit VALUES (2, 'alice', 'k1', 'items', 'a', 2, 'put', 'applied', 100);
                 INSERT INTO audit VALUES (3, 'alice', NULL, 'items', 'b', 3, 'put', 'applied', 150);
                 INSERT INTO audit VALUES (4, 'alice', 'k2', 'items', 'a', 2, 'patch', 'conflict', 200);
                 INSERT INTO audit VALUES (5, 'bob', 'k2', 'items', 'a', 4, 'put', 'applied', 300);
                 UPDATE counters SET value = 5 WHERE name = 'audit';
                 UPDATE counters SET value = 4 WHERE name = 'seq';",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path, false).unwrap();
        assert_eq!(store.epoch(), "e0");
        let ids = |entries: Vec<crate::audit::Entry>| -> Vec<u64> {
            entries.iter().map(|e| e.id).collect()
        };
        // The same answers the removed index gave.
        assert_eq!(
            ids(store.find_event("k0", None).unwrap()),
            [1],
            "key expired"
        );
        assert_eq!(ids(store.find_event("k1", Some("alice")).unwrap()), [2]);
        assert_eq!(ids(store.find_event("k2", None).unwrap()), [4, 5]);
        assert_eq!(ids(store.find_event("k2", Some("bob")).unwrap()), [5]);
        assert!(store.find_event("k9", None).unwrap().is_empty());
        let history = store.history("alice", "items", "a", 0, 10).unwrap();
        assert_eq!(ids(history.entries), [1, 2, 4]);
        let whole = store.find_event("k2", Some("alice")).unwrap();
        assert_eq!(
            (
                whole[0].op.as_str(),
                whole[0].outcome.as_str(),
                whole[0].version,
                whole[0].at_ms
            ),
            ("patch", "conflict", Some(2), 200)
        );
        // A migrated key is still known (sent again with another body it
        // is refused), and new events number on from the counter, found
        // through their key.
        let reused = batch(vec![put("k1", "a")]);
        let answer = store.apply(Arc::new(reused)).unwrap();
        assert!(matches!(&answer[0], Applied::KeyReused), "{answer:?}");
        let fresh = store.apply(Arc::new(batch(vec![put("k3", "c")]))).unwrap();
        assert!(matches!(
            &fresh[0],
            Applied::Fresh(Outcome::Applied { version: 5, .. })
        ));
        assert_eq!(ids(store.find_event("k3", None).unwrap()), [6]);
        // Once its key expires, a row is found by the scan.
        store.expire(250, 0).unwrap();
        assert_eq!(ids(store.find_event("k1", None).unwrap()), [2]);
        assert_eq!(ids(store.find_event("k2", None).unwrap()), [4, 5]);
        drop(store);

        let conn = connect(&path, false).unwrap();
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |row| row.get(0)).unwrap() };
        assert_eq!(count("PRAGMA user_version"), STEPS.len() as i64);
        assert_eq!(count("SELECT COUNT(*) FROM audit"), 6);
        assert_eq!(
            count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_by_event'"),
            0
        );
        // `id` is the rowid: no index of its own.
        assert_eq!(
            count("SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'audit' AND type = 'index'"),
            2
        );
        // Every audit read is a search of an index, bar the rows older
        // than the last key expiry.
        let finding = plan(
            &conn,
            &crate::store::schema::find_event_sql(crate::audit::COLUMNS, "'k'", "NULL"),
        );
        assert!(
            finding.contains(
                "SEARCH idempotency USING INDEX sqlite_autoindex_idempotency_1 (idem_key=?)"
            ),
            "{finding}"
        );
        assert!(
            finding.contains("SEARCH audit USING INTEGER PRIMARY KEY"),
            "{finding}"
        );
        assert!(!finding.contains("SCAN idempotency"), "{finding}");
        let by_user = plan(
            &conn,
            "SELECT request_hash, outcome FROM idempotency WHERE user_id = 'u' AND idem_key = 'k'",
        );
        assert!(by_user.contains("(idem_key=? AND user_id=?)"), "{by_user}");
        let history = plan(
            &conn,
            "SELECT id FROM audit WHERE user_id = 'u' AND collection = 'c' AND record_id = 'r'
             AND id > 0 ORDER BY id LIMIT 5",
        );
        assert!(
            history.contains("USING COVERING INDEX audit_by_record")
                || history.contains("USING INDEX audit_by_record"),
            "{history}"
        );
        assert!(!history.contains("TEMP B-TREE"), "{history}");
        // Opening again runs nothing.
        drop(conn);
        drop(SqliteStore::open(&path, false).unwrap());
    }

    #[test]
    fn commits_reach_the_database_file_through_the_checkpoint_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let store = SqliteStore::open(&path, true).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        // About 2000 pages of records: past SQLite's own checkpoint size
        // (1000), below the writer's fallback, so only the thread copies them.
        let text = "x".repeat(4000);
        for round in 0..20 {
            let writes = (0..100)
                .map(|n| {
                    let mut write = put(&format!("k{round}-{n}"), &format!("r{round}-{n}"));
                    write.event.payload = Value::Object(
                        [("text".to_owned(), Value::String(text.clone()))]
                            .into_iter()
                            .collect(),
                    );
                    write
                })
                .collect();
            store.apply(Arc::new(batch(writes))).unwrap();
        }
        let wal = dir.path().join("db.sqlite3-wal");
        let logged = std::fs::metadata(&wal).unwrap().len();
        assert!(
            logged > 4 << 20,
            "the commits went to the log first ({logged} B)"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut size = before;
        while size < before + (4 << 20) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
            size = std::fs::metadata(&path).unwrap().len();
        }
        assert!(
            size >= before + (4 << 20),
            "the database file grew from {before} B to {size} B, not by the 8 MB committed"
        );
        // A checkpoint of its own now finds nothing left to copy.
        let conn = connect(&path, true).unwrap();
        let (pages, copied) = checkpoint::checkpoint(&conn).unwrap();
        assert_eq!(pages, copied, "every logged page is in the database file");
    }

    #[test]
    fn concurrent_batches_are_applied_once_with_contiguous_versions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("t.sqlite3"), true).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut all = Vec::new();
                    for round in 0..10 {
                        // Every thread also re-sends keys shared by all.
                        let writes = (0..20)
                            .map(|i| put(&format!("t{t}-r{round}-{i}"), &format!("r{i}")))
                            .chain([put(&format!("shared-{round}"), "s")])
                            .collect();
                        all.extend(store.apply(Arc::new(batch(writes))).unwrap());
                    }
                    all
                })
            })
            .collect();
        let mut fresh = Vec::new();
        let mut replayed = 0;
        for thread in threads {
            for applied in thread.join().unwrap() {
                match applied {
                    Applied::Fresh(Outcome::Applied { version, .. }) => fresh.push(version),
                    Applied::Replayed(_) => replayed += 1,
                    other => panic!("{other:?}"),
                }
            }
        }
        fresh.sort_unstable();
        assert_eq!(fresh, (1..=8 * 10 * 20 + 10).collect::<Vec<u64>>());
        assert_eq!(replayed, 7 * 10);
    }
}
