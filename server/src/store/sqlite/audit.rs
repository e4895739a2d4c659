//! The audit trail on SQLite: the row an apply transaction appends, and
//! the reads (on the reader connection) and expiry (on the writer thread,
//! between group commits).

use rusqlite::{params, Connection, Row, TransactionBehavior};

use super::{other, SqliteStore};
use crate::audit::{self, AuditTrail, Entry, NewRow, Page, COLUMNS};
use crate::store::schema::find_event_sql;
use crate::store::StoreError;

/// Appends `row` on `conn` inside the apply transaction (a batch rolled
/// back, alone or with its group, takes its rows with it) as entry `id`:
/// the writer reads the `audit` counter once per group commit, numbers the
/// group's rows from it and writes it back once (it is the only writer, so
/// ids follow commit order).
pub fn append(conn: &Connection, id: i64, row: &NewRow<'_>) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit (id, user_id, event_id, collection, record_id, version, op, outcome, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            id,
            row.user,
            row.event_id,
            row.collection,
            row.record_id,
            row.version,
            row.op,
            row.outcome,
            row.at_ms
        ])
    })
    .map_err(other)?;
    Ok(())
}

fn entry_of(row: &Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: row.get::<_, i64>(0)? as u64,
        user: row.get(1)?,
        event_id: row.get(2)?,
        collection: row.get(3)?,
        record_id: row.get(4)?,
        version: row.get::<_, Option<i64>>(5)?.map(|v| v as u64),
        op: row.get(6)?,
        outcome: row.get(7)?,
        at_ms: row.get(8)?,
    })
}

impl AuditTrail for SqliteStore {
    fn history(
        &self,
        user: &str,
        collection: &str,
        record_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let conn = self.readers.get();
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM audit
                 WHERE user_id = ?1 AND collection = ?2 AND record_id = ?3 AND id > ?4
                 ORDER BY id LIMIT ?5"
            ))
            .map_err(other)?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let entries = statement
            .query_map(
                params![user, collection, record_id, after, (limit + 1) as i64],
                entry_of,
            )
            .map_err(other)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(other)?;
        Ok(audit::page(entries, limit))
    }

    fn find_event(&self, event_id: &str, user: Option<&str>) -> Result<Vec<Entry>, StoreError> {
        let conn = self.readers.get();
        let mut statement = conn
            .prepare_cached(&find_event_sql(COLUMNS, "?1", "?2"))
            .map_err(other)?;
        let entries = statement
            .query_map(params![event_id, user], entry_of)
            .map_err(other)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(other)?;
        Ok(entries)
    }

    fn expire_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.run_on_writer(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(other)?;
            let removed = tx
                .execute("DELETE FROM audit WHERE at_ms < ?1", params![before_ms])
                .map_err(other)?;
            tx.commit().map_err(other)?;
            Ok(removed as u64)
        })
    }
}
