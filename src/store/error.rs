//! Turns IndexedDB failures into [`StoreError`]s a person can act on.

use indexed_db_futures::error::{Error, OpenDbError};

use crate::core::StoreError;

/// Maps a failed IndexedDB request or transaction.
pub fn from_idb(error: Error) -> StoreError {
    match error {
        Error::DomException(e) => {
            let e = web_sys::DomException::from(e);
            from_dom_name(&e.name(), &e.message())
        }
        Error::Serialisation(e) => StoreError::Corrupt(e.to_string()),
        Error::MissingData(e) => StoreError::Backend {
            name: "AbortError".into(),
            message: e.to_string(),
        },
        Error::Unknown(e) => StoreError::Backend {
            name: "Error".into(),
            message: e.to_string(),
        },
    }
}

/// Maps a failure to open the database.
pub fn from_open(error: OpenDbError) -> StoreError {
    match error {
        OpenDbError::Base(e) => from_idb(e),
        OpenDbError::UnsupportedEnvironment | OpenDbError::NullFactory => {
            StoreError::Unavailable("IndexedDB is missing".into())
        }
        other => StoreError::Backend {
            name: "OpenError".into(),
            message: other.to_string(),
        },
    }
}

/// Maps a DOMException by its name, the stable part of it.
pub fn from_dom_name(name: &str, message: &str) -> StoreError {
    match name {
        "QuotaExceededError" => StoreError::QuotaExceeded,
        // Thrown where storage is disabled, such as some private modes.
        "SecurityError" => StoreError::Unavailable(message.to_owned()),
        _ => StoreError::Backend {
            name: name.to_owned(),
            message: message.to_owned(),
        },
    }
}

// Lets the store use `?` on IndexedDB results; the mapping is `from_idb`.
impl From<Error> for StoreError {
    fn from(error: Error) -> Self {
        from_idb(error)
    }
}
