//! The IndexedDB outbox suite, run inside a real service worker.
#![cfg(target_family = "wasm")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_service_worker);

mod suite;
