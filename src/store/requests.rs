//! Many IndexedDB requests of one transaction sent together, with one
//! listener for the lot.
//!
//! IndexedDB answers a transaction's requests in the order they were made,
//! and a request that fails (with no handler to stop it) aborts its
//! transaction, which fails every request still waiting. So only the last
//! request of a batch needs a listener: when it succeeds, every request
//! before it has succeeded and holds its `result`; when any fails, the last
//! one fails too. Writes need no listener at all: the transaction's commit
//! reports the first failure (see [`commit`](super::idb_ops::commit)).
//!
//! Per request this saves what `indexed_db_futures` spends on each of its
//! futures: a closure, a channel, two handlers set and cleared, and a wake-up
//! of the wasm task. A pull page of 500 records, or a push's outcomes, is
//! hundreds of requests.

use std::cell::Cell;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_wasm_bindgen::Serializer;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{DomException, IdbRequest};

use super::error::from_dom_name;
use super::idb_write::refused;
use crate::core::StoreError;

thread_local! {
    /// Requests sent through this module and write sets on this thread (a
    /// page or a worker), for tests that count what an operation costs.
    static SENT: Cell<u64> = const { Cell::new(0) };
}

/// Counts `n` requests sent, in debug builds (the tests'): the shipped
/// package carries no counter.
#[inline(always)]
pub(super) fn count_sent(n: usize) {
    if cfg!(debug_assertions) {
        SENT.with(|sent| sent.set(sent.get() + n as u64));
    }
}

/// How many requests this thread's stores have sent through [`sent`],
/// [`result`] and write sets (see [`IdbOutbox::requests_sent`](super::IdbOutbox::requests_sent)).
pub(super) fn sent_so_far() -> u64 {
    SENT.with(Cell::get)
}

/// `value` as the JavaScript object IndexedDB stores (maps as plain
/// objects, as `indexed_db_futures` stores them, so both read each other's).
pub(super) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, StoreError> {
    value
        .serialize(&Serializer::new().serialize_maps_as_objects(true))
        .map_err(|e| StoreError::Corrupt(format!("a value could not be stored: {e}")))
}

/// A stored value read back (`undefined`, a missing key, is `None`).
pub(super) fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<Option<T>, StoreError> {
    if value.is_undefined() {
        return Ok(None);
    }
    decode(value).map(Some)
}

/// A stored value read back, as a `T` (`undefined` is no `T`). Apart from
/// its callers, so that the error is built once.
#[inline(never)]
pub(super) fn decode<T: DeserializeOwned>(value: JsValue) -> Result<T, StoreError> {
    crate::decode::from_value(value).map_err(unreadable_value)
}

#[inline(never)]
fn unreadable_value(error: crate::decode::DecodeError) -> StoreError {
    StoreError::Corrupt(format!("a stored value could not be read: {error}"))
}

/// Waits until every request of `requests` (all of one transaction, in the
/// order they were made) is answered, and returns their results in order.
/// Fails with the first request's failure when any failed.
pub(super) async fn results(requests: &[IdbRequest]) -> Result<Vec<JsValue>, StoreError> {
    let Some(last) = requests.last() else {
        return Ok(Vec::new());
    };
    let answered = js_sys::Promise::new(&mut |resolve, reject| {
        last.set_onsuccess(Some(&resolve));
        last.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(answered).await;
    last.set_onsuccess(None);
    last.set_onerror(None);
    if outcome.is_err() {
        return Err(first_failure(requests));
    }
    requests
        .iter()
        .map(|request| request.result().map_err(|e| unreadable(&e)))
        .collect()
}

/// The results of `requests` (all of one transaction, in the order they
/// were made) that have all been answered already, because a request made
/// after them in the same transaction has been: IndexedDB answers in order.
/// Fails with the first request's failure when any failed.
pub(super) fn answered(requests: &[IdbRequest]) -> Result<Vec<JsValue>, StoreError> {
    if requests.iter().any(|r| r.error().ok().flatten().is_some()) {
        return Err(first_failure(requests));
    }
    requests
        .iter()
        .map(|request| request.result().map_err(|e| unreadable(&e)))
        .collect()
}

/// The result of one request (as the browser's call that sent it returned
/// it), once answered.
pub(super) async fn result(sent: Result<IdbRequest, JsValue>) -> Result<JsValue, StoreError> {
    let request = sent.map_err(refused)?;
    count_sent(1);
    Ok(results(&[request]).await?.pop().unwrap_or_default())
}

/// Requests as the browser's calls that sent them returned them, or the
/// first refusal; wait for them with [`results`].
pub(super) fn sent(
    requests: Vec<Result<IdbRequest, JsValue>>,
) -> Result<Vec<IdbRequest>, StoreError> {
    count_sent(requests.len());
    requests
        .into_iter()
        .map(|request| request.map_err(refused))
        .collect()
}

/// Why a batch failed: the first request that failed for a reason of its
/// own (the ones after it only report that the transaction was aborted).
fn first_failure(requests: &[IdbRequest]) -> StoreError {
    let cause = failed_at(requests)
        .and_then(|index| requests[index].error().ok().flatten())
        .or_else(|| requests.iter().find_map(|r| r.error().ok().flatten()));
    match cause {
        Some(e) => from_dom_name(&e.name(), &e.message()),
        None => StoreError::Corrupt("the device's storage stopped answering".into()),
    }
}

/// The first of `requests` that failed for a reason of its own, once they
/// are answered.
pub(super) fn failed_at(requests: &[IdbRequest]) -> Option<usize> {
    requests.iter().position(|request| {
        request
            .error()
            .ok()
            .flatten()
            .is_some_and(|e| e.name() != "AbortError")
    })
}

/// A request's result could not be read (it was not answered).
fn unreadable(error: &JsValue) -> StoreError {
    let message = error
        .dyn_ref::<DomException>()
        .map(|e| e.message())
        .unwrap_or_default();
    StoreError::Corrupt(format!("a stored value was not answered: {message}"))
}
