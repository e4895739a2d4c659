//! The pure core: types and rules of the outbox, with no browser APIs.
//!
//! Everything here is sans-IO: functions take the current time (`now_ms`,
//! milliseconds since the Unix epoch) and any randomness as arguments and
//! return the next state or step. The browser adapters (`store`, `js`) move
//! the bytes. `cargo test` builds and tests this module natively.

pub mod blob;
pub mod conflict;
pub mod drain;
pub mod drain_machine;
pub mod error;
pub mod event;
pub mod file_cache;
pub mod index;
pub mod known;
pub mod lease;
pub mod memory;
pub mod metrics;
pub mod order;
pub mod outbox;
pub mod pull;
pub mod query;
pub mod query_key;
pub mod query_run;
pub mod record;
pub mod remote;
pub mod reply;
pub mod retry;
pub mod schedule;
pub mod settle;
pub mod status;
pub mod sync_store;
pub mod validate;
pub mod verdict;
pub mod words;
pub mod write_set;

pub use error::{StoreError, TransitionError, ValidationError};
pub use event::{EventState, NewEvent, Operation, OutboxEvent, RecordKey};
pub use outbox::{Durability, OutboxStore, StoreConfig};
pub use record::LocalRecord;
pub use retry::RetryPolicy;
pub use schedule::{BatchSelector, Clock};
pub use status::{StatusSummary, SyncState};
pub use sync_store::SyncStore;
pub use validate::Limits;
