//! The saves in progress on one connection, which the sync's own writes
//! let finish first.
//!
//! IndexedDB runs transactions whose stores do not overlap side by side: a
//! sync's pulled token or recorded run (the meta store) commits while a
//! `put()` (outbox and records) is waiting for its own commit, and the two
//! commits share one disk and one main thread. Measured with
//! `startAutoSync()` on and saves 80 ms apart, the tail of each sync landed
//! on the next save (bench/results/analysis.md). So a sync-side write
//! ([`IdbOutbox::after_saves`](super::IdbOutbox::after_saves)) waits until
//! the saves that were in progress when it asked have committed; a save
//! never waits for the sync. The count of saves in progress is all it
//! tracks: saves that overlap one another (a `Promise.all` of many `put()`s)
//! hold the sync back until none is left, i.e. until the burst ends, and
//! a sync that found no save in progress does not wait at all.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Saves in progress, shared by the connection's saves and its sync.
#[derive(Debug, Default)]
pub(super) struct Saves {
    /// Saves in progress now.
    running: Cell<u32>,
    /// How many times the saves in progress went down to none.
    idle_times: Cell<u64>,
    /// Sync writes waiting for the saves to finish.
    waiting: RefCell<Vec<Waker>>,
}

impl Saves {
    /// Marks a save in progress until the returned guard is dropped.
    pub(super) fn begin(self: &Rc<Self>) -> Saving {
        self.running.set(self.running.get() + 1);
        Saving(self.clone())
    }

    /// How many saves are in progress (for tests).
    pub(super) fn running(&self) -> u32 {
        self.running.get()
    }

    /// Resolves once no save that was in progress now is still running.
    pub(super) fn idle(&self) -> Idle<'_> {
        Idle {
            saves: self,
            since: (self.running.get() > 0).then(|| self.idle_times.get()),
        }
    }
}

/// A save in progress (see [`Saves::begin`]).
#[derive(Debug)]
pub(super) struct Saving(Rc<Saves>);

impl Drop for Saving {
    fn drop(&mut self) {
        let saves = &self.0;
        saves.running.set(saves.running.get() - 1);
        if saves.running.get() == 0 {
            saves.idle_times.set(saves.idle_times.get() + 1);
            for waker in saves.waiting.take() {
                waker.wake();
            }
        }
    }
}

impl Idle<'_> {
    /// Whether it waits for saves at all (one was in progress when asked).
    pub(super) fn waits(&self) -> bool {
        self.since.is_some()
    }
}

/// The future of [`Saves::idle`].
pub(super) struct Idle<'a> {
    saves: &'a Saves,
    /// `idle_times` when it was asked, if a save was running then.
    since: Option<u64>,
}

impl Future for Idle<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.since {
            Some(since) if self.saves.idle_times.get() == since => {
                self.saves.waiting.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    }
}
