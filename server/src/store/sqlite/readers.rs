//! The reader connections: several, so pulls, record reads and audit reads
//! of concurrent requests run side by side (in WAL mode readers never wait
//! for the writer or for one another). One connection behind one lock made
//! every read of the server wait its turn, pulls included.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use rusqlite::Connection;

use super::lock;

/// How many reader connections a store opens: a few per core of a small
/// machine; each keeps its own page cache.
pub const READERS: usize = 4;

/// Reader connections, each used by one request at a time.
pub struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    /// Readers over `conns` (at least one).
    pub fn new(conns: Vec<Connection>) -> Self {
        assert!(!conns.is_empty(), "a store needs a reader connection");
        Readers {
            conns: conns.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// A free reader, or, when all are busy, the next one in turn once it
    /// is free.
    pub fn get(&self) -> MutexGuard<'_, Connection> {
        for conn in &self.conns {
            match conn.try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        lock(&self.conns[turn])
    }
}
