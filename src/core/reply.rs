//! What the transport reports for one request to the server, push or pull.
//!
//! The HTTP adapter (`net`) turns every answer, or the lack of one, into a
//! [`Reply`]; the rules in `drain` and the engine's pull decide what to do.

/// The server's answer to one request, as the transport saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<T> {
    /// `200` with a body that was read as `T`.
    Answer(T),
    /// Any other HTTP status, with what the error body and headers said.
    Status {
        /// The HTTP status code.
        status: u16,
        /// `Retry-After`, in milliseconds, when the server sent one.
        retry_after_ms: Option<u64>,
        /// The error body's stable code, when it could be read.
        code: Option<String>,
        /// The error body's sentence, when it could be read.
        message: Option<String>,
    },
    /// The request never got an answer and the browser says it is offline.
    Network,
    /// The request never got an answer although the browser says it is
    /// online: the server or the way to it is down (DNS, refused, reset).
    Unreachable,
    /// No answer within the request timeout.
    Timeout,
    /// A `200` whose body could not be read as a `T`.
    Malformed(String),
}

impl<T> Reply<T> {
    /// A bare status, as when the error body could not be read.
    pub fn status(status: u16) -> Self {
        Reply::Status {
            status,
            retry_after_ms: None,
            code: None,
            message: None,
        }
    }
}
