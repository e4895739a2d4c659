//! The IndexedDB outbox suite, run in a page.
#![cfg(target_family = "wasm")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod suite;
