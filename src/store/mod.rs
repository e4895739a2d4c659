//! The outbox in IndexedDB: durable across reloads, crashes and restarts.
//!
//! Works in pages and in service workers (it never touches `window`; in a
//! page it listens for `pagehide`/`pageshow` on the global, see `bfcache`). Every
//! write runs in one transaction that is committed explicitly: with
//! `indexed_db_futures` a transaction that is not committed rolls back.

mod bfcache;
pub mod error;
mod idb;
mod idb_blobs;
mod idb_ops;
pub mod idb_query;
mod idb_sync;
mod idb_write;
pub mod outgoing;
mod pipeline;
mod requests;
mod saves;
pub mod schema;

pub use idb::{IdbOutbox, WriteListener};
pub use idb_blobs::{cannot_store_blobs, NewBlob, StoredBlob};
