//! Wire types of the outbox-sync API contract.
//!
//! Shared by the wasm client and the reference server so that both sides
//! agree on every field. Pure serde: no I/O, no web APIs. The contract is
//! described for people in `docs/protocol.md`.
#![deny(missing_docs)]

pub mod api;
pub mod blob;
pub mod depth;
pub mod error;
pub mod event;
pub mod pull;
pub mod push;
pub mod value;

pub use blob::{BlobRef, UploadStatus};
pub use depth::nesting_depth;
pub use error::{ErrorBody, ErrorResponse};
pub use event::{Event, Op, Record};
pub use pull::ChangesResponse;
pub use push::{Outcome, PushRequest, PushResponse, PushResult};
pub use value::{Map, Value};
