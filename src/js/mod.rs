//! The JavaScript surface: the only module with `#[wasm_bindgen]` exports.
//!
//! Names are camelCase for JavaScript; every rejected Promise carries a real
//! `Error` with a stable `name` (`"OutboxError"`) and `code`, and a message a
//! person can act on.

mod auto;
mod blobs;
mod control;
mod error;
mod last_opened;
mod outbox;
mod promise;
mod query;
mod run;
#[doc(hidden)]
pub mod settings;
mod storage;
mod sync;
mod types;
mod views;
mod worker;

pub use blobs::BlobRef;
pub use error::{js_error, ErrorCode};
pub use outbox::Outbox;
