//! One way from a Rust future to a JavaScript `Promise` for every async method.
//!
//! `wasm_bindgen_futures::future_to_promise` is generic over the future: called
//! with each method's `async` block it is compiled once per method, with the
//! block's body inlined into its task. Boxing the block first leaves a single
//! copy of that machinery (the task, the resolve and reject calls) behind one
//! `dyn Future`, at the cost of one allocation and an indirect poll per call,
//! which the IndexedDB request it waits for outweighs many times over.

use std::future::Future;
use std::pin::Pin;

use wasm_bindgen::JsValue;

/// What an async method resolves to or rejects with.
type Outcome = Result<JsValue, JsValue>;

/// `future` run to completion as a `Promise` (as `future_to_promise`).
pub(super) fn promise(future: impl Future<Output = Outcome> + 'static) -> js_sys::Promise {
    boxed(Box::pin(future))
}

#[inline(never)]
fn boxed(future: Pin<Box<dyn Future<Output = Outcome>>>) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(future)
}
