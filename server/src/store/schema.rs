//! The tables both stores use, in portable DDL: no SQLite-only types, and
//! `ON CONFLICT` upserts, so SQLite and PostgreSQL run the same text.
//!
//! [`STEPS`] are applied in order (PostgreSQL records how many ran in
//! `schema_version`, SQLite in `PRAGMA user_version`; the first two steps
//! are `IF NOT EXISTS`, so a SQLite database made before `user_version`
//! was kept, which reads 0, reruns them harmlessly). Append new steps;
//! never edit one that has shipped.

/// Every schema step SQLite runs, oldest first.
pub const STEPS: &[&str] = &[SCHEMA, AUDIT, SQLITE_AUDIT_BY_KEY];

/// PostgreSQL's steps, oldest first: [`SCHEMA`], [`AUDIT`], the blob tables
/// (with SQLite, blobs are files: `blobs/files.rs`) and the same change as
/// SQLite's third step. A later step for both stores goes at the end of
/// both lists.
pub const POSTGRES_STEPS: &[&str] = &[SCHEMA, AUDIT, POSTGRES_BLOBS, POSTGRES_AUDIT_BY_KEY];

/// The meta row holding the newest key-expiry cutoff (milliseconds): every
/// keyed audit row written at or after it still has its key, which names
/// it (`idempotency.audit_id`); older ones are found by a scan. Both
/// stores raise it in the transaction that deletes keys.
pub const KEYS_EXPIRED_BEFORE: &str = "keys_expired_before";

/// Creates every table and index if missing, and the `seq` counter at 0.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    user_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    deleted INTEGER NOT NULL,
    data TEXT NOT NULL,
    field_versions TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, collection, record_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS records_by_version ON records (user_id, version);
CREATE INDEX IF NOT EXISTS records_tombstones ON records (deleted, updated_at);
CREATE TABLE IF NOT EXISTS idempotency (
    user_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX IF NOT EXISTS idempotency_by_age ON idempotency (created_at);
CREATE TABLE IF NOT EXISTS horizons (user_id TEXT PRIMARY KEY, seq BIGINT NOT NULL);
INSERT INTO counters (name, value) VALUES ('seq', 0) ON CONFLICT (name) DO NOTHING;
";

/// Step 2: the audit trail, one row per event applied (or refused by a
/// conflict), written in the change's own transaction (see `audit.rs`).
/// `id` comes from the `audit` counter, so rows are numbered in the order
/// they committed on both stores.
pub const AUDIT: &str = "
CREATE TABLE IF NOT EXISTS audit (
    id BIGINT PRIMARY KEY,
    user_id TEXT NOT NULL,
    event_id TEXT,
    collection TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version BIGINT,
    op TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_record ON audit (user_id, collection, record_id, id);
CREATE INDEX IF NOT EXISTS audit_by_event ON audit (event_id);
CREATE INDEX IF NOT EXISTS audit_by_age ON audit (at_ms);
INSERT INTO counters (name, value) VALUES ('audit', 0) ON CONFLICT (name) DO NOTHING;
";

/// PostgreSQL step 3: blobs every instance shares. `blobs` holds each
/// upload's declared `size`, the bytes `received` (the offset of the next
/// chunk), whether it is `complete` (hash verified) and the expiry clock
/// `touched_at`; `blob_chunks` holds the bytes, one row per chunk received,
/// keyed by where it starts. Chunks are stored uncompressed and out of line
/// (`STORAGE EXTERNAL`): photos and videos are compressed already, and a
/// `Range` read then fetches only the slices it needs.
pub const POSTGRES_BLOBS: &str = "
CREATE TABLE IF NOT EXISTS blobs (
    user_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    received BIGINT NOT NULL,
    complete INTEGER NOT NULL,
    touched_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, sha256)
);
CREATE INDEX IF NOT EXISTS blobs_by_age ON blobs (touched_at);
CREATE TABLE IF NOT EXISTS blob_chunks (
    user_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    start BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (user_id, sha256, start)
);
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
";

/// SQLite step 3: one index keyed by a random event id instead of two.
/// Every event put its UUID into `idempotency`'s primary key and into
/// `audit_by_event`; once those indexes outgrow a group commit each event
/// dirtied a page of both (about 2.5 fresh 4 KiB pages an event under the
/// load test). Now a key names its audit row (`audit_id`), the key table's
/// primary key leads with the key (so an event is found without its user
/// too), `audit_by_event` is gone, and `audit.id` is the rowid (`INTEGER
/// PRIMARY KEY`: no second index on `id`). Audit rows older than the key
/// retention are found by a scan ([`KEYS_EXPIRED_BEFORE`]); the cutoff is
/// computed here from the rows no live key names. Both tables are copied,
/// once, at the first start of a server with this step.
pub const SQLITE_AUDIT_BY_KEY: &str = "
CREATE TABLE idempotency_new (
    user_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    audit_id BIGINT,
    PRIMARY KEY (idem_key, user_id)
);
INSERT INTO idempotency_new (user_id, idem_key, request_hash, outcome, created_at, audit_id)
SELECT i.user_id, i.idem_key, i.request_hash, i.outcome, i.created_at,
       (SELECT MAX(a.id) FROM audit a WHERE a.event_id = i.idem_key AND a.user_id = i.user_id)
FROM idempotency i;
INSERT INTO meta (name, value)
SELECT 'keys_expired_before', CAST(COALESCE(MAX(a.at_ms) + 1, 0) AS TEXT)
FROM audit a
WHERE a.event_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM idempotency_new i
    WHERE i.idem_key = a.event_id AND i.user_id = a.user_id AND i.audit_id = a.id)
ON CONFLICT (name) DO NOTHING;
DROP TABLE idempotency;
ALTER TABLE idempotency_new RENAME TO idempotency;
CREATE INDEX idempotency_by_age ON idempotency (created_at);
CREATE TABLE audit_new (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    event_id TEXT,
    collection TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version BIGINT,
    op TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
INSERT INTO audit_new (id, user_id, event_id, collection, record_id, version, op, outcome, at_ms)
SELECT id, user_id, event_id, collection, record_id, version, op, outcome, at_ms
FROM audit ORDER BY id;
DROP TABLE audit;
ALTER TABLE audit_new RENAME TO audit;
CREATE INDEX audit_by_record ON audit (user_id, collection, record_id, id);
CREATE INDEX audit_by_age ON audit (at_ms);
";

/// PostgreSQL step 4: [`SQLITE_AUDIT_BY_KEY`] on PostgreSQL, where a
/// `BIGINT PRIMARY KEY` is one index already, so only the keys change:
/// `audit_id`, the primary key leading with the key, `audit_by_event` gone.
pub const POSTGRES_AUDIT_BY_KEY: &str = "
ALTER TABLE idempotency ADD COLUMN audit_id BIGINT;
UPDATE idempotency i SET audit_id =
    (SELECT MAX(a.id) FROM audit a WHERE a.event_id = i.idem_key AND a.user_id = i.user_id);
INSERT INTO meta (name, value)
SELECT 'keys_expired_before', CAST(COALESCE(MAX(a.at_ms) + 1, 0) AS TEXT)
FROM audit a
WHERE a.event_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM idempotency i
    WHERE i.idem_key = a.event_id AND i.user_id = a.user_id AND i.audit_id = a.id)
ON CONFLICT (name) DO NOTHING;
ALTER TABLE idempotency DROP CONSTRAINT idempotency_pkey, ADD PRIMARY KEY (idem_key, user_id);
DROP INDEX IF EXISTS audit_by_event;
";

/// Reading an event's audit rows (`?1`/`$1` the event id, `?2`/`$2` the
/// user or NULL; the same text on both stores but for the placeholders):
/// the rows its live keys name, through the key table's primary key, and
/// the rows written before the last key expiry, by a scan.
pub fn find_event_sql(columns: &str, first: &str, second: &str) -> String {
    format!(
        "SELECT {columns} FROM audit WHERE id IN (
             SELECT audit_id FROM idempotency
             WHERE idem_key = {first} AND ({second} IS NULL OR user_id = {second}))
         UNION
         SELECT {columns} FROM audit
         WHERE at_ms < (SELECT CAST(value AS BIGINT) FROM meta WHERE name = '{KEYS_EXPIRED_BEFORE}')
           AND event_id = {first} AND ({second} IS NULL OR user_id = {second})
         ORDER BY id"
    )
}
