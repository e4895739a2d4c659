//! The tables both stores use, in portable DDL: no SQLite-only types, and
//! `ON CONFLICT` upserts, so SQLite and PostgreSQL run the same text.
//!
//! [`STEPS`] are applied in order (PostgreSQL records how many ran in
//! `schema_version`; SQLite reruns them all, every one being `IF NOT
//! EXISTS`). Append new steps; never edit one that has shipped.

/// Every schema step, oldest first.
pub const STEPS: &[&str] = &[SCHEMA, AUDIT];

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
