//! Checkpoints off the writer's path. In WAL mode SQLite copies committed
//! pages from the `-wal` file into the database file (a checkpoint), by
//! default inside the commit that takes the log past 1000 pages: that
//! commit's answer, and every push waiting for the writer behind it, then
//! wait for some 700 page writes and a flush of the database file (under
//! the 32-client load test: a checkpoint every third of a second, each
//! holding the writer for tens of milliseconds on a busy disk). Here a
//! thread of its own runs a `PASSIVE` checkpoint every [`INTERVAL`] on its
//! own connection, beside the writer (a passive checkpoint never waits for
//! readers or the writer); the writer checkpoints itself only past
//! [`WRITER_FALLBACK_PAGES`], should this thread fall behind. Durability is
//! unchanged: a commit is on disk in the log before it is answered, and a
//! checkpoint flushes the database file before the log is reused.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// How often the checkpointer copies what was committed since its last turn.
const INTERVAL: Duration = Duration::from_millis(200);

/// The writer's own `wal_autocheckpoint`: only if the log grows this many
/// pages (about 40 MiB) does a commit checkpoint it itself.
pub const WRITER_FALLBACK_PAGES: i64 = 10_000;

/// The checkpoint thread; stopped and joined when dropped.
pub struct Checkpointer {
    stop: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` through `conn`, a
    /// connection of its own.
    pub fn start(conn: Connection, path: &Path) -> Result<Self, StoreError> {
        let (stop, stopped) = mpsc::sync_channel::<()>(1);
        let file = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || {
                // Until the store drops the sender (or sends a stop).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    if let Err(error) = checkpoint(&conn) {
                        tracing::warn!(%error, file, "background checkpoint failed; the writer checkpoints past its fallback size");
                    }
                }
            })
            .map_err(|e| StoreError::Other(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// One passive checkpoint; returns (pages in the log, pages copied).
pub fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
