//! The embedded SQLite store: one writer connection (so versions commit in
//! order) and one reader connection, in WAL mode.

mod audit;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use outbox_sync_protocol::Record;
use rusqlite::{
    params, Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior,
};
use sha2::{Digest, Sha256};

use super::rows::{self, Decided};
use super::schema::STEPS;
use super::{Applied, ApplyRequest, Changes, Expired, Store, StoreError};
use crate::apply::State;

/// Records, keys and horizons in one SQLite file.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    epoch: String,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`. With `durable`,
    /// every commit is flushed to disk before it is acknowledged.
    pub fn open(path: &Path, durable: bool) -> Result<Self, StoreError> {
        let writer = connect(path, durable)?;
        for step in STEPS {
            writer.execute_batch(step).map_err(other)?;
        }
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
        let reader = connect(path, durable)?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            epoch,
        })
    }
}

fn connect(path: &Path, durable: bool) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(other)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(other)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(other)?;
    conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })
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

fn lock(mutex: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave a transaction open
    // (rusqlite rolls back on drop), so the connection is still sound.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn load(
    tx: &Transaction<'_>,
    user: &str,
    collection: &str,
    record_id: &str,
) -> Result<Option<State>, StoreError> {
    let row = tx
        .query_row(
            "SELECT version, deleted, data, field_versions FROM records
             WHERE user_id = ?1 AND collection = ?2 AND record_id = ?3",
            params![user, collection, record_id],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            },
        )
        .optional()
        .map_err(other)?;
    row.map(|(version, deleted, data, fields)| {
        rows::state_of(version, deleted != 0, &data, &fields)
    })
    .transpose()
}

impl Store for SqliteStore {
    fn apply(&self, request: &ApplyRequest<'_>) -> Result<Applied, StoreError> {
        let event = request.event;
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(other)?;
        if let Some(key) = request.key {
            let seen: Option<(String, String)> = tx
                .query_row(
                    "SELECT request_hash, outcome FROM idempotency WHERE user_id = ?1 AND idem_key = ?2",
                    params![request.user, key],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(other)?;
            if let Some((hash, outcome)) = seen {
                return rows::replay(request, &hash, &outcome);
            }
        }
        let current = load(&tx, request.user, &event.collection, &event.record_id)?;
        let seq: i64 = tx
            .query_row("SELECT value FROM counters WHERE name = 'seq'", [], |row| {
                row.get(0)
            })
            .map_err(other)?;
        let next = seq as u64 + 1;
        let decided = rows::decide(request, current.as_ref(), next);
        if let Decided::Apply { state, .. } = &decided {
            tx.execute(
                "UPDATE counters SET value = ?1 WHERE name = 'seq'",
                params![next as i64],
            )
            .map_err(other)?;
            let (data, fields) = rows::columns_of(state)?;
            tx.execute(
                "INSERT INTO records
                    (user_id, collection, record_id, version, deleted, data, field_versions, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (user_id, collection, record_id) DO UPDATE SET
                    version = excluded.version, deleted = excluded.deleted, data = excluded.data,
                    field_versions = excluded.field_versions, updated_at = excluded.updated_at",
                params![
                    request.user,
                    event.collection,
                    event.record_id,
                    next as i64,
                    i64::from(state.deleted),
                    data,
                    fields,
                    request.now_ms
                ],
            )
            .map_err(other)?;
        }
        let outcome = decided.outcome();
        audit::append(&tx, &crate::audit::row(request, outcome))?;
        if let Some(key) = request.key {
            let stored = rows::outcome_column(outcome)?;
            tx.execute(
                "INSERT INTO idempotency (user_id, idem_key, request_hash, outcome, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    request.user,
                    key,
                    request.request_hash,
                    stored,
                    request.now_ms
                ],
            )
            .map_err(other)?;
        }
        tx.commit().map_err(other)?;
        Ok(Applied::Fresh(outcome.clone()))
    }

    fn get(
        &self,
        user: &str,
        collection: &str,
        record_id: &str,
    ) -> Result<Option<Record>, StoreError> {
        let mut conn = lock(&self.reader);
        let tx = conn.transaction().map_err(other)?;
        let state = load(&tx, user, collection, record_id)?;
        Ok(state.map(|state| rows::record_of(collection, record_id, &state)))
    }

    fn changes(&self, user: &str, since: Option<u64>, limit: usize) -> Result<Changes, StoreError> {
        let mut conn = lock(&self.reader);
        let tx = conn.transaction().map_err(other)?;
        let position = since.unwrap_or(0);
        if since.is_some() {
            let horizon: Option<i64> = tx
                .query_row(
                    "SELECT seq FROM horizons WHERE user_id = ?1",
                    params![user],
                    |row| row.get(0),
                )
                .optional()
                .map_err(other)?;
            if horizon.is_some_and(|h| position < h as u64) {
                return Ok(Changes::Gone);
            }
        }
        let mut statement = tx
            .prepare(
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
        let mut records = Vec::new();
        for row in rows {
            let (collection, record_id, version, deleted, data) = row.map_err(other)?;
            records.push(rows::change_of(
                collection,
                record_id,
                version,
                deleted != 0,
                &data,
            )?);
        }
        Ok(rows::page(records, limit, position))
    }

    fn expire(
        &self,
        keys_before_ms: i64,
        tombstones_before_ms: i64,
    ) -> Result<Expired, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(other)?;
        let keys = tx
            .execute(
                "DELETE FROM idempotency WHERE created_at < ?1",
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

    fn epoch(&self) -> &str {
        &self.epoch
    }
}
