//! The tables both stores use, in portable DDL: no SQLite-only types, and
//! `ON CONFLICT` upserts, so SQLite and PostgreSQL run the same text.
//!
//! [`STEPS`] are applied in order (PostgreSQL records how many ran in
//! `schema_version`; SQLite reruns them all, every one being `IF NOT
//! EXISTS`). Append new steps; never edit one that has shipped.

/// Every schema step SQLite runs, oldest first.
pub const STEPS: &[&str] = &[SCHEMA, AUDIT];

/// PostgreSQL's steps, oldest first: [`STEPS`] and the blob tables (with
/// SQLite, blobs are files: `blobs/files.rs`). A later step for both
/// stores goes at the end of both lists.
pub const POSTGRES_STEPS: &[&str] = &[SCHEMA, AUDIT, POSTGRES_BLOBS];

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
