//! Words for people, detail for developers.
//!
//! What a field worker reads (`lastError`, a conflict's `reason`, a change's
//! `lastError`) is a sentence with no versions, byte counts, flags, HTTP terms
//! or ids, saying what to do. What a developer needs (the server's own message,
//! the status, the limit) goes in a separate detail, shown as `lastErrorDetail`
//! / `reasonDetail` and on the console with `debug`.
//!
//! The store keeps one string per reason; [`Reason::encode`] packs the
//! sentence, the detail and whether a retry can help into it, and
//! [`Reason::decode`] unpacks it at the JS boundary. A stored reason written
//! before this format decodes as a sentence with no detail.

/// Separates the parts of an encoded reason (the ASCII unit separator: never
/// in a sentence).
const SEPARATOR: char = '\u{1f}';
/// Marks a reason no retry can fix (the change itself must change).
const FINAL: &str = "final";

/// Nothing answered and the browser says it is offline.
pub const OFFLINE: &str = "No internet connection";
/// Nothing answered although the browser says it is online: the server (or
/// the way to it) is down.
pub const UNREACHABLE: &str = "The server cannot be reached";
/// No answer in time.
pub const NOT_ANSWERING: &str = "The server is not answering";
/// Too many requests (`429`).
pub const BUSY: &str = "Server busy";
/// A server error (`5xx`).
pub const UNAVAILABLE: &str = "Server unavailable";
/// The server's answer named some changes of a batch but not this one.
pub const NO_ANSWER_FOR_CHANGE: &str =
    "The server did not answer for this change; it will be sent again.";
/// For the status line: the answer left out some changes of a batch.
pub const ANSWER_LEFT_OUT: &str = "The server's answer left out some changes";
/// A refused batch is being sent again change by change, to find the one at fault.
pub const ONE_AT_A_TIME: &str = "Sending again, one change at a time.";
/// Left waiting when a drain stopped before reaching it.
pub const NOT_SENT_YET: &str = "Not sent yet; it will be sent with the next attempt.";
/// The drainer sending it went away (tab closed, worker stopped).
pub const INTERRUPTED: &str = "Sending was interrupted; it will be sent again.";
/// Pulling: the server asked for a full resync twice in a row.
pub const PULL_NOT_FETCHED: &str =
    "The latest changes from the server did not arrive; the app will try again later.";
/// Pulling: the server refused to send changes.
pub const PULL_REFUSED: &str =
    "The server would not send the latest changes. Tell whoever runs it; your own changes are saved.";
/// Pulling: a page of changes could not be read.
pub const PULL_UNREADABLE: &str =
    "The latest changes from the server could not be read; the app will try again later.";

/// A `401`: sending stops until the app supplies new credentials.
pub const SIGN_IN_AGAIN: &str =
    "Sign in again to send your changes; they are saved on this device.";

/// A sentence for people, the detail for developers, and whether a retry can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// What the user reads.
    pub text: String,
    /// What a developer needs to find the cause; `None` when the text says it all.
    pub detail: Option<String>,
    /// Whether trying again (unchanged) can succeed.
    pub can_retry: bool,
}

impl Reason {
    /// A sentence with no detail that a retry may fix.
    pub fn new(text: &str) -> Reason {
        Reason {
            text: text.to_owned(),
            detail: None,
            can_retry: true,
        }
    }

    /// The same reason with a developer's detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Reason {
        let detail = detail.into();
        self.detail = (!detail.is_empty()).then(|| detail.replace(SEPARATOR, " "));
        self
    }

    /// The same reason, marked as one no retry can fix.
    pub fn never_retry(mut self) -> Reason {
        self.can_retry = false;
        self
    }

    /// One string for the store: the sentence, then the detail and the mark.
    pub fn encode(&self) -> String {
        let mut out = self.text.replace(SEPARATOR, " ");
        if self.detail.is_some() || !self.can_retry {
            out.push(SEPARATOR);
            out.push_str(self.detail.as_deref().unwrap_or(""));
        }
        if !self.can_retry {
            out.push(SEPARATOR);
            out.push_str(FINAL);
        }
        out
    }

    /// Unpacks what [`encode`](Self::encode) wrote (a plain sentence decodes as itself).
    pub fn decode(stored: &str) -> Reason {
        let mut parts = stored.split(SEPARATOR);
        let text = parts.next().unwrap_or("").to_owned();
        let detail = parts.next().filter(|d| !d.is_empty()).map(str::to_owned);
        let can_retry = parts.next() != Some(FINAL);
        Reason {
            text,
            detail,
            can_retry,
        }
    }
}

/// The sentence alone of a stored reason.
pub fn text_of(stored: &str) -> &str {
    stored.split(SEPARATOR).next().unwrap_or("")
}

/// A developer's detail of an HTTP answer: "HTTP 503 unavailable: message".
pub fn http_detail(status: u16, code: Option<&str>, message: Option<&str>) -> String {
    let mut detail = format!("HTTP {status}");
    if let Some(code) = code {
        detail.push(' ');
        detail.push_str(code);
    }
    if let Some(message) = message {
        detail.push_str(": ");
        detail.push_str(message);
    }
    detail
}

/// Why a whole request was refused (`400`, `403`, `413`, …), in words.
pub fn refused(status: u16, code: Option<&str>, message: Option<&str>) -> Reason {
    let detail = http_detail(status, code, message);
    match (status, code) {
        (413, _) => Reason::new(
            "This change is too large to send. Make it smaller (for example, attach a smaller \
             photo) and save it again, or discard it.",
        )
        .never_retry(),
        (403, _) => Reason::new(
            "You are not allowed to make this change. Ask whoever runs the server for access, \
             or discard the change.",
        ),
        (404, _) | (405, _) => Reason::new(
            "The app cannot find its server at this address. Tell whoever set up the app; \
             your change stays on this device.",
        ),
        _ => Reason::new(
            "The server cannot accept this change as it is. Discard it, or tell the app's \
             developers.",
        )
        .never_retry(),
    }
    .with_detail(detail)
}

/// Why the server refused one change of a batch (`rejected` with `code`), in words.
pub fn rejected(code: &str, message: &str) -> Reason {
    let detail = format!("rejected {code}: {message}");
    match code {
        "unknown_collection" => Reason::new(
            "The server is not set up to keep this kind of change yet. Ask whoever runs the \
             server to set it up, then retry; the change stays on this device.",
        ),
        "body_too_large" | "payload_too_large" => Reason::new(
            "This change is too large to send. Make it smaller (for example, attach a smaller \
             photo) and save it again, or discard it.",
        )
        .never_retry(),
        _ => Reason::new(
            "The server cannot accept this change as it is. Discard it, or tell the app's \
             developers.",
        )
        .never_retry(),
    }
    .with_detail(detail)
}

/// A change whose file is not on the server yet (`blob_missing`): it waits
/// for the file's upload and is sent again.
pub fn waiting_for_file(message: &str) -> Reason {
    Reason::new("Waiting for its photo or file to finish sending; it will be sent after.")
        .with_detail(format!("rejected blob_missing: {message}"))
}

/// Why the server refused a file for good (a chunk answer with `code`).
pub fn file_refused(code: Option<&str>) -> Reason {
    match code {
        Some("blob_too_large" | "blob_chunk_too_large") => Reason::new(
            "This file is too large for the server. Attach a smaller one, or tell whoever \
             runs the server.",
        )
        .never_retry(),
        _ => Reason::new(
            "The server cannot accept this file as it is. Attach it again, or tell the app's \
             developers.",
        )
        .never_retry(),
    }
}

/// A conflict: someone else changed the same thing first.
pub fn conflict(fields: &[String], message: &str) -> Reason {
    let mut detail = format!("conflict: {message}");
    if !fields.is_empty() {
        detail.push_str(&format!(
            " (fields changed on both sides: {})",
            fields.join(", ")
        ));
    }
    Reason::new("This was changed on another device at the same time. Choose what to keep.")
        .with_detail(detail)
}

/// The server's answer could not be read.
pub fn unreadable_answer(why: &str) -> Reason {
    Reason::new("The server sent an answer the app cannot read; it will try again.")
        .with_detail(format!("malformed answer: {why}"))
}

/// The server answered for a change with another record's data.
pub fn wrong_record(other: &str) -> Reason {
    Reason::new(
        "The server's answer did not match this change, so it was not used. Retry it; if it \
         keeps happening, tell whoever runs the server.",
    )
    .with_detail(format!("the answer names another record: {other}"))
}

/// Words a person should never have to read: sizes, flags, HTTP terms, ids,
/// code names. Every user-facing sentence is held against them. "Your
/// version" is a fine thing to say; a version *number* is not: numbers are
/// refused in reasons by [`developer_words_in`], and `version` followed by a
/// number by the page checks of the demo's tests.
pub const DEVELOPER_WORDS: &[&str] = &[
    "byte",
    "--",
    "http",
    "status",
    "request",
    "response",
    "body",
    "payload",
    "json",
    "header",
    "token",
    "code",
    " id",
    "uuid",
    "event",
    "collection",
    "record",
    "field",
    "null",
    "undefined",
    "error:",
    "4xx",
    "5xx",
    "_",
    "fetch",
    "cors",
    "schema",
];

/// The developer words `text` holds, if any (case-insensitive; digits too:
/// people read no numbers in a reason).
pub fn developer_words_in(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut found: Vec<String> = DEVELOPER_WORDS
        .iter()
        .filter(|w| lower.contains(*w))
        .map(|w| (*w).to_owned())
        .collect();
    if lower.chars().any(|c| c.is_ascii_digit()) {
        found.push("a number".to_owned());
    }
    found
}

#[cfg(all(test, not(target_family = "wasm")))]
#[path = "words_tests.rs"]
mod tests;
