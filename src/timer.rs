//! Timers that work in pages and in every kind of worker: `setTimeout` and
//! `clearTimeout` are globals in both.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// Calls `handler` once after `ms` milliseconds; returns the timer's id.
    #[wasm_bindgen(js_name = setTimeout)]
    pub(crate) fn set_timeout(handler: &js_sys::Function, ms: f64) -> JsValue;
    /// Cancels the timer `id` if it has not fired.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub(crate) fn clear_timeout(id: &JsValue);
}

/// Resolves after `ms` milliseconds.
pub(crate) async fn sleep_ms(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        set_timeout(&resolve, f64::from(ms));
    });
    // A timer promise never rejects.
    let _ = JsFuture::from(promise).await;
}
