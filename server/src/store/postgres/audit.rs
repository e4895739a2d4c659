//! The audit trail on PostgreSQL: the rows an apply transaction appends
//! (in the same statement as its records and keys, one round trip), the
//! reads and the expiry.

use postgres::Row;

use super::connect::Conn;
use super::PostgresStore;
use crate::audit::{self, AuditTrail, Entry, NewRow, Page, COLUMNS};
use crate::store::schema::find_event_sql;
use crate::store::StoreError;

/// The part of the apply transaction's write statement
/// ([`super::connect::WRITE_ALL`]) that appends a batch's audit rows:
/// `$12..$19` are [`Columns`] (one array element per row); it takes the
/// next ids from the `audit` counter in the same statement and returns
/// each row's `id, event_id` as `audited` (the keys name their row). Apply
/// transactions hold the `seq` row lock, so ids follow commit order.
pub const APPEND_ALL: &str = "rows AS (
        SELECT * FROM unnest($12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[],
                             $17::text[], $18::text[], $19::bigint[]) WITH ORDINALITY
            AS x(user_id, event_id, collection, record_id, version, op, outcome, at_ms, n)
     ), counter AS (
        UPDATE counters SET value = value + (SELECT COUNT(*) FROM rows)
        WHERE name = 'audit' RETURNING value
     ), audited AS (
        INSERT INTO audit (id, user_id, event_id, collection, record_id, version, op, outcome, at_ms)
        SELECT counter.value - (SELECT COUNT(*) FROM rows) + rows.n,
               rows.user_id, rows.event_id, rows.collection, rows.record_id, rows.version,
               rows.op, rows.outcome, rows.at_ms
        FROM rows, counter
        RETURNING id, event_id
     )";

/// A batch's audit rows as the arrays [`APPEND_ALL`] takes (`event_id`
/// and `version` may be NULL).
pub struct Columns {
    pub users: Vec<Option<String>>,
    pub event_ids: Vec<Option<String>>,
    pub collections: Vec<Option<String>>,
    pub record_ids: Vec<Option<String>>,
    pub versions: Vec<Option<i64>>,
    pub ops: Vec<Option<String>>,
    pub outcomes: Vec<Option<String>>,
    pub at_ms: Vec<i64>,
}

impl Columns {
    /// The columns of `rows`, in order.
    pub fn of(rows: &[NewRow<'_>]) -> Columns {
        let column = |f: fn(&NewRow<'_>) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
        Columns {
            users: column(|r| Some(r.user.to_owned())),
            event_ids: column(|r| r.event_id.map(str::to_owned)),
            collections: column(|r| Some(r.collection.to_owned())),
            record_ids: column(|r| Some(r.record_id.to_owned())),
            versions: rows.iter().map(|r| r.version).collect(),
            ops: column(|r| Some(r.op.to_owned())),
            outcomes: column(|r| Some(r.outcome.to_owned())),
            at_ms: rows.iter().map(|r| r.at_ms).collect(),
        }
    }
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
                &find_event_sql(COLUMNS, "$1", "$2::text"),
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
