//! What a drainer does with the server's answer to a push, as pure rules.
//!
//! The engine sends a batch and hands the answer here as a [`PushReply`];
//! [`plan`] returns one [`Step`] per event (synced, retry later, failed,
//! conflict) and what the whole drain should do next. No I/O, no clock: the
//! caller passes `now_ms` and the jitter's random number.

use outbox_sync_protocol::blob::is_retryable_rejection;
use outbox_sync_protocol::{Outcome, PushResponse, Record};
use uuid::Uuid;

use super::event::OutboxEvent;
use super::reply::Reply;
use super::retry::RetryPolicy;
use super::verdict::{judge, Verdict, NOT_ANSWERING, OFFLINE, SIGN_IN_AGAIN, UNREACHABLE};
use super::words::{self, Reason};

/// The server's answer to one push, as the transport saw it: `Answer`
/// holds one result per event.
pub type PushReply = Reply<PushResponse>;

/// What happens to one event of the batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Confirmed by the server (applied now or before).
    Synced {
        /// The event.
        event_id: Uuid,
        /// The record's version after the event.
        version: u64,
        /// The record as the server stored it; through `fetch` without its
        /// `data` (null): nothing reads it, and decoding the fields echoed
        /// back cost as much as the payloads sent (`net::push`).
        record: Record,
    },
    /// Not delivered: back to the queue until `at_ms`.
    Retry {
        /// The event.
        event_id: Uuid,
        /// When it may be sent again.
        at_ms: u64,
        /// Why, as a sentence for the user.
        reason: String,
    },
    /// Refused for good: needs the user to retry or discard.
    Failed {
        /// The event.
        event_id: Uuid,
        /// The server's reason.
        reason: String,
    },
    /// The server holds a version this event did not expect.
    Conflict {
        /// The event.
        event_id: Uuid,
        /// The record as the server holds it.
        current: Record,
        /// For merge collections, the fields both sides changed.
        fields: Vec<String>,
        /// The server's sentence.
        reason: String,
    },
}

impl Step {
    /// The event this step is for.
    pub fn event_id(&self) -> Uuid {
        match self {
            Step::Synced { event_id, .. }
            | Step::Retry { event_id, .. }
            | Step::Failed { event_id, .. }
            | Step::Conflict { event_id, .. } => *event_id,
        }
    }
}

/// What the drain does after this batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Take the next batch.
    Continue,
    /// Send the same events again at once, one per request (the batch was too
    /// large, or one of its events made the whole request unusable).
    SendOneByOne,
    /// Stop draining until `at_ms` (server busy, offline, server error).
    WaitUntil(u64),
    /// Stop until the app supplies new credentials.
    AuthRequired,
}

/// The result of [`plan`]: a step per event and what to do next.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// One step per event of the batch, in batch order.
    pub steps: Vec<Step>,
    /// What the drain does next.
    pub next: Next,
    /// For the status line: what went wrong, as a sentence; `None` when all went well.
    pub error: Option<String>,
}

/// Decides what happens to each event of `batch` after the server's `reply`.
///
/// `random` in `[0, 1)` drives the backoff's full jitter.
pub fn plan(
    batch: &[OutboxEvent],
    reply: PushReply,
    policy: &RetryPolicy,
    now_ms: u64,
    random: f64,
) -> Plan {
    let attempts = batch.iter().map(|e| e.attempts).max().unwrap_or(1);
    let backoff_at = now_ms + policy.delay_ms(attempts, random);
    match reply {
        PushReply::Answer(response) => from_results(batch, response, backoff_at),
        PushReply::Network => wait(batch, backoff_at, OFFLINE),
        PushReply::Unreachable => wait(batch, backoff_at, UNREACHABLE),
        PushReply::Timeout => wait(batch, backoff_at, NOT_ANSWERING),
        PushReply::Malformed(why) => {
            wait(batch, backoff_at, &words::unreadable_answer(&why).encode())
        }
        PushReply::Status {
            status,
            retry_after_ms,
            code,
            message,
        } => match judge(status) {
            Verdict::AuthRequired => Plan {
                steps: retry_all(batch, now_ms, SIGN_IN_AGAIN),
                next: Next::AuthRequired,
                error: Some(SIGN_IN_AGAIN.to_owned()),
            },
            Verdict::Wait(what) => {
                let at =
                    retry_after_ms.map_or(backoff_at, |ms| now_ms + policy.server_delay_ms(ms));
                let detail = words::http_detail(status, code.as_deref(), message.as_deref());
                wait(batch, at, &Reason::new(what).with_detail(detail).encode())
            }
            Verdict::Refused => refused(batch, status, code, message, now_ms),
        },
    }
}

/// Applies per-event results; an event the server did not answer for is retried.
fn from_results(batch: &[OutboxEvent], response: PushResponse, backoff_at: u64) -> Plan {
    let mut missing = false;
    let steps = batch
        .iter()
        .map(|event| {
            let result = response
                .results
                .iter()
                .find(|r| Uuid::parse_str(&r.event_id).ok() == Some(event.event_id));
            match result.map(|r| r.outcome.effective().clone()) {
                Some(outcome) => match names_another_record(event, &outcome) {
                    Some(other) => Step::Failed {
                        event_id: event.event_id,
                        reason: words::wrong_record(&other).encode(),
                    },
                    None => step_for(event.event_id, outcome, backoff_at),
                },
                None => {
                    missing = true;
                    Step::Retry {
                        event_id: event.event_id,
                        at_ms: backoff_at,
                        reason: words::NO_ANSWER_FOR_CHANGE.to_owned(),
                    }
                }
            }
        })
        .collect();
    let error = missing.then(|| words::ANSWER_LEFT_OUT.to_owned());
    Plan {
        steps,
        next: Next::Continue,
        error,
    }
}

/// The record an outcome carries when it is not the event's own: a server
/// bug that must not put another record's data into this one.
fn names_another_record(event: &OutboxEvent, outcome: &Outcome) -> Option<String> {
    let record = match outcome {
        Outcome::Applied { record, .. } => record,
        Outcome::Conflict { current, .. } => current,
        Outcome::Rejected { .. } | Outcome::Duplicate { .. } => return None,
    };
    let same = record.collection == event.collection && record.record_id == event.record_id;
    (!same).then(|| format!("{}/{}", record.collection, record.record_id))
}

/// The step for one event's outcome; `backoff_at` is when a retryable
/// rejection (a file not uploaded yet) is tried again.
fn step_for(event_id: Uuid, outcome: Outcome, backoff_at: u64) -> Step {
    match outcome {
        Outcome::Applied { version, record } => Step::Synced {
            event_id,
            version,
            record,
        },
        Outcome::Conflict {
            current,
            fields,
            message,
        } => Step::Conflict {
            event_id,
            current,
            reason: words::conflict(&fields, &message).encode(),
            fields,
        },
        // The change's file is not complete on the server: nothing was
        // stored; it goes again after the upload step sent the file.
        Outcome::Rejected { code, message } if is_retryable_rejection(&code) => Step::Retry {
            event_id,
            at_ms: backoff_at,
            reason: words::waiting_for_file(&message).encode(),
        },
        Outcome::Rejected { code, message } => Step::Failed {
            event_id,
            reason: words::rejected(&code, &message).encode(),
        },
        // `effective()` never returns a duplicate; keep the event for a later look.
        Outcome::Duplicate { original } => step_for(event_id, *original, backoff_at),
    }
}

/// A whole-request refusal (`400`, `413`, …): nothing was applied.
fn refused(
    batch: &[OutboxEvent],
    status: u16,
    code: Option<String>,
    message: Option<String>,
    now_ms: u64,
) -> Plan {
    let sentence = words::refused(status, code.as_deref(), message.as_deref()).encode();
    if batch.len() > 1 {
        // One event may spoil the whole request: send them one by one to find it.
        let steps = retry_all(batch, now_ms, words::ONE_AT_A_TIME);
        return Plan {
            steps,
            next: Next::SendOneByOne,
            error: None,
        };
    }
    let steps = batch
        .iter()
        .map(|e| Step::Failed {
            event_id: e.event_id,
            reason: sentence.clone(),
        })
        .collect();
    Plan {
        steps,
        next: Next::Continue,
        error: Some(sentence),
    }
}

/// Every event back to the queue until `at_ms`, and the drain waits too.
///
/// The reason says what went wrong, not when the next try is: it is read
/// long after it was written, and the time left is in the event's
/// `next_attempt_at_ms` (and the status's `nextAttemptAt`) for a live countdown.
fn wait(batch: &[OutboxEvent], at_ms: u64, what: &str) -> Plan {
    Plan {
        steps: retry_all(batch, at_ms, what),
        next: Next::WaitUntil(at_ms),
        error: Some(what.to_owned()),
    }
}

fn retry_all(batch: &[OutboxEvent], at_ms: u64, reason: &str) -> Vec<Step> {
    batch
        .iter()
        .map(|e| Step::Retry {
            event_id: e.event_id,
            at_ms,
            reason: reason.to_owned(),
        })
        .collect()
}

#[cfg(all(test, not(target_family = "wasm")))]
#[path = "drain_tests.rs"]
mod tests;
