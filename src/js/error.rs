//! Turns Rust errors into JavaScript `Error` objects with a stable `code`.

use wasm_bindgen::JsValue;

use crate::core::StoreError;

/// The `name` of every error this package throws.
pub const ERROR_NAME: &str = "OutboxError";

/// Anything that can become an `OutboxError` for JavaScript.
pub trait ErrorCode: std::fmt::Display {
    /// The stable code a program can match on, such as `"quota_exceeded"`.
    fn code(&self) -> &str;

    /// The technical cause for developers, kept out of the message (the
    /// error's `detail` property); `None` by default.
    fn detail(&self) -> Option<String> {
        None
    }
}

impl ErrorCode for StoreError {
    fn code(&self) -> &str {
        StoreError::code(self)
    }

    fn detail(&self) -> Option<String> {
        StoreError::detail(self)
    }
}

// Lets `?` carry a store error to the JS boundary as an `OutboxError`.
impl From<StoreError> for JsValue {
    fn from(error: StoreError) -> Self {
        js_error(&error)
    }
}

/// A bad argument from JavaScript, found before anything was stored.
#[derive(Debug)]
pub struct InvalidArgument(pub String);

impl std::fmt::Display for InvalidArgument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl ErrorCode for InvalidArgument {
    fn code(&self) -> &str {
        "invalid_argument"
    }
}

/// `syncNow()` before `connect()`: there is no server to sync with.
#[derive(Debug)]
pub struct NotConnected;

impl std::fmt::Display for NotConnected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("No sync server is set: call outbox.connect({ serverUrl, token }) first.")
    }
}

impl ErrorCode for NotConnected {
    fn code(&self) -> &str {
        "not_connected"
    }
}

/// A sync that must wait (offline, server busy), reported to the browser so
/// that it fires the Background Sync event again later.
#[derive(Debug)]
pub struct RetryLater(pub String);

impl std::fmt::Display for RetryLater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; the browser will try again later.", self.0)
    }
}

impl ErrorCode for RetryLater {
    fn code(&self) -> &str {
        "retry_later"
    }
}

/// `signOut()` while changes have not reached the server.
#[derive(Debug)]
pub struct PendingChanges(pub u32);

impl std::fmt::Display for PendingChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.0;
        let what = if count == 1 {
            "change has"
        } else {
            "changes have"
        };
        write!(
            f,
            "{count} {what} not reached the server yet, so nothing was deleted. \
             Sync first, or sign out with {{ discardPending: true }} to delete them."
        )
    }
}

impl ErrorCode for PendingChanges {
    fn code(&self) -> &str {
        "pending_changes"
    }
}

/// A JavaScript `Error` named `OutboxError`, with `code` set (and `detail`
/// when there is a technical cause), for `error`.
pub fn js_error(error: &dyn ErrorCode) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    js.set_name(ERROR_NAME);
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(
        &js,
        &JsValue::from_str("code"),
        &JsValue::from_str(error.code()),
    );
    if let Some(detail) = error.detail() {
        let _ = js_sys::Reflect::set(&js, &JsValue::from_str("detail"), &detail.into());
    }
    js.into()
}
