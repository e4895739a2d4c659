//! Checkpoints off the writer's path. In WAL mode SQLite copies committed
//! pages from the `-wal` file into the database file (a checkpoint), by
//! default inside the commit that takes the log past 1000 pages: that
//! commit's answer, and every push waiting for the writer behind it, then
//! wait for some 700 page writes and a flush of the database file (under
//! the 32-client load test: a checkpoint every third of a second, each
//! holding the writer for tens of milliseconds on a busy disk). Here a
//! thread of its own runs a `PASSIVE` checkpoint every [`INTERVAL`] on its
//! own connection, beside the writer (a passive checkpoint never waits for
//! readers or the writer).
//!
//! **Restarting the log.** A checkpoint copies pages; it does not shorten
//! the log. SQLite starts writing the log from its beginning again only
//! when a write transaction begins while every page in it has been copied
//! and no reader still reads from it. Under steady pushes and pulls that
//! moment never comes on its own (some pull always holds a snapshot, and
//! new commits arrive while a checkpoint copies), so the log grew to the
//! writer's fallback and every commit checkpointed again. So once a
//! passive pass has copied a log of [`RESTART_PAGES`] or more, this thread
//! asks the writer ([`Restart`]): between two group commits the writer
//! runs a `RESTART` checkpoint ([`restart`]: it copies the few pages
//! committed since the pass and waits, at most [`RESTART_WAIT`], for the
//! readers still on the log), and its next transaction writes the log from
//! the start. The thread skips its passes while the request is pending (a
//! pass would hold the checkpoint lock the writer's `RESTART` needs); if
//! the writer leaves it pending for a whole turn (it is idle), the thread
//! restarts the log itself.
//!
//! **Passes paced by the log, not only the clock.** At 8k events/s the
//! log grows some 20 000 pages a second, so a pass every 200 ms fell
//! behind and the writer's fallback fired dozens of times in 30 s. The
//! writer's log hook notes the log's length after each commit, and once
//! it grew [`WAKE_PAGES`] since the last wake the writer wakes the thread
//! ([`Wake`]) for a pass right away; the timer remains for a quiet log.
//!
//! The writer checkpoints inside a commit only past
//! [`WRITER_FALLBACK_PAGES`], should all this fall behind; such commits are
//! counted ([`writer_checkpoints`]) and logged. Durability is unchanged: a
//! commit is on disk in the log before it is answered, and a checkpoint
//! flushes the database file before the log is reused.

use std::os::raw::c_int;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::hooks::Wal;
use rusqlite::Connection;

use crate::store::StoreError;

/// How often the checkpointer copies what was committed since its last turn.
const INTERVAL: Duration = Duration::from_millis(200);

/// The log grown by this many pages (of 4 KiB: 4 MiB) since the writer
/// last woke the thread wakes it again.
pub const WAKE_PAGES: c_int = 1_000;

/// A log this long (pages of 4 KiB, about 16 MiB), once copied, is
/// restarted from its beginning.
pub const RESTART_PAGES: i64 = 4_000;

/// The longest a `RESTART` checkpoint waits for the write lock or for
/// readers to leave the log before it gives up until the next turn.
pub const RESTART_WAIT: Duration = Duration::from_millis(10);

/// If the log grows this many pages (about 40 MiB), a commit of the
/// writer checkpoints it itself (SQLite's `wal_autocheckpoint`, here a hook
/// that also counts).
pub const WRITER_FALLBACK_PAGES: c_int = 10_000;

/// Commits that checkpointed inside the writer (past the fallback size),
/// in this process.
static WRITER_CHECKPOINTS: AtomicU64 = AtomicU64::new(0);

/// How many commits of any SQLite store in this process had to checkpoint
/// the log themselves, past [`WRITER_FALLBACK_PAGES`] (0 while the
/// checkpoint thread keeps up and restarts the log).
pub fn writer_checkpoints() -> u64 {
    WRITER_CHECKPOINTS.load(Ordering::Relaxed)
}

/// Installs the writer's fallback on `conn`: after a commit that leaves
/// the log at [`WRITER_FALLBACK_PAGES`] or more, a passive checkpoint in
/// the committing thread (what `wal_autocheckpoint` does), counted.
pub fn install_fallback(conn: &Connection) {
    conn.wal_hook(Some(fallback));
}

thread_local! {
    /// The log's length in pages after this thread's last commit.
    static LOG_PAGES: std::cell::Cell<c_int> = const { std::cell::Cell::new(0) };
}

fn fallback(wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    LOG_PAGES.with(|log| log.set(pages));
    if pages < WRITER_FALLBACK_PAGES {
        return Ok(());
    }
    let count = WRITER_CHECKPOINTS.fetch_add(1, Ordering::Relaxed) + 1;
    if count.is_power_of_two() {
        tracing::warn!(
            pages,
            count,
            "the log outgrew the background checkpoints, so commits copy it themselves and answer later; this passes once the load drops"
        );
    }
    // Busy (another checkpoint is running) is not a failure of the commit.
    match wal.checkpoint() {
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => Ok(()),
        other => other,
    }
}

/// The writer's bell for the checkpoint thread: rung after a commit that
/// grew the log [`WAKE_PAGES`] since the last ring.
pub struct Wake {
    bell: SyncSender<()>,
    rung_at: c_int,
}

impl Wake {
    /// After a commit on this thread: wakes the checkpoint thread when the
    /// log grew enough (never blocks; a ring already pending is enough).
    pub fn after_commit(&mut self) {
        let pages = LOG_PAGES.with(std::cell::Cell::get);
        if pages < self.rung_at {
            // The log restarted.
            self.rung_at = 0;
        }
        if pages - self.rung_at >= WAKE_PAGES {
            self.rung_at = pages;
            let _ = self.bell.try_send(());
        }
    }
}

/// The checkpoint thread's request that the writer restart the log.
#[derive(Clone, Default)]
pub struct Restart(Arc<AtomicBool>);

impl Restart {
    /// Whether a restart was asked for; clears the request.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }

    fn ask(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn pending(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The checkpoint thread; stopped and joined when dropped.
pub struct Checkpointer {
    /// Its bell; the thread ends once this and every [`Wake`] are gone.
    stop: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` through `conn`, a
    /// connection of its own; asks for log restarts through `restart`.
    pub fn start(conn: Connection, path: &Path, restart: Restart) -> Result<Self, StoreError> {
        let (stop, stopped) = mpsc::sync_channel::<()>(1);
        let file = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || {
                // A turn when rung or every INTERVAL, until the store and
                // the writer dropped their senders.
                while !matches!(stopped.recv_timeout(INTERVAL), Err(RecvTimeoutError::Disconnected)) {
                    if let Err(error) = turn(&conn, &restart) {
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

    /// The bell the writer rings after its commits (see [`Wake`]).
    pub fn wake(&self) -> Wake {
        Wake {
            bell: self.stop.clone().expect("the bell lives until drop"),
            rung_at: 0,
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One turn of the thread: a passive pass, and a restart request when it
/// copied a long log; or, when the writer left the last request pending
/// (idle), the restart itself.
fn turn(conn: &Connection, restart: &Restart) -> rusqlite::Result<()> {
    if restart.pending() {
        if restart.take() {
            self::restart(conn)?;
        }
        return Ok(());
    }
    let (log, copied) = checkpoint(conn)?;
    // Readers still on the log can keep a pass from copying its last
    // pages; the writer's `RESTART` copies those (and waits for them).
    if log >= RESTART_PAGES && log - copied < RESTART_PAGES / 4 {
        restart.ask();
    }
    Ok(())
}

/// One passive checkpoint; returns (pages in the log, pages copied).
pub fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}

/// A `RESTART` checkpoint on `conn` waiting at most about [`RESTART_WAIT`]
/// for the write lock and the readers; returns whether it got them (the
/// next write transaction then starts the log over). `conn`'s busy timeout
/// is left at 5 s, what every store connection has.
pub fn restart(conn: &Connection) -> rusqlite::Result<bool> {
    conn.busy_handler(Some(briefly))?;
    let busy = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
        row.get::<_, i64>(0)
    });
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(busy? == 0)
}

/// A busy handler polling every 200 µs for about [`RESTART_WAIT`] (SQLite's
/// own sleeps 1, 2, 5, 10 ms… and would hold the writer longer).
fn briefly(count: c_int) -> bool {
    const POLL: Duration = Duration::from_micros(200);
    if POLL * (count.max(0) as u32) >= RESTART_WAIT {
        return false;
    }
    std::thread::sleep(POLL);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn
    }

    #[test]
    fn the_writer_rings_once_per_wake_pages_of_log_and_again_after_a_restart() {
        let (bell, rings) = mpsc::sync_channel(1);
        let mut wake = Wake { bell, rung_at: 0 };
        let after = |wake: &mut Wake, pages: c_int| {
            LOG_PAGES.with(|log| log.set(pages));
            wake.after_commit();
            rings.try_recv().is_ok()
        };
        assert!(!after(&mut wake, WAKE_PAGES - 1));
        assert!(after(&mut wake, WAKE_PAGES));
        assert!(!after(&mut wake, WAKE_PAGES + 10));
        assert!(after(&mut wake, 2 * WAKE_PAGES + 10));
        // The log restarted: counted from its new start.
        assert!(!after(&mut wake, 5));
        assert!(after(&mut wake, WAKE_PAGES));
    }

    #[test]
    fn a_copied_log_is_restarted_once_the_readers_left_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let writer = open(&path);
        install_fallback(&writer);
        writer.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        // More than RESTART_PAGES pages of 4 KiB in the log.
        for _ in 0..10 {
            writer
                .execute_batch(
                    "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
                     INSERT INTO t SELECT randomblob(4000) FROM n; COMMIT;",
                )
                .unwrap();
        }
        // A pull's snapshot, taken while the log held uncopied pages.
        let reader = open(&path);
        reader.execute_batch("BEGIN").unwrap();
        let rows: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 5000);

        // The thread's pass copies it all and asks the writer to restart.
        let checkpointer = open(&path);
        let asked = Restart::default();
        turn(&checkpointer, &asked).unwrap();
        assert!(
            asked.take(),
            "a copied log of 5000+ pages asks for a restart"
        );
        // While the reader is still on the log, the writer gives up soon.
        assert!(!restart(&writer).unwrap(), "a reader on the log holds it");
        reader.execute_batch("COMMIT").unwrap();
        assert!(restart(&writer).unwrap());
        // The next commit writes the log from its start.
        writer
            .execute("INSERT INTO t VALUES (randomblob(10))", [])
            .unwrap();
        let (log, _) = checkpoint(&checkpointer).unwrap();
        assert!(log < 10, "the log restarted: {log} pages in it");
        // The writer's fallback never fired, and its busy timeout is back.
        assert_eq!(writer_checkpoints(), 0);
        reader.execute_batch("BEGIN IMMEDIATE").unwrap();
        let waited = std::thread::spawn(move || writer.execute_batch("BEGIN IMMEDIATE; COMMIT"));
        std::thread::sleep(Duration::from_millis(100));
        reader.execute_batch("COMMIT").unwrap();
        waited
            .join()
            .unwrap()
            .expect("the writer waits for the lock as long as before");
    }
}
