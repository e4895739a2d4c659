//! Reaching PostgreSQL: the connection settings read from the URL, the
//! connection pool with each connection's prepared statements, and the
//! migrations run once at start.

use std::time::Duration;

use postgres::{Client, Config, Statement};

use super::tls::Connector;
use crate::store::schema::POSTGRES_STEPS;

/// Schema steps, applied in order; `schema_version` holds how many ran.
/// Append new steps (in `schema.rs`); never edit one that has shipped.
const MIGRATIONS: &[&str] = POSTGRES_STEPS;

/// Advisory lock key held while migrating, so instances starting together
/// do not create the same tables at once ("outbox-s" in ASCII).
const MIGRATION_LOCK: i64 = 0x6f75_7462_6f78_2d73;

/// A write waits this long for the `seq` row (or any lock) before the
/// request answers `503` with `Retry-After`.
const LOCK_TIMEOUT_MS: u32 = 5_000;

/// A session idle inside a transaction this long is ended by PostgreSQL, so
/// a stalled instance cannot hold the `seq` row and stop every writer.
const IDLE_IN_TRANSACTION_MS: u32 = 30_000;

/// The session's plan cache mode: every execution of a prepared statement
/// is planned with its parameters. With PostgreSQL's default (`auto`) a
/// statement's sixth execution may cache a generic plan for the life of the
/// connection; on a database that starts empty, as every new deployment
/// does, that plan is made while `idempotency` and `records` hold a few
/// rows and is a sequential scan, so looking a push's keys up then costs
/// more with every key stored (measured: from 0.1 ms to 40 ms per
/// 100-event push over the first 5000 keys, until autovacuum's ANALYZE
/// happened to invalidate it). Planning afresh costs about 0.1 ms a
/// statement. Set before the URL's `options`, so a deployment can override it.
const PLAN_CACHE_MODE: &str = "force_custom_plan";

/// Parses `url` (a `postgres://` URL or `key=value` pairs) and adds the
/// server's session settings: `plan_cache_mode` ([`PLAN_CACHE_MODE`]) before
/// the URL's `options`, so one given there wins, and the timeouts after
/// them, so a `lock_timeout` given there is overridden. `sslmode=verify-ca`
/// and `verify-full` are read as `require`, which always verifies the
/// certificate and the host name.
pub fn config(url: &str) -> Result<Config, String> {
    let url = url
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    let mut config: Config = url.parse().map_err(|e| {
        let hint = if url.contains("sslrootcert") {
            "; this server does not read sslrootcert: pass --database-ca-file (or \
             OUTBOX_SYNC_DATABASE_CA_FILE) with the CA's PEM file instead"
        } else {
            ""
        };
        format!("the URL is not valid: {e}{hint}")
    })?;
    let options = format!(
        "-c plan_cache_mode={PLAN_CACHE_MODE} {} -c lock_timeout={LOCK_TIMEOUT_MS} -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
        config.get_options().unwrap_or_default()
    );
    config.options(options.trim());
    if config.get_application_name().is_none() {
        config.application_name("outbox-sync-server");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

/// `url` with its password replaced by `***`, for logs and messages.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                return format!("{scheme}://{}:***{}", &rest[..colon], &rest[at..]);
            }
        }
        return url.to_owned();
    }
    // key=value form: hide the value of `password`.
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the missing migration steps and returns the database's epoch
/// (created on first use). Safe to run from several instances at once.
pub fn migrate(client: &mut Client) -> Result<String, String> {
    let fail = |e: postgres::Error| format!("setting up the tables failed: {}", describe(&e));
    let mut tx = client.transaction().map_err(fail)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(fail)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(fail)?;
    let done: Option<i32> = tx
        .query_one("SELECT MAX(version) FROM schema_version", &[])
        .map_err(fail)?
        .get(0);
    let done = done.unwrap_or(0);
    let known = MIGRATIONS.len() as i32;
    if done > known {
        return Err(format!(
            "the database was set up by a newer outbox-sync-server (schema version {done}; \
             this one knows up to {known}): run the newer server, or point --database-url \
             at another database"
        ));
    }
    for (step, sql) in (1..).zip(MIGRATIONS).skip(done as usize) {
        tx.batch_execute(sql).map_err(fail)?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&step])
            .map_err(fail)?;
    }
    tx.execute(
        "INSERT INTO meta (name, value)
         VALUES ('epoch', substr(md5(random()::text || clock_timestamp()::text), 1, 16))
         ON CONFLICT (name) DO NOTHING",
        &[],
    )
    .map_err(fail)?;
    let epoch: String = tx
        .query_one("SELECT value FROM meta WHERE name = 'epoch'", &[])
        .map_err(fail)?
        .get(0);
    tx.commit().map_err(fail)?;
    Ok(epoch)
}

/// A PostgreSQL error with the server's message when there is one.
pub fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// The statements every request uses, prepared once per connection so a
/// statement costs one round trip.
pub struct Statements {
    /// `(user, keys[])` → `idem_key, request_hash, outcome` of the known
    /// ones (the replay check, before any lock).
    pub keys_of: Statement,
    /// [`READ_BATCH`]: a batch's known keys and its records in one round
    /// trip; under the lock, it sees every commit made before.
    pub read_batch: Statement,
    /// `(user, collection, record_id)` → `version, deleted, data, field_versions`.
    pub load: Statement,
    /// [`WRITE_ALL`]: a batch's records, keys and audit rows.
    pub write_all: Statement,
    /// `(user)` → `seq`: the tombstone horizon.
    pub horizon: Statement,
    /// `()` → `value`: the last position handed out (no lock).
    pub seq: Statement,
    /// `(user, after, limit)` → `collection, record_id, version, deleted, data`.
    pub page: Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> Result<Self, postgres::Error> {
        Ok(Statements {
            keys_of: client.prepare(
                "SELECT i.idem_key, i.request_hash, i.outcome
                 FROM idempotency i
                 WHERE i.user_id = $1 AND i.idem_key = ANY($2::text[])",
            )?,
            read_batch: client.prepare(READ_BATCH)?,
            load: client.prepare(
                "SELECT version, deleted, data, field_versions FROM records
                 WHERE user_id = $1 AND collection = $2 AND record_id = $3",
            )?,
            write_all: client.prepare(&WRITE_ALL)?,
            horizon: client.prepare("SELECT seq FROM horizons WHERE user_id = $1")?,
            seq: client.prepare("SELECT value FROM counters WHERE name = 'seq'")?,
            page: client.prepare(
                "SELECT collection, record_id, version, deleted, data FROM records
                 WHERE user_id = $1 AND version > $2 ORDER BY version LIMIT $3",
            )?,
        })
    }
}

/// `BEGIN` and the `seq` lock in one round trip (the simple query protocol
/// runs both; the explicit `BEGIN` keeps the transaction open after it) →
/// `value`. The lock is its own statement, before the batch's reads: a
/// statement that waited for the row sees only what was committed before it
/// started, so reads in the same statement could miss the writer it waited for.
pub const BEGIN_LOCKED: &str = "BEGIN; SELECT value FROM counters WHERE name = 'seq' FOR UPDATE";

/// A batch's known keys and existing records in one statement: `(user,
/// keys[], collections[], record_ids[])` → rows of `kind, a, b, c, version,
/// deleted, fields`; kind 0 is a key (`a` idem_key, `b` request_hash, `c`
/// outcome; the rest unused), kind 1 a record (`a` collection, `b`
/// record_id, `c` data, then its version, deleted and field_versions).
pub const READ_BATCH: &str = "SELECT 0 AS kind, i.idem_key, i.request_hash, i.outcome,
        0::bigint, 0, ''::text
    FROM idempotency i
    WHERE i.user_id = $1 AND i.idem_key = ANY($2::text[])
    UNION ALL
    SELECT 1, r.collection, r.record_id, r.data, r.version, r.deleted, r.field_versions
    FROM unnest($3::text[], $4::text[]) AS x(collection, record_id)
    JOIN records r
      ON r.user_id = $1 AND r.collection = x.collection AND r.record_id = x.record_id";

/// Everything a batch writes, in one statement (one round trip): upserts
/// its changed records (`$1` user, `$2..$7` collections[], record_ids[],
/// versions[], deleted[], data[], field_versions[], each record at most
/// once; `$8` now), stores its new keys (`$9..$11` keys[],
/// request_hashes[], outcomes[], each naming its audit row) and appends its
/// audit rows (`audit::APPEND_ALL`, `$12..$19`). Empty arrays write nothing.
pub static WRITE_ALL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH written AS (
            INSERT INTO records
                (user_id, collection, record_id, version, deleted, data, field_versions, updated_at)
            SELECT $1, x.collection, x.record_id, x.version, x.deleted, x.data, x.field_versions, $8
            FROM unnest($2::text[], $3::text[], $4::bigint[], $5::integer[], $6::text[], $7::text[])
                AS x(collection, record_id, version, deleted, data, field_versions)
            ON CONFLICT (user_id, collection, record_id) DO UPDATE SET
                version = excluded.version, deleted = excluded.deleted, data = excluded.data,
                field_versions = excluded.field_versions, updated_at = excluded.updated_at
         ), {}
         INSERT INTO idempotency (user_id, idem_key, request_hash, outcome, created_at, audit_id)
         SELECT $1, x.key, x.hash, x.outcome, $8, audited.id
         FROM unnest($9::text[], $10::text[], $11::text[]) AS x(key, hash, outcome)
         LEFT JOIN audited ON audited.event_id = x.key",
        super::audit::APPEND_ALL
    )
});

/// A pooled connection and its prepared statements.
pub struct Conn {
    /// The connection.
    pub client: Client,
    /// Its prepared statements.
    pub sql: Statements,
    /// Set when a request found the connection lost, so the pool drops it
    /// (a reset socket does not always mark the client closed).
    pub lost: bool,
}

/// Opens connections for the pool (after the migrations ran, so the
/// statements can be prepared).
#[derive(Debug)]
pub struct Manager {
    config: Config,
    connector: Connector,
}

impl Manager {
    /// A manager connecting with `config` through `connector` (TLS as the
    /// URL's `sslmode` says).
    pub fn new(config: Config, connector: Connector) -> Self {
        Manager { config, connector }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Conn, postgres::Error> {
        let mut client = self.connector.connect(&self.config)?;
        let sql = Statements::prepare(&mut client)?;
        Ok(Conn {
            client,
            sql,
            lost: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.lost || conn.client.is_closed()
    }
}

/// Sends the pool's connection failures to the server's log.
#[derive(Debug)]
pub struct LogErrors;

impl r2d2::HandleError<postgres::Error> for LogErrors {
    fn handle_error(&self, error: postgres::Error) {
        let hint = super::tls::hint(&error).unwrap_or_default();
        tracing::warn!(error = %format!("{}{hint}", describe(&error)), "cannot open a PostgreSQL connection; will retry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact("postgres://app:s3cret@db.internal:5432/outbox?sslmode=disable"),
            "postgres://app:***@db.internal:5432/outbox?sslmode=disable"
        );
        assert_eq!(
            redact("postgres://app@127.0.0.1/outbox"),
            "postgres://app@127.0.0.1/outbox"
        );
        assert_eq!(
            redact("host=db user=app password=s3cret dbname=outbox"),
            "host=db user=app password=*** dbname=outbox"
        );
    }

    #[test]
    fn session_settings_are_added_to_the_url_options() {
        let parsed =
            config("postgres://app@127.0.0.1/outbox?options=-c%20search_path%3Dt1").unwrap();
        let options = parsed.get_options().unwrap();
        assert!(
            options.starts_with(
                "-c plan_cache_mode=force_custom_plan -c search_path=t1 -c lock_timeout="
            ),
            "{options}"
        );
        assert_eq!(parsed.get_application_name(), Some("outbox-sync-server"));
        assert!(config("postgres://[nope")
            .unwrap_err()
            .contains("not valid"));
    }

    #[test]
    fn verify_modes_read_as_require_and_sslrootcert_points_to_the_flag() {
        use postgres::config::SslMode;
        for mode in ["verify-ca", "verify-full", "require"] {
            let url = format!("postgres://app@db.example.com/outbox?sslmode={mode}");
            assert_eq!(config(&url).unwrap().get_ssl_mode(), SslMode::Require);
            let pairs = format!("host=db.example.com user=app sslmode={mode}");
            assert_eq!(config(&pairs).unwrap().get_ssl_mode(), SslMode::Require);
        }
        let default = config("postgres://app@db.example.com/outbox").unwrap();
        assert_eq!(default.get_ssl_mode(), SslMode::Prefer);
        let error =
            config("postgres://app@db/outbox?sslmode=require&sslrootcert=/ca.pem").unwrap_err();
        assert!(error.contains("--database-ca-file"), "{error}");
    }
}
