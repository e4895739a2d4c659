//! Errors of the pure core, each worded so a developer knows what to change.

use std::fmt;

use super::event::EventState;

/// Why an event or record was refused before anything was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationError {
    /// The collection name is empty.
    EmptyCollection,
    /// The collection name is longer than the limit.
    CollectionTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The collection name has a character other than ASCII letters, digits, `_`, `-`, `.`.
    CollectionChars {
        /// The first such character.
        found: char,
    },
    /// The record id is empty.
    EmptyRecordId,
    /// The record id holds a control character (such as a line break).
    RecordIdControlChars,
    /// The record id is longer than the limit.
    RecordIdTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A put or patch payload is not an object.
    PayloadNotObject {
        /// The operation ("put" or "patch").
        op: &'static str,
        /// What the payload was instead ("an array").
        found: &'static str,
    },
    /// A delete carries a payload.
    DeleteWithPayload,
    /// A patch changes no field.
    EmptyPatch,
    /// The payload nests arrays and objects too deeply.
    PayloadTooDeep {
        /// Its depth.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// A batch holds no event.
    EmptyBatch,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyCollection => {
                f.write_str("The collection name is empty: pass a name such as \"notes\".")
            }
            Self::CollectionTooLong { len, max } => write!(
                f,
                "The collection name is {len} bytes long; use at most {max}."
            ),
            Self::CollectionChars { found } => write!(
                f,
                "The collection name contains {found:?}; use only letters a-z and A-Z, digits, '_', '-' and '.'."
            ),
            Self::RecordIdControlChars => f.write_str(
                "The record id contains a control character such as a line break; remove it.",
            ),
            Self::EmptyRecordId => {
                f.write_str("The record id is empty: pass the id of the record to change.")
            }
            Self::RecordIdTooLong { len, max } => {
                write!(f, "The record id is {len} bytes long; use at most {max}.")
            }
            Self::PayloadNotObject { op, found } => write!(
                f,
                "A {op} needs an object of fields as its payload, but got {found}."
            ),
            Self::DeleteWithPayload => {
                f.write_str("A delete takes no payload: pass null or leave it out.")
            }
            Self::EmptyPatch => {
                f.write_str("The patch changes no field: pass at least one field to change.")
            }
            Self::PayloadTooDeep { depth, max } => write!(
                f,
                "The payload nests {depth} levels deep; flatten it to at most {max}."
            ),
            Self::EmptyBatch => f.write_str("The batch is empty: pass at least one change."),
        }
    }
}

impl std::error::Error for ValidationError {}

/// A state change the outbox state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionError {
    /// The event's state.
    pub from: EventState,
    /// The state that was asked for.
    pub to: EventState,
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "An event that is {} cannot become {}; reload the outbox and try again.",
            self.from.as_str(),
            self.to.as_str()
        )
    }
}

impl std::error::Error for TransitionError {}

/// Why an outbox operation did not happen. Nothing was changed when it is returned.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// The change was refused before anything was stored.
    Invalid(ValidationError),
    /// The event is not in a state that allows the operation.
    Transition(TransitionError),
    /// The event is being sent or already delivered, so it cannot be discarded.
    CannotDiscard(EventState),
    /// An event with this id is already in the outbox.
    DuplicateEvent(String),
    /// No event with this id is in the outbox.
    EventNotFound(String),
    /// The device is out of storage space for this site.
    QuotaExceeded,
    /// Another tab keeps an older version of the database open.
    UpgradeBlocked,
    /// The database was written by a newer version of the library.
    NewerSchema {
        /// The version found on the device.
        found: u32,
        /// The newest version this library knows.
        supported: u32,
    },
    /// The browser offers no usable storage here (private mode, disabled storage).
    Unavailable(String),
    /// A stored value could not be read back.
    Corrupt(String),
    /// Any other storage failure, with the browser's error name and message.
    Backend {
        /// The browser's error name, such as `"AbortError"`.
        name: String,
        /// The browser's message.
        message: String,
    },
}

impl StoreError {
    /// A stable code for programs, such as `"quota_exceeded"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_change",
            Self::Transition(_) => "invalid_state",
            Self::CannotDiscard(_) => "cannot_discard",
            Self::DuplicateEvent(_) => "duplicate_event",
            Self::EventNotFound(_) => "event_not_found",
            Self::QuotaExceeded => "quota_exceeded",
            Self::UpgradeBlocked => "upgrade_blocked",
            Self::NewerSchema { .. } => "newer_schema",
            Self::Unavailable(_) => "storage_unavailable",
            Self::Corrupt(_) => "corrupt_data",
            Self::Backend { .. } => "storage_error",
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(e) => e.fmt(f),
            Self::Transition(e) => e.fmt(f),
            Self::CannotDiscard(EventState::Synced) => f.write_str("This change was already delivered, so there is nothing to discard."),
            Self::CannotDiscard(_) => f.write_str("This change is being sent right now; wait for the attempt to finish, then discard it."),
            Self::DuplicateEvent(id) => write!(f, "An event with id {id} is already saved; each change needs a new id."),
            Self::EventNotFound(id) => write!(f, "No change with id {id} is saved on this device; it may have been discarded or delivered."),
            Self::QuotaExceeded => f.write_str("This device is out of storage space for the app, so the change was not saved. Free some space and try again."),
            Self::UpgradeBlocked => f.write_str("Another tab of this app is still open from before an update. Close the other tabs and reload."),
            Self::NewerSchema { .. } => f.write_str("The saved data comes from a newer release of the app. Update the app and reload."),
            Self::Unavailable(_) => f.write_str("This browser offers no storage for the app here. Leave private browsing or allow site data, then reload."),
            Self::Corrupt(_) => f.write_str("Saved data could not be read. Nothing was changed; report this to the app's developers."),
            Self::Backend { .. } => f.write_str("Saving on this device failed. Nothing was changed; try again."),
        }
    }
}

impl StoreError {
    /// The technical cause for developers (kept out of the message people
    /// read), or `None` when the message says it all.
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::NewerSchema { found, supported } => Some(format!(
                "database schema version {found}; this library reads up to {supported}"
            )),
            Self::Unavailable(why) | Self::Corrupt(why) => Some(why.clone()),
            Self::Backend { name, message } => Some(format!("{name}: {message}")),
            _ => None,
        }
    }
}

impl std::error::Error for StoreError {}

impl From<ValidationError> for StoreError {
    fn from(e: ValidationError) -> Self {
        StoreError::Invalid(e)
    }
}

impl From<TransitionError> for StoreError {
    fn from(e: TransitionError) -> Self {
        StoreError::Transition(e)
    }
}
