use super::*;
use crate::core::event::NewEvent;
use crate::core::Operation;
use outbox_sync_protocol::Value;
use uuid::Uuid;

fn stored(seq: u64, record_id: &str) -> OutboxEvent {
    let change = NewEvent {
        collection: "notes".into(),
        record_id: record_id.into(),
        op: Operation::Delete,
        payload: Value::Null,
    };
    let mut event = OutboxEvent::queued(change, Uuid::now_v7(), None, 0);
    event.seq = Some(seq);
    event
}

fn taken(seqs: &[u64], until_ms: u64) -> (Leases, Vec<OutboxEvent>) {
    let batch = seqs.iter().map(|s| stored(*s, &format!("r{s}"))).collect();
    let (lease, taken) = take(batch, "b1".into(), "tab".into(), until_ms).unwrap();
    (Leases::new(vec![lease]), taken)
}

#[test]
fn a_taken_event_shows_as_syncing_while_stored_as_queued() {
    let (leases, taken) = taken(&[1, 2], 5_000);
    assert!(taken
        .iter()
        .all(|e| e.state == EventState::Syncing && e.attempts == 1));
    let mut as_stored = stored(1, "r1");
    leases.show(&mut as_stored);
    as_stored.event_id = taken[0].event_id;
    assert_eq!(as_stored, taken[0].clone());
    assert_eq!(leases.held(), 2);
    let mut other = stored(3, "r3");
    leases.show(&mut other);
    assert_eq!(other.state, EventState::Queued, "not in the lease");
}

#[test]
fn an_event_changed_since_it_was_taken_is_not_shown_as_held() {
    let (leases, taken) = taken(&[1], 5_000);
    let mut requeued = taken[0].clone();
    requeued.requeue(9_000, "later").unwrap();
    leases.show(&mut requeued);
    assert_eq!(requeued.state, EventState::Queued, "its attempts moved on");
    let mut failed = taken[0].clone();
    failed.fail("no").unwrap();
    leases.show(&mut failed);
    assert_eq!(failed.state, EventState::Failed);
}

#[test]
fn releasing_every_event_deletes_the_lease() {
    let (mut leases, _) = taken(&[1, 2], 5_000);
    let writes = leases.release(&[1]);
    assert!(matches!(&writes[..], [LeaseWrite::Put(l)] if l.events.len() == 1));
    assert!(leases.holds(2) && !leases.holds(1));
    assert_eq!(leases.release(&[2]), vec![LeaseWrite::Delete("b1".into())]);
    assert!(leases.is_empty());
    assert!(leases.release(&[2]).is_empty(), "nothing left to release");
}

#[test]
fn a_lease_expires_at_its_time_or_when_set_by_a_clock_that_moved_back() {
    let clock = Clock::default();
    let (mut leases, _) = taken(&[1, 2], 5_000);
    assert_eq!(leases.expire(&clock, 4_999), (vec![], vec![]));
    let (writes, seqs) = leases.expire(&clock, 5_000);
    assert_eq!(
        (writes, seqs),
        (vec![LeaseWrite::Delete("b1".into())], vec![1, 2])
    );
    let (mut leases, _) = taken(&[1], u64::MAX / 2);
    assert_eq!(leases.expire(&clock, 10).1, vec![1], "too far ahead");
}

#[test]
fn the_held_records_are_listed_for_queries() {
    let (leases, _) = taken(&[4], 5_000);
    let keys: Vec<RecordKey> = leases.records().collect();
    assert_eq!(keys[0].record_id, "r4");
}
