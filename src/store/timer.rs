//! A promise-based sleep that works in pages and workers alike.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    // `setTimeout` is a global in windows and in every kind of worker.
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: i32) -> JsValue;
}

/// Resolves after `ms` milliseconds.
pub(crate) async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        set_timeout(&resolve, ms);
    });
    // A timer promise never rejects.
    let _ = JsFuture::from(promise).await;
}
