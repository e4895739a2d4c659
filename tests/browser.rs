//! The IndexedDB outbox suite, run in a page, and what only a page has.
#![cfg(target_family = "wasm")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod suite;

#[path = "page/back_forward_cache.rs"]
mod back_forward_cache;
