//! Wire types of the outbox-sync API contract.
//!
//! Shared by the wasm client and the reference server so that both sides
//! agree on every field. Pure serde: no I/O, no web APIs. The contract is
//! described for people in `docs/protocol.md`.
#![deny(missing_docs)]

pub mod value;

pub use value::{Map, Value};
