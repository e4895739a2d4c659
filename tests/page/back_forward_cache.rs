//! A page going into the back-forward cache: the store aborts the transactions
//! it has open (WebKit would keep them open there, blocking every other tab and
//! the service worker: docs/engines.md) and opens none until the page is shown
//! again. Only a page has `pagehide`, so this runs in `browser.rs` alone.

use std::future::Future;
use std::pin::{pin, Pin};

use futures::future::{ready, select, Either};

use outbox_sync::core::{EventState, OutboxStore};
use outbox_sync::store::IdbOutbox;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::suite::{fresh, put};

/// Fires a real `PageTransitionEvent` of `kind` at the window, as the browser does.
fn page_transition(kind: &str, persisted: bool) {
    let global = js_sys::global();
    let constructor: js_sys::Function =
        js_sys::Reflect::get(&global, &"PageTransitionEvent".into())
            .expect("this page has PageTransitionEvent")
            .unchecked_into();
    let init = js_sys::Object::new();
    js_sys::Reflect::set(&init, &"persisted".into(), &JsValue::from_bool(persisted)).unwrap();
    let args = js_sys::Array::of2(&kind.into(), &init);
    let event: web_sys::Event = js_sys::Reflect::construct(&constructor, &args)
        .expect("a PageTransitionEvent")
        .unchecked_into();
    let target: web_sys::EventTarget = global.unchecked_into();
    target.dispatch_event(&event).unwrap();
}

/// In the back-forward cache until dropped (then shown again, even when a test fails).
struct Cached;

impl Cached {
    fn enter() -> Cached {
        page_transition("pagehide", true);
        Cached
    }
}

impl Drop for Cached {
    fn drop(&mut self) {
        page_transition("pageshow", true);
    }
}

/// Polls `operation` once, so that its transaction is open (it stays unfinished).
async fn start<F: Future + ?Sized>(operation: Pin<&mut F>) {
    if let Either::Left(_) = select(operation, ready(())).await {
        panic!("the operation finished at once");
    }
}

/// Waits until none of `store`'s transactions is tracked as open: each leaves
/// when its `complete` or `abort` event has reached every listener (the
/// awaiting code may resume between two, and some engines fire `abort` a few
/// tasks after `abort()`). Fails after two seconds.
async fn none_open(store: &IdbOutbox) {
    for _ in 0..200 {
        if store.open_page_transactions() == 0 {
            return;
        }
        sleep_ms(10).await;
    }
    panic!(
        "{} transactions still tracked as open",
        store.open_page_transactions()
    );
}

/// Resolves after `ms` milliseconds.
async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout: js_sys::Function =
            js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into())
                .unwrap()
                .unchecked_into();
        set_timeout
            .call2(&JsValue::NULL, &resolve, &JsValue::from(ms))
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

fn is_abort(error: &outbox_sync::core::StoreError) -> bool {
    matches!(error, outbox_sync::core::StoreError::Backend { name, .. } if name == "AbortError")
}

#[wasm_bindgen_test]
async fn going_into_the_back_forward_cache_aborts_open_transactions_until_the_page_is_shown() {
    let (store, _) = fresh().await;
    store.enqueue(put("r1", "saved before"), 0).await.unwrap();
    none_open(&store).await; // a finished transaction is let go

    // A read in flight (its transaction started) when the page goes into the cache.
    let mut read = pin!(store.count(EventState::Queued));
    start(read.as_mut()).await;
    assert_eq!(store.open_page_transactions(), 1);
    let cached = Cached::enter();
    let error = read.await.expect_err("the read's transaction was aborted");
    assert!(is_abort(&error), "{error:?}");
    none_open(&store).await;

    // In the cache, nothing starts: it would stay open there.
    let refused = store
        .enqueue(put("r2", "while cached"), 1)
        .await
        .unwrap_err();
    assert!(is_abort(&refused), "{refused:?}");
    assert_eq!(refused.code(), "storage_error");
    assert!(store.count(EventState::Queued).await.is_err());

    // Shown again: everything works, and the aborted work changed nothing.
    drop(cached);
    store.enqueue(put("r3", "after"), 2).await.unwrap();
    assert_eq!(store.count(EventState::Queued).await.unwrap(), 2);
    none_open(&store).await;
}

#[wasm_bindgen_test]
async fn a_page_that_unloads_for_good_keeps_its_transactions() {
    let (store, _) = fresh().await;
    store.enqueue(put("r1", "saved"), 0).await.unwrap();
    let mut read = pin!(store.count(EventState::Queued));
    start(read.as_mut()).await;
    // Not `persisted`: the page is not kept, and the browser finishes what it started.
    page_transition("pagehide", false);
    assert_eq!(read.await.unwrap(), 1);
    store.enqueue(put("r2", "saved"), 1).await.unwrap();
}
