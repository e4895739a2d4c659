//! A page's transactions, aborted when the page goes into the back-forward cache.
//!
//! WebKit (Safari; WebKitGTK 2.50 on the test machine) keeps a page in its
//! back-forward cache with its IndexedDB transactions still in flight: the
//! page is suspended before it can finish them, so they never complete, and
//! every later transaction of another tab or the service worker on the same
//! stores waits behind them for as long as the page stays cached (a readonly
//! one is enough to hold up every write). Chromium evicts such a page instead.
//! So in a window the store keeps the transactions it opened until they
//! finish; on `pagehide` with `persisted` (the page is going into the cache)
//! it aborts those still open, and until `pageshow` brings the page back it
//! opens no others. An aborted write changed nothing and its caller gets the
//! error; an aborted read is simply not answered. In a worker (no `pagehide`)
//! none of this is set up. See docs/engines.md.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use js_sys::{Array, Set};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Event, EventTarget, IdbTransaction};

use crate::core::StoreError;

/// The transactions one connection has open in this page, and whether the
/// page is in the back-forward cache. Inert in workers.
pub struct PageTransactions {
    listening: Option<Listening>,
}

struct Listening {
    global: EventTarget,
    state: Rc<State>,
    /// One handler for the window's `pagehide` and `pageshow` and each
    /// transaction's `complete` and `abort`.
    on_event: Closure<dyn FnMut(Event)>,
}

struct State {
    /// The `IDBTransaction`s not finished yet.
    live: Set,
    /// Between a `pagehide` that keeps the page and the `pageshow` that brings it back.
    cached: Cell<bool>,
}

const WINDOW_EVENTS: [&str; 2] = ["pagehide", "pageshow"];
const TRANSACTION_EVENTS: [&str; 2] = ["complete", "abort"];

impl PageTransactions {
    /// Starts watching this page's `pagehide` and `pageshow`; in a worker,
    /// where there are none, it tracks nothing.
    pub fn new() -> PageTransactions {
        let global = js_sys::global();
        if !js_sys::Reflect::has(&global, &"onpagehide".into()).unwrap_or(false) {
            return PageTransactions { listening: None };
        }
        let global: EventTarget = global.unchecked_into();
        let state = Rc::new(State {
            live: Set::new(&JsValue::UNDEFINED),
            cached: Cell::new(false),
        });
        let seen = state.clone();
        let on_event = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            match event.type_().as_str() {
                "pagehide" if persisted(&event) => {
                    seen.cached.set(true);
                    // Each leaves the set when its `abort` event comes.
                    for tx in Array::from(&seen.live).iter() {
                        // One that finished a moment ago throws: nothing to do then.
                        let _ = tx.unchecked_into::<IdbTransaction>().abort();
                    }
                }
                "pageshow" => seen.cached.set(false),
                "complete" | "abort" => {
                    if let Some(tx) = event.target() {
                        seen.live.delete(&tx);
                    }
                }
                // A page unloading for good: the browser ends its transactions.
                _ => {}
            }
        });
        for kind in WINDOW_EVENTS {
            let _ =
                global.add_event_listener_with_callback(kind, on_event.as_ref().unchecked_ref());
        }
        PageTransactions {
            listening: Some(Listening {
                global,
                state,
                on_event,
            }),
        }
    }

    /// Fails while the page is in the back-forward cache: a transaction
    /// opened then would be left open there, blocking the other tabs.
    pub fn check_open(&self) -> Result<(), StoreError> {
        match &self.listening {
            Some(l) if l.state.cached.get() => Err(StoreError::Backend {
                name: "AbortError".into(),
                message: "the page is in the back-forward cache".into(),
            }),
            _ => Ok(()),
        }
    }

    /// Keeps `tx` until it completes or aborts, so that `pagehide` can abort it.
    pub fn track(&self, tx: &IdbTransaction) {
        let Some(l) = &self.listening else { return };
        for kind in TRANSACTION_EVENTS {
            let _ = tx.add_event_listener_with_callback(kind, l.on_event.as_ref().unchecked_ref());
        }
        l.state.live.add(tx);
    }

    /// How many tracked transactions are still open (for tests).
    pub fn open_count(&self) -> usize {
        self.listening
            .as_ref()
            .map_or(0, |l| l.state.live.size() as usize)
    }
}

impl Default for PageTransactions {
    fn default() -> Self {
        Self::new()
    }
}

fn persisted(event: &Event) -> bool {
    js_sys::Reflect::get(event, &"persisted".into()).is_ok_and(|p| p.is_truthy())
}

impl Drop for Listening {
    fn drop(&mut self) {
        // The handler is freed with this value: nothing may call it after.
        let handler = self.on_event.as_ref().unchecked_ref();
        for tx in Array::from(&self.state.live).iter() {
            let tx: EventTarget = tx.unchecked_into();
            for kind in TRANSACTION_EVENTS {
                let _ = tx.remove_event_listener_with_callback(kind, handler);
            }
        }
        for kind in WINDOW_EVENTS {
            let _ = self
                .global
                .remove_event_listener_with_callback(kind, handler);
        }
    }
}

impl fmt::Debug for PageTransactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PageTransactions")
    }
}
