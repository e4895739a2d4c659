//! Payloads a taken batch keeps as JavaScript values, from the outbox's
//! read to the push's body.
//!
//! Decoded into wasm at the take, a payload was encoded back into a
//! JavaScript object for `JSON.stringify` at the push: two conversions of
//! the larger part of every drained event, whose fields the drain never
//! looks at (bench/results/analysis.md, issue 11). While a drain holds an
//! [`Holding`] ([`IdbOutbox::hold_payloads`](super::IdbOutbox::hold_payloads)),
//! a take leaves each event's payload out of the [`OutboxEvent`] it
//! returns (`payload` null, [`OutboxEvent::held_payload_size`] set, for the
//! core's split of large events) and keeps the stored row and its payload
//! here; the push builds its body from them in JavaScript
//! (`net::push`), taking them out. Entries of a batch that was taken but
//! not sent (a stopped drain) are replaced when it is taken again and
//! dropped when the last drain lets go. Without a holder (the contract
//! suite, any other caller of `take_batch`) a take returns whole events.
//!
//! A take also keeps each event as it returned it ([`Outgoing::kept`]):
//! the settlement of a confirmed event uses that copy instead of reading
//! and decoding the stored event again, once it has checked, with keys only,
//! that the event is still stored and still held by this drainer's lease
//! (nothing rewrites an event a lease holds: it is stored as it was taken).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use uuid::Uuid;
use wasm_bindgen::JsValue;

use crate::core::OutboxEvent;

/// The held payloads of one connection, shared by its store and the push.
#[derive(Debug, Default)]
pub struct Outgoing {
    /// Drains holding payloads now.
    holders: Cell<u32>,
    /// Per taken event: its id, its stored row (payload left null) and
    /// its payload. At most a batch or two: a list is as quick as a map
    /// here, and smaller in the wasm.
    held: RefCell<Vec<(Uuid, JsValue, JsValue)>>,
    /// The taken events as the take returned them (payloads left out),
    /// until their settlement.
    kept: RefCell<Vec<OutboxEvent>>,
}

impl Outgoing {
    /// Whether a take should hold its events' payloads here.
    pub(super) fn is_holding(&self) -> bool {
        self.holders.get() > 0
    }

    /// Keeps `row` and `payload` of the taken event `event_id`.
    pub(super) fn hold(&self, event_id: Uuid, row: JsValue, payload: JsValue) {
        let mut held = self.held.borrow_mut();
        held.retain(|(id, _, _)| *id != event_id);
        held.push((event_id, row, payload));
    }

    /// Keeps the events a take returned, for their settlement.
    pub(super) fn keep(&self, taken: &[OutboxEvent]) {
        let mut kept = self.kept.borrow_mut();
        kept.retain(|e| !taken.iter().any(|t| t.event_id == e.event_id));
        kept.extend(taken.iter().cloned());
    }

    /// The event `event_id` as its take returned it, taken out (`None`
    /// when not kept).
    pub(super) fn kept(&self, event_id: &Uuid) -> Option<OutboxEvent> {
        let mut kept = self.kept.borrow_mut();
        let at = kept.iter().position(|e| e.event_id == *event_id)?;
        Some(kept.swap_remove(at))
    }

    /// The stored row and payload of `event_id`, taken out (`None` when
    /// not held).
    pub fn take(&self, event_id: &Uuid) -> Option<(JsValue, JsValue)> {
        let mut held = self.held.borrow_mut();
        let at = held.iter().position(|(id, _, _)| id == event_id)?;
        let (_, row, payload) = held.swap_remove(at);
        Some((row, payload))
    }

    /// How many payloads are held (for tests).
    #[doc(hidden)]
    pub fn len(&self) -> usize {
        self.held.borrow().len()
    }

    /// Whether none is held (for tests).
    #[doc(hidden)]
    pub fn is_empty(&self) -> bool {
        self.held.borrow().is_empty()
    }
}

/// A drain's hold on its connection's [`Outgoing`]: takes hold payloads
/// while it lives; when the last one goes, what is still held is dropped.
#[derive(Debug)]
pub struct Holding(Rc<Outgoing>);

impl Holding {
    pub(super) fn new(outgoing: Rc<Outgoing>) -> Self {
        outgoing.holders.set(outgoing.holders.get() + 1);
        Holding(outgoing)
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        let holders = self.0.holders.get().saturating_sub(1);
        self.0.holders.set(holders);
        if holders == 0 {
            self.0.held.borrow_mut().clear();
            self.0.kept.borrow_mut().clear();
        }
    }
}
