//! Idempotency keys in flight: a write waits for (push) or is refused
//! while (single-record form) the same user's same key is being applied.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Slot = Arc<AsyncMutex<()>>;

/// Per-(user, key) locks, dropped from the table when nobody holds or
/// waits for them.
#[derive(Debug, Default)]
pub struct KeyLocks {
    slots: Mutex<HashMap<(String, String), Slot>>,
}

/// Holds a key until dropped.
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    id: (String, String),
    slot: Slot,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyLocks {
    fn slot(&self, id: &(String, String)) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(id.clone()).or_default().clone()
    }

    /// Waits until the key is free, then holds it.
    pub async fn lock(&self, user: &str, key: &str) -> KeyGuard<'_> {
        let id = (user.to_owned(), key.to_owned());
        let slot = self.slot(&id);
        let guard = slot.clone().lock_owned().await;
        KeyGuard {
            locks: self,
            id,
            slot,
            guard: Some(guard),
        }
    }

    /// Holds the key if it is free, or returns `None` while it is in flight.
    pub fn try_lock(&self, user: &str, key: &str) -> Option<KeyGuard<'_>> {
        let id = (user.to_owned(), key.to_owned());
        let slot = self.slot(&id);
        let guard = slot.clone().try_lock_owned().ok();
        let held = KeyGuard {
            locks: self,
            id,
            slot,
            guard,
        };
        // Dropping a guard without the lock still tidies the table.
        held.guard.is_some().then_some(held)
    }

    /// How many keys are in the table (for tests).
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no key is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut slots = self.locks.slots.lock().unwrap_or_else(|p| p.into_inner());
        self.guard.take();
        // Clones are only made under the table lock, so two references
        // (the table's and ours) mean nobody else holds or waits.
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_key_is_refused_then_freed() {
        let locks = KeyLocks::default();
        let held = locks.lock("alice", "k").await;
        assert!(locks.try_lock("alice", "k").is_none());
        assert!(locks.try_lock("bob", "k").is_some());
        drop(held);
        assert!(locks.try_lock("alice", "k").is_some());
        assert!(locks.is_empty());
    }
}
