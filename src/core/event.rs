//! The outbox event and its state machine.
//!
//! ```text
//! queued -> syncing -> synced
//!           syncing -> queued    (transient failure: backoff, next attempt time)
//!           syncing -> failed    (permanent: the user retries or discards)
//!           syncing -> conflict  (the user chooses a version)
//!           syncing -> queued    (the lease ran out: the drainer died)
//! failed  -> queued              (retry now)
//! ```

use outbox_sync_protocol::Value;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::TransitionError;

/// What an event does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Replace the whole record with the payload.
    Put,
    /// Change the payload's fields; a field set to null is removed.
    Patch,
    /// Delete the record.
    Delete,
}

impl Operation {
    /// The operation's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Put => "put",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
        }
    }
}

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventState {
    /// Saved on the device, waiting to be sent.
    Queued,
    /// Being sent by a drainer that holds a lease on it.
    Syncing,
    /// Confirmed by the server.
    Synced,
    /// Refused by the server for good: needs the user to retry or discard.
    Failed,
    /// The server holds a different version: needs the user to choose.
    Conflict,
}

impl EventState {
    /// Every state, in life order.
    pub const ALL: [EventState; 5] = [
        EventState::Queued,
        EventState::Syncing,
        EventState::Synced,
        EventState::Failed,
        EventState::Conflict,
    ];

    /// The state's name as stored and shown to JavaScript.
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Queued => "queued",
            EventState::Syncing => "syncing",
            EventState::Synced => "synced",
            EventState::Failed => "failed",
            EventState::Conflict => "conflict",
        }
    }

    /// The state named `name` (as [`as_str`](Self::as_str) writes it).
    pub fn parse(name: &str) -> Option<EventState> {
        EventState::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
    }

    /// Whether the server has not confirmed the event yet.
    pub fn is_unsent(self) -> bool {
        self != EventState::Synced
    }
}

/// The identity of a record: its collection and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordKey {
    /// The collection, such as `"notes"`.
    pub collection: String,
    /// The record's id within the collection.
    pub record_id: String,
}

/// A change as the app asks for it, before it is validated and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The collection, such as `"notes"`.
    pub collection: String,
    /// The record's id within the collection.
    pub record_id: String,
    /// What the change does.
    pub op: Operation,
    /// The fields (put, patch) or null (delete).
    #[serde(default)]
    pub payload: Value,
}

/// A write waiting in, or delivered from, the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Local send order, assigned by the store when the event is saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The idempotency key: the server applies an event id at most once.
    pub event_id: Uuid,
    /// The collection, such as `"notes"`.
    pub collection: String,
    /// The record's id within the collection.
    pub record_id: String,
    /// What the change does.
    pub op: Operation,
    /// The fields (put, patch) or null (delete).
    pub payload: Value,
    /// The server version the change was made against, if the record had one.
    pub base_version: Option<u64>,
    /// When the app made the change.
    pub created_at_ms: u64,
    /// How many times it was handed to a drainer.
    pub attempts: u32,
    /// Where it is in its life.
    pub state: EventState,
    /// Not to be sent before this time (backoff); `None` means now.
    pub next_attempt_at_ms: Option<u64>,
    /// The last failure, as a sentence a person can act on.
    pub last_error: Option<String>,
    /// While syncing: the drainer's lease runs out at this time.
    pub lease_until_ms: Option<u64>,
    /// When the server confirmed it.
    pub synced_at_ms: Option<u64>,
    /// Set when the store kept the payload out of `payload` for the push
    /// (which then reads it where the store left it: `store::outgoing`):
    /// its approximate size in bytes. `payload` is then null. Never stored.
    #[serde(skip)]
    pub held_payload_size: Option<usize>,
}

impl OutboxEvent {
    /// A fresh queued event for an already validated change.
    pub fn queued(
        change: NewEvent,
        event_id: Uuid,
        base_version: Option<u64>,
        now_ms: u64,
    ) -> Self {
        OutboxEvent {
            seq: None,
            event_id,
            collection: change.collection,
            record_id: change.record_id,
            op: change.op,
            payload: change.payload,
            base_version,
            created_at_ms: now_ms,
            attempts: 0,
            state: EventState::Queued,
            next_attempt_at_ms: None,
            last_error: None,
            lease_until_ms: None,
            synced_at_ms: None,
            held_payload_size: None,
        }
    }

    /// The payload's approximate size in bytes, also when the store held
    /// it back ([`held_payload_size`](Self::held_payload_size)).
    pub fn payload_size(&self) -> usize {
        self.held_payload_size
            .unwrap_or_else(|| self.payload.approximate_size())
    }

    /// The record this event changes.
    pub fn record_key(&self) -> RecordKey {
        RecordKey {
            collection: self.collection.clone(),
            record_id: self.record_id.clone(),
        }
    }

    fn expect(&self, allowed: &[EventState], to: EventState) -> Result<(), TransitionError> {
        if allowed.contains(&self.state) {
            Ok(())
        } else {
            Err(TransitionError {
                from: self.state,
                to,
            })
        }
    }

    /// queued -> syncing: a drainer takes the event with a lease until `lease_until_ms`.
    pub fn start_sync(&mut self, lease_until_ms: u64) -> Result<(), TransitionError> {
        self.expect(&[EventState::Queued], EventState::Syncing)?;
        self.state = EventState::Syncing;
        self.attempts += 1;
        self.lease_until_ms = Some(lease_until_ms);
        Ok(())
    }

    /// syncing (or queued, for a confirmation that arrives after the lease ran out) -> synced.
    pub fn mark_synced(&mut self, now_ms: u64) -> Result<(), TransitionError> {
        self.expect(
            &[EventState::Syncing, EventState::Queued],
            EventState::Synced,
        )?;
        self.state = EventState::Synced;
        self.synced_at_ms = Some(now_ms);
        self.lease_until_ms = None;
        self.next_attempt_at_ms = None;
        self.last_error = None;
        Ok(())
    }

    /// syncing -> queued after a transient failure: try again at `next_attempt_at_ms`.
    pub fn requeue(
        &mut self,
        next_attempt_at_ms: u64,
        reason: &str,
    ) -> Result<(), TransitionError> {
        self.expect(&[EventState::Syncing], EventState::Queued)?;
        self.state = EventState::Queued;
        self.lease_until_ms = None;
        self.next_attempt_at_ms = Some(next_attempt_at_ms);
        self.last_error = Some(reason.to_owned());
        Ok(())
    }

    /// syncing -> failed: the server refused the event for good.
    pub fn fail(&mut self, reason: &str) -> Result<(), TransitionError> {
        self.expect(&[EventState::Syncing], EventState::Failed)?;
        self.state = EventState::Failed;
        self.lease_until_ms = None;
        self.last_error = Some(reason.to_owned());
        Ok(())
    }

    /// queued -> failed: a file the event refers to was refused for good
    /// (too large for the server), so it can never be sent as it is.
    pub fn fail_waiting(&mut self, reason: &str) -> Result<(), TransitionError> {
        self.expect(&[EventState::Queued], EventState::Failed)?;
        self.state = EventState::Failed;
        self.next_attempt_at_ms = None;
        self.last_error = Some(reason.to_owned());
        Ok(())
    }

    /// syncing -> conflict: the server holds a version this event did not expect.
    pub fn mark_conflict(&mut self, reason: &str) -> Result<(), TransitionError> {
        self.expect(&[EventState::Syncing], EventState::Conflict)?;
        self.state = EventState::Conflict;
        self.lease_until_ms = None;
        self.last_error = Some(reason.to_owned());
        Ok(())
    }

    /// failed or queued -> queued, due now: the user asked to retry.
    pub fn retry_now(&mut self) -> Result<(), TransitionError> {
        self.expect(
            &[EventState::Failed, EventState::Queued],
            EventState::Queued,
        )?;
        self.state = EventState::Queued;
        self.next_attempt_at_ms = None;
        Ok(())
    }

    /// syncing -> queued when the drainer's lease has run out (see
    /// [`Clock::lease_expired`](super::schedule::Clock::lease_expired)).
    /// Returns whether the event was recovered.
    pub fn recover_lease(&mut self, clock: &super::schedule::Clock, now_ms: u64) -> bool {
        let expired = self.state == EventState::Syncing
            && clock.lease_expired(self.lease_until_ms.unwrap_or(0), now_ms);
        if expired {
            self.state = EventState::Queued;
            self.lease_until_ms = None;
            self.next_attempt_at_ms = None;
            self.last_error = Some(super::words::INTERRUPTED.to_owned());
        }
        expired
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use crate::core::schedule::Clock;

    fn event() -> OutboxEvent {
        let change = NewEvent {
            collection: "notes".into(),
            record_id: "n1".into(),
            op: Operation::Delete,
            payload: Value::Null,
        };
        OutboxEvent::queued(change, Uuid::nil(), None, 1_000)
    }

    #[test]
    fn happy_path_counts_the_attempt() {
        let mut e = event();
        e.start_sync(5_000).unwrap();
        assert_eq!((e.state, e.attempts), (EventState::Syncing, 1));
        e.mark_synced(2_000).unwrap();
        assert_eq!(e.state, EventState::Synced);
        assert_eq!(e.lease_until_ms, None);
    }

    #[test]
    fn transient_failure_requeues_with_a_reason() {
        let mut e = event();
        e.start_sync(5_000).unwrap();
        e.requeue(9_000, "Server unavailable").unwrap();
        assert_eq!(e.state, EventState::Queued);
        assert_eq!(e.next_attempt_at_ms, Some(9_000));
        assert_eq!(e.last_error.as_deref(), Some("Server unavailable"));
    }

    #[test]
    fn refused_transitions_name_both_states() {
        let mut e = event();
        let err = e.fail("nope").unwrap_err();
        assert_eq!(
            err,
            TransitionError {
                from: EventState::Queued,
                to: EventState::Failed
            }
        );
        assert!(err.to_string().contains("queued cannot become failed"));
        e.start_sync(1).unwrap();
        e.mark_synced(2).unwrap();
        assert!(
            e.start_sync(3).is_err(),
            "a synced event is never sent again"
        );
        assert!(e.retry_now().is_err());
    }

    #[test]
    fn a_waiting_change_whose_file_was_refused_fails_only_from_queued() {
        let mut e = event();
        e.start_sync(5_000).unwrap();
        e.requeue(9_000, "waiting for its file").unwrap();
        e.fail_waiting("file too large").unwrap();
        assert_eq!(e.state, EventState::Failed);
        assert_eq!(e.next_attempt_at_ms, None);
        assert_eq!(e.last_error.as_deref(), Some("file too large"));
        assert!(e.fail_waiting("again").is_err(), "failed is not queued");
        let mut syncing = event();
        syncing.start_sync(1).unwrap();
        assert!(syncing.fail_waiting("x").is_err(), "a drainer holds it");
    }

    #[test]
    fn failed_event_can_be_retried_now() {
        let mut e = event();
        e.start_sync(5_000).unwrap();
        e.fail("Rejected").unwrap();
        e.retry_now().unwrap();
        assert_eq!((e.state, e.next_attempt_at_ms), (EventState::Queued, None));
    }

    #[test]
    fn lease_recovery_only_after_expiry() {
        let clock = Clock::default();
        let mut e = event();
        e.start_sync(5_000).unwrap();
        assert!(!e.recover_lease(&clock, 4_999));
        assert!(e.recover_lease(&clock, 5_000));
        assert_eq!(e.state, EventState::Queued);
        assert!(
            !e.recover_lease(&clock, 6_000),
            "a queued event has no lease"
        );
    }

    #[test]
    fn serialises_states_and_ops_in_lowercase() {
        let text = serde_json::to_string(&event()).unwrap();
        assert!(text.contains(r#""op":"delete""#) && text.contains(r#""state":"queued""#));
        assert!(!text.contains("seq"), "an unsaved event has no seq key");
    }
}
