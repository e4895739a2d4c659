//! The audit trail on PostgreSQL: the row an apply transaction appends
//! (one prepared statement, one round trip), the reads and the expiry.

use postgres::{Row, Statement, Transaction};

use super::connect::Conn;
use super::errors::Fault;
use super::PostgresStore;
use crate::audit::{self, AuditTrail, Entry, NewRow, Page, COLUMNS};
use crate::store::StoreError;

/// The statement [`append`] runs: `(user, event_id or NULL, collection,
/// record_id, version or NULL, op, outcome, at_ms)`; takes the next id from
/// the `audit` counter. Apply transactions hold the `seq` row lock, so ids
/// follow commit order.
pub const APPEND: &str = "WITH n AS (
        UPDATE counters SET value = value + 1 WHERE name = 'audit' RETURNING value
     )
     INSERT INTO audit (id, user_id, event_id, collection, record_id, version, op, outcome, at_ms)
     SELECT n.value, $1, $2, $3, $4, $5, $6, $7, $8 FROM n";

/// Appends `row` inside the apply transaction `tx` with the prepared
/// [`APPEND`] statement.
pub fn append(
    tx: &mut Transaction<'_>,
    statement: &Statement,
    row: &NewRow<'_>,
) -> Result<(), Fault> {
    tx.execute(
        statement,
        &[
            &row.user,
            &row.event_id,
            &row.collection,
            &row.record_id,
            &row.version,
            &row.op,
            &row.outcome,
            &row.at_ms,
        ],
    )?;
    Ok(())
}

fn entry_of(row: &Row) -> Entry {
    Entry {
        id: row.get::<_, i64>(0) as u64,
        user: row.get(1),
        event_id: row.get(2),
        collection: row.get(3),
        record_id: row.get(4),
        version: row.get::<_, Option<i64>>(5).map(|v| v as u64),
        op: row.get(6),
        outcome: row.get(7),
        at_ms: row.get(8),
    }
}

impl AuditTrail for PostgresStore {
    fn history(
        &self,
        user: &str,
        collection: &str,
        record_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit_plus_one = (limit + 1) as i64;
        self.run(true, |conn: &mut Conn| {
            let rows = conn.client.query(
                &format!(
                    "SELECT {COLUMNS} FROM audit
                     WHERE user_id = $1 AND collection = $2 AND record_id = $3 AND id > $4
                     ORDER BY id LIMIT $5"
                ),
                &[&user, &collection, &record_id, &after, &limit_plus_one],
            )?;
            Ok(audit::page(rows.iter().map(entry_of).collect(), limit))
        })
    }

    fn find_event(&self, event_id: &str, user: Option<&str>) -> Result<Vec<Entry>, StoreError> {
        self.run(true, |conn: &mut Conn| {
            let rows = conn.client.query(
                &format!(
                    "SELECT {COLUMNS} FROM audit
                     WHERE event_id = $1 AND ($2::text IS NULL OR user_id = $2) ORDER BY id"
                ),
                &[&event_id, &user],
            )?;
            Ok(rows.iter().map(entry_of).collect())
        })
    }

    fn expire_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.run(true, |conn: &mut Conn| {
            Ok(conn
                .client
                .execute("DELETE FROM audit WHERE at_ms < $1", &[&before_ms])?)
        })
    }
}
