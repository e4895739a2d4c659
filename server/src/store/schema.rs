//! The tables both stores use, in portable DDL: no SQLite-only types, and
//! `ON CONFLICT` upserts, so SQLite and PostgreSQL run the same text.

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
