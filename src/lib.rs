//! outbox-sync: an offline-first outbox for installable web apps.
//!
//! The app saves every change on the device first (a durable outbox in
//! IndexedDB); the network delivers it when it can. `core` holds the rules
//! and builds and tests natively; `store` and `js` are the browser adapters.
#![deny(missing_docs)]

/// The wasm's memory allocator: talc, a few KB smaller than the default
/// (dlmalloc) and as fast for this package's small, short-lived
/// allocations. The wasm is single-threaded (no `atomics`).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

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

#[cfg(target_family = "wasm")]
mod timer;
