//! What a PostgreSQL failure means for a request: retry the transaction,
//! retry on another connection, answer `503` (busy), or fail.

use std::time::Duration;

use postgres::error::SqlState;

use super::connect::describe;
use crate::store::StoreError;

/// Why a transaction stopped.
pub enum Fault {
    /// PostgreSQL refused or the connection failed.
    Db(postgres::Error),
    /// Anything else (unreadable stored JSON).
    Store(StoreError),
}

impl From<postgres::Error> for Fault {
    fn from(error: postgres::Error) -> Self {
        Fault::Db(error)
    }
}

impl From<StoreError> for Fault {
    fn from(error: StoreError) -> Self {
        Fault::Store(error)
    }
}

/// The connection is gone: closed, reset (a socket error), or ended by a
/// database shutting down.
pub fn connection_lost(error: &postgres::Error) -> bool {
    let io = std::error::Error::source(error).is_some_and(|cause| cause.is::<std::io::Error>());
    io || error.is_closed()
        || matches!(
            error.code(),
            Some(&SqlState::ADMIN_SHUTDOWN | &SqlState::CRASH_SHUTDOWN)
        )
}

/// Aborted transactions that another attempt can get through.
pub fn retryable(error: &postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(
            &SqlState::T_R_SERIALIZATION_FAILURE
                | &SqlState::T_R_DEADLOCK_DETECTED
                | &SqlState::UNIQUE_VIOLATION
        )
    )
}

/// `Busy` (the client retries after `Retry-After`) for waits, overload and
/// lost connections; `Other` for the rest.
pub fn classify(error: &postgres::Error) -> StoreError {
    let busy = connection_lost(error)
        || matches!(
            error.code(),
            Some(
                &SqlState::LOCK_NOT_AVAILABLE
                    | &SqlState::QUERY_CANCELED
                    | &SqlState::TOO_MANY_CONNECTIONS
                    | &SqlState::CANNOT_CONNECT_NOW
                    | &SqlState::ADMIN_SHUTDOWN
                    | &SqlState::T_R_SERIALIZATION_FAILURE
                    | &SqlState::T_R_DEADLOCK_DETECTED
            )
        );
    if busy {
        tracing::warn!(error = %describe(error), "PostgreSQL is busy or unreachable");
        StoreError::Busy
    } else {
        StoreError::Other(format!("PostgreSQL: {}", describe(error)))
    }
}

/// A few milliseconds that differ between threads, so transactions that
/// deadlocked do not collide again in step.
pub fn jitter() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    Duration::from_micros(u64::from(nanos % 5_000))
}
