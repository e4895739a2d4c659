//! outbox-sync: an offline-first outbox for installable web apps.
//!
//! The app saves every change on the device first (a durable outbox in
//! IndexedDB); the network delivers it when it can. `core` holds the rules
//! and builds and tests natively; `store` and `js` are the browser adapters.
#![deny(missing_docs)]

pub mod core;
pub mod engine;

#[cfg(target_family = "wasm")]
pub mod decode;

#[cfg(target_family = "wasm")]
pub mod store;

#[cfg(target_family = "wasm")]
pub mod js;

#[cfg(target_family = "wasm")]
pub mod net;

#[cfg(target_family = "wasm")]
pub mod sw;
