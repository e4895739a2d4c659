//! When events may be sent, and which ones go in the next batch.
//!
//! Device clocks jump (a user fixes the date, a phone's battery dies). A
//! lease or backoff deadline that lies further ahead than it ever could was
//! set by a clock that has since moved back, so it counts as reached: no
//! event waits longer than the longest lease or backoff because of a clock.

use std::collections::HashSet;

use super::event::{EventState, OutboxEvent, RecordKey};

/// The longest backoff between two attempts, by default: the one bound
/// [`RetryPolicy`](super::RetryPolicy) and [`Clock`] both start from.
pub const MAX_BACKOFF_MS: u64 = 5 * 60_000;

/// The longest deadlines the outbox sets, used to see through clock jumps.
/// The engine takes its backoff ceiling from here too
/// ([`Clock::retry_policy`]), so the two cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// The longest lease a drainer takes on an event.
    pub max_lease_ms: u64,
    /// The longest backoff between two attempts.
    pub max_backoff_ms: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            max_lease_ms: 60_000,
            max_backoff_ms: MAX_BACKOFF_MS,
        }
    }
}

impl Clock {
    /// Backoff from `base_ms`, capped at this clock's longest backoff.
    pub fn retry_policy(&self, base_ms: u64) -> super::RetryPolicy {
        super::RetryPolicy {
            base_ms,
            max_ms: self.max_backoff_ms,
        }
    }

    /// Whether a lease that runs until `lease_until_ms` has run out at `now_ms`.
    pub fn lease_expired(&self, lease_until_ms: u64, now_ms: u64) -> bool {
        now_ms >= lease_until_ms || lease_until_ms - now_ms > self.max_lease_ms
    }

    /// Whether an event whose next attempt is at `next_attempt_at_ms` may be sent at `now_ms`.
    pub fn is_due(&self, next_attempt_at_ms: Option<u64>, now_ms: u64) -> bool {
        match next_attempt_at_ms {
            None => true,
            Some(at) => now_ms >= at || at - now_ms > self.max_backoff_ms,
        }
    }

    /// How long to wait at `now_ms` for a deadline the outbox set: a lease,
    /// a backoff, or a server's `Retry-After` (capped at the longest backoff).
    ///
    /// A deadline further ahead than any the outbox sets was set by a clock
    /// that has since moved back, so it is due now.
    pub fn wait_ms(&self, deadline_ms: u64, now_ms: u64) -> u64 {
        let wait = deadline_ms.saturating_sub(now_ms);
        if wait > self.max_backoff_ms.max(self.max_lease_ms) {
            0
        } else {
            wait
        }
    }
}

/// Picks the next batch from events offered in send order (by `seq`).
///
/// An event is sendable only when it is queued, due, and no earlier event of
/// the same record is unsent: a stuck event holds back its own record and
/// never the rest of the queue. At most one event per record goes in a batch,
/// so the server never sees a record's second change before its first is
/// confirmed.
#[derive(Debug)]
pub struct BatchSelector {
    clock: Clock,
    now_ms: u64,
    limit: usize,
    held: HashSet<RecordKey>,
    batch: Vec<OutboxEvent>,
}

impl BatchSelector {
    /// A selector for a batch of at most `limit` events at `now_ms`.
    pub fn new(clock: Clock, now_ms: u64, limit: usize) -> Self {
        BatchSelector {
            clock,
            now_ms,
            limit: limit.max(1),
            held: HashSet::new(),
            batch: Vec::new(),
        }
    }

    /// Offers the next event in send order; returns `false` once the batch is full.
    pub fn offer(&mut self, event: OutboxEvent) -> bool {
        if self.is_full() || event.state == EventState::Synced {
            return !self.is_full();
        }
        let key = event.record_key();
        if self.held.contains(&key) {
            return true;
        }
        let sendable = match event.state {
            EventState::Queued => self.clock.is_due(event.next_attempt_at_ms, self.now_ms),
            // Syncing events wait for their lease to be recovered first.
            _ => false,
        };
        self.held.insert(key);
        if sendable {
            self.batch.push(event);
        }
        !self.is_full()
    }

    /// Holds back `key`'s record as if one of its events had been offered
    /// and could not go: for the records of events a walk starts past
    /// ([`walk_start`]).
    pub fn hold_back(&mut self, key: RecordKey) {
        self.held.insert(key);
    }

    /// How many events the batch holds.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Whether the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Whether the batch holds `limit` events.
    pub fn is_full(&self) -> bool {
        self.batch.len() >= self.limit
    }

    /// The selected events, in send order.
    pub fn finish(self) -> Vec<OutboxEvent> {
        self.batch
    }
}

/// Selects the next batch from `events` (any order) at `now_ms`.
pub fn select_batch(
    events: impl IntoIterator<Item = OutboxEvent>,
    clock: Clock,
    now_ms: u64,
    limit: usize,
) -> Vec<OutboxEvent> {
    let mut events: Vec<_> = events.into_iter().collect();
    // Unsaved events (no `seq`) first, as `Option`'s order has them.
    super::order::sort_by_number(&mut events, |e| {
        e.seq.map_or(0, |seq| seq.saturating_add(1))
    });
    let mut selector = BatchSelector::new(clock, now_ms, limit);
    for event in events {
        if !selector.offer(event) {
            break;
        }
    }
    selector.finish()
}

/// Where a walk of the outbox in send order may start: `keys` are the
/// stored `seq`s from the walk's old start on, in order, and `skippable`
/// the ones this drainer's own leases hold (events on their way, whose rows
/// the walk would read only to skip them; their records are held back with
/// [`BatchSelector::hold_back`]; sorted). Returns the first key `skippable` lacks
/// (one past the last key when it lacks none, `None` when `keys` is empty:
/// start where the walk did) and the first key skipped, which is still the
/// lowest unsent one.
pub fn walk_start(keys: &[u64], skippable: &[u64]) -> (Option<u64>, Option<u64>) {
    let skips = |key: &u64| skippable.binary_search(key).is_ok();
    let skipped = keys.first().copied().filter(skips);
    let start = match keys.iter().find(|k| !skips(k)) {
        Some(&key) => Some(key),
        None => keys.last().map(|&last| last + 1),
    };
    (start, skipped)
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use crate::core::event::{NewEvent, Operation};
    use outbox_sync_protocol::Value;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn ev(seq: u64, record: &str, state: EventState) -> OutboxEvent {
        let change = NewEvent {
            collection: "c".into(),
            record_id: record.into(),
            op: Operation::Delete,
            payload: Value::Null,
        };
        let mut e = OutboxEvent::queued(change, Uuid::from_u128(seq as u128), None, 0);
        e.seq = Some(seq);
        e.state = state;
        e
    }

    fn seqs(batch: &[OutboxEvent]) -> Vec<u64> {
        batch.iter().filter_map(|e| e.seq).collect()
    }

    #[test]
    fn one_event_per_record_in_order() {
        let events = vec![
            ev(1, "a", EventState::Queued),
            ev(2, "a", EventState::Queued),
            ev(3, "b", EventState::Queued),
        ];
        assert_eq!(
            seqs(&select_batch(events, Clock::default(), 0, 10)),
            vec![1, 3]
        );
    }

    #[test]
    fn a_stuck_event_holds_back_only_its_record() {
        for stuck in [EventState::Failed, EventState::Conflict] {
            let events = vec![
                ev(1, "a", stuck),
                ev(2, "a", EventState::Queued),
                ev(3, "b", EventState::Queued),
            ];
            assert_eq!(
                seqs(&select_batch(events, Clock::default(), 0, 10)),
                vec![3]
            );
        }
    }

    #[test]
    fn synced_events_hold_nothing_back() {
        let events = vec![
            ev(1, "a", EventState::Synced),
            ev(2, "a", EventState::Queued),
        ];
        assert_eq!(
            seqs(&select_batch(events, Clock::default(), 0, 10)),
            vec![2]
        );
    }

    #[test]
    fn backoff_holds_the_record_until_due() {
        let mut waiting = ev(1, "a", EventState::Queued);
        waiting.next_attempt_at_ms = Some(10_000);
        let events = vec![waiting, ev(2, "a", EventState::Queued)];
        assert!(select_batch(events.clone(), Clock::default(), 9_999, 10).is_empty());
        assert_eq!(
            seqs(&select_batch(events, Clock::default(), 10_000, 10)),
            vec![1]
        );
    }

    #[test]
    fn limit_is_respected() {
        let events = (1..=5).map(|i| ev(i, &i.to_string(), EventState::Queued));
        assert_eq!(
            seqs(&select_batch(events, Clock::default(), 0, 2)),
            vec![1, 2]
        );
    }

    #[test]
    fn a_timer_set_after_the_clock_moved_back_fires_at_once() {
        let clock = Clock::default();
        let now = 1_000_000_000;
        let day = 24 * 60 * 60 * 1000;
        assert_eq!(clock.wait_ms(now + day + 2_000, now), 0);
        assert_eq!(clock.wait_ms(now + 2_000, now), 2_000);
        assert_eq!(clock.wait_ms(now - 2_000, now), 0);
        assert_eq!(
            clock.wait_ms(now + clock.max_backoff_ms, now),
            clock.max_backoff_ms
        );
    }

    #[test]
    fn clock_moved_back_a_day_does_not_strand_events() {
        let clock = Clock::default();
        let day = 86_400_000;
        let now = 10 * day;
        // Deadlines set before the clock was moved a day back lie a day ahead.
        assert!(clock.is_due(Some(now + day), now));
        assert!(clock.lease_expired(now + day, now));
        // Honest deadlines still wait.
        assert!(!clock.is_due(Some(now + 1_000), now));
        assert!(!clock.lease_expired(now + 1_000, now));
    }

    const DAY: u64 = 86_400_000;

    /// A moment, a deadline around it and what kind of deadline it is:
    /// honest (set by this clock, at most the longest backoff ahead), past,
    /// or set before the clock moved back by up to ten days.
    fn deadline_around_now() -> impl Strategy<Value = (u64, u64, &'static str)> {
        let max = Clock::default().max_backoff_ms;
        let now = 20 * DAY..40 * DAY;
        prop_oneof![
            (now.clone(), 0..=max).prop_map(|(now, ahead)| (now, now + ahead, "honest")),
            (now.clone(), 0..=10 * DAY).prop_map(|(now, ago)| (now, now - ago, "past")),
            (now, 1..=10 * DAY, 0..=max).prop_map(|(now, jump, ahead)| (
                now,
                now + jump + ahead,
                "clock moved back"
            )),
        ]
    }

    proptest! {
        #[test]
        fn an_honest_backoff_is_waited_for_to_the_millisecond_and_no_longer(
            (now, at, kind) in deadline_around_now(),
            early in 1u64..=1_000,
        ) {
            let clock = Clock::default();
            // Following the outbox's own timer: wait what `wait_ms` says,
            // then the event is due.
            let wait = clock.wait_ms(at, now);
            prop_assert!(wait <= clock.max_backoff_ms, "{kind}: waits {wait}");
            prop_assert!(clock.is_due(Some(at), now + wait), "{kind}: not due after the timer");
            match kind {
                "honest" => {
                    // It is not sent early: a moment before, it still waits.
                    prop_assert_eq!(wait, at - now);
                    if wait > 0 {
                        prop_assert!(!clock.is_due(Some(at), now + wait - early.min(wait)));
                    }
                }
                "past" => prop_assert!(clock.is_due(Some(at), now)),
                _ => {
                    // Set by a clock that was ahead: never a wait longer than
                    // the longest backoff, measured on the clock as it is now.
                    let stranded = (0..=clock.max_backoff_ms)
                        .step_by(1_000)
                        .all(|t| !clock.is_due(Some(at), now + t));
                    prop_assert!(!stranded, "{kind}: {at} not due within the longest backoff of {now}");
                }
            }
        }

        #[test]
        fn a_lease_runs_out_when_it_says_or_at_once_after_a_clock_jump(
            now in 20 * DAY..40 * DAY,
            ahead in 0u64..=60_000,
            jump in 0u64..=DAY,
        ) {
            let clock = Clock::default();
            let until = now + jump + ahead;
            if jump == 0 {
                prop_assert_eq!(clock.lease_expired(until, now), ahead == 0);
                prop_assert!(clock.lease_expired(until, until));
            } else if jump + ahead > clock.max_lease_ms {
                prop_assert!(clock.lease_expired(until, now), "a lease longer than any taken");
            }
        }

        #[test]
        fn batches_keep_record_order(states in proptest::collection::vec((0u8..3, 0u8..5), 0..40)) {
            let all = [EventState::Queued, EventState::Synced, EventState::Failed, EventState::Syncing, EventState::Conflict];
            let events: Vec<_> = states.iter().enumerate()
                .map(|(i, (record, s))| ev(i as u64, &record.to_string(), all[*s as usize]))
                .collect();
            let batch = select_batch(events.clone(), Clock::default(), 0, 100);
            for chosen in &batch {
                // Every earlier event of the same record is synced.
                let earlier_unsent = events.iter().any(|e| e.seq < chosen.seq && e.record_id == chosen.record_id && e.state.is_unsent());
                prop_assert!(!earlier_unsent);
                prop_assert_eq!(chosen.state, EventState::Queued);
            }
            let records: HashSet<_> = batch.iter().map(|e| e.record_id.clone()).collect();
            prop_assert_eq!(records.len(), batch.len());
        }
    }

    #[test]
    fn a_walk_starts_past_its_own_leased_prefix_only() {
        let own = [3, 4, 5, 9];
        assert_eq!(walk_start(&[3, 4, 5, 7, 9], &own), (Some(7), Some(3)));
        assert_eq!(walk_start(&[3, 4, 5], &own), (Some(6), Some(3)));
        assert_eq!(
            walk_start(&[2, 3, 4], &own),
            (Some(2), None),
            "2 is not ours"
        );
        assert_eq!(walk_start(&[], &own), (None, None));
    }
}
