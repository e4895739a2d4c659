//! What a server's error status means for syncing, shared by push and pull,
//! with the words the user sees.

pub use super::words::{BUSY, NOT_ANSWERING, OFFLINE, SIGN_IN_AGAIN, UNAVAILABLE, UNREACHABLE};

/// What to do after an HTTP status other than success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `401`: wait for new credentials.
    AuthRequired,
    /// Try again later (honouring `Retry-After` when the server sent one);
    /// the sentence names the cause for the user.
    Wait(&'static str),
    /// The request is refused for good (other `4xx`).
    Refused,
}

/// Judges an HTTP error status.
pub fn judge(status: u16) -> Verdict {
    match status {
        401 => Verdict::AuthRequired,
        408 => Verdict::Wait(NOT_ANSWERING),
        429 => Verdict::Wait(BUSY),
        500..=599 => Verdict::Wait(UNAVAILABLE),
        _ => Verdict::Refused,
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_judged_the_same_for_push_and_pull() {
        assert_eq!(judge(401), Verdict::AuthRequired);
        assert_eq!(judge(408), Verdict::Wait(NOT_ANSWERING));
        assert_eq!(judge(429), Verdict::Wait("Server busy"));
        assert_eq!(judge(503), Verdict::Wait("Server unavailable"));
        assert_eq!(judge(500), Verdict::Wait("Server unavailable"));
        for refused in [400, 403, 404, 409, 413, 422] {
            assert_eq!(judge(refused), Verdict::Refused, "{refused}");
        }
    }
}
