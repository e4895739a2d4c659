//! The outbox contract, checked against the in-memory store.

use futures::executor::block_on;
use outbox_sync_protocol::{Map, Value};
use uuid::Uuid;

use super::MemoryOutbox;
use crate::core::{
    EventState, NewEvent, Operation, OutboxStore, RecordKey, StoreConfig, StoreError,
    ValidationError,
};

fn put(record: &str, title: &str) -> NewEvent {
    let fields = Map::from([("title".to_owned(), Value::from(title))]);
    NewEvent {
        collection: "notes".into(),
        record_id: record.into(),
        op: Operation::Put,
        payload: Value::Object(fields),
    }
}

fn key(record: &str) -> RecordKey {
    RecordKey {
        collection: "notes".into(),
        record_id: record.into(),
    }
}

fn title(outbox: &MemoryOutbox, record: &str) -> Option<Value> {
    let record = block_on(outbox.record(&key(record))).unwrap()?;
    record.local?.get("title").cloned()
}

#[test]
fn enqueue_saves_event_and_local_record() {
    let outbox = MemoryOutbox::default();
    let event = block_on(outbox.enqueue(put("a", "first"), 10)).unwrap();
    assert_eq!(
        (event.state, event.seq, event.created_at_ms),
        (EventState::Queued, Some(1), 10)
    );
    assert_eq!(title(&outbox, "a"), Some(Value::from("first")));
    assert_eq!(block_on(outbox.status()).unwrap().queued, 1);
}

#[test]
fn bad_change_in_a_batch_stores_nothing() {
    let outbox = MemoryOutbox::default();
    let mut bad = put("b", "x");
    bad.payload = Value::Array(vec![]);
    let err = block_on(outbox.enqueue_batch(vec![put("a", "ok"), bad], 0)).unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid(ValidationError::PayloadNotObject { .. })
    ));
    assert_eq!(block_on(outbox.count(EventState::Queued)).unwrap(), 0);
    assert_eq!(title(&outbox, "a"), None);
}

#[test]
fn duplicate_event_id_rolls_back_the_record_too() {
    let outbox = MemoryOutbox::default();
    let first = block_on(outbox.enqueue(put("a", "one"), 0)).unwrap();
    let mut copy = first.clone();
    copy.record_id = "b".into();
    copy.seq = None;
    let err = block_on(outbox.insert_events(vec![copy])).unwrap_err();
    assert_eq!(err.code(), "duplicate_event");
    assert_eq!(title(&outbox, "b"), None);
}

#[test]
fn drain_cycle_keeps_record_order_and_leases() {
    let outbox = MemoryOutbox::new(StoreConfig {
        lease_ms: 1_000,
        ..StoreConfig::default()
    });
    block_on(outbox.enqueue_batch(vec![put("a", "1"), put("a", "2"), put("b", "1")], 0)).unwrap();
    let batch = block_on(outbox.take_batch(100, 10)).unwrap();
    assert_eq!(
        batch.iter().map(|e| e.seq.unwrap()).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert!(
        block_on(outbox.take_batch(100, 10)).unwrap().is_empty(),
        "leased events are not taken twice"
    );
    // The drainer dies; its leases run out.
    assert_eq!(block_on(outbox.recover_leases(1_099)).unwrap(), 0);
    assert_eq!(block_on(outbox.recover_leases(1_100)).unwrap(), 2);
    let again = block_on(outbox.take_batch(1_200, 10)).unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|e| e.attempts == 2));
    block_on(outbox.complete(again[0].event_id, Some(1), 1_300)).unwrap();
    let next = block_on(outbox.take_batch(1_300, 10)).unwrap();
    assert_eq!(
        next.iter().map(|e| e.seq.unwrap()).collect::<Vec<_>>(),
        vec![2]
    );
}

#[test]
fn failed_event_holds_its_record_until_discarded() {
    let outbox = MemoryOutbox::default();
    block_on(outbox.enqueue_batch(vec![put("a", "bad"), put("a", "good")], 0)).unwrap();
    let batch = block_on(outbox.take_batch(0, 10)).unwrap();
    let poison = batch[0].event_id;
    block_on(outbox.fail(poison, "Rejected: title too long")).unwrap();
    assert!(block_on(outbox.take_batch(0, 10)).unwrap().is_empty());
    block_on(outbox.discard(poison)).unwrap();
    assert_eq!(title(&outbox, "a"), Some(Value::from("good")));
    assert_eq!(block_on(outbox.take_batch(0, 10)).unwrap().len(), 1);
    assert_eq!(
        block_on(outbox.discard(Uuid::nil())).unwrap_err().code(),
        "event_not_found"
    );
}

#[test]
fn syncing_and_synced_events_cannot_be_discarded() {
    let outbox = MemoryOutbox::default();
    block_on(outbox.enqueue(put("a", "x"), 0)).unwrap();
    let id = block_on(outbox.take_batch(0, 1)).unwrap()[0].event_id;
    assert_eq!(
        block_on(outbox.discard(id)).unwrap_err().code(),
        "cannot_discard"
    );
    block_on(outbox.complete(id, Some(1), 5)).unwrap();
    assert_eq!(
        block_on(outbox.discard(id)).unwrap_err().code(),
        "cannot_discard"
    );
}

#[test]
fn purge_removes_only_old_synced_events() {
    let outbox = MemoryOutbox::default();
    block_on(outbox.enqueue_batch(vec![put("a", "1"), put("b", "1")], 0)).unwrap();
    let batch = block_on(outbox.take_batch(0, 10)).unwrap();
    block_on(outbox.complete(batch[0].event_id, Some(1), 100)).unwrap();
    assert_eq!(block_on(outbox.purge_synced(100)).unwrap(), 0);
    assert_eq!(block_on(outbox.purge_synced(101)).unwrap(), 1);
    assert_eq!(block_on(outbox.count(EventState::Syncing)).unwrap(), 1);
}

#[test]
fn requeue_waits_for_backoff_then_retry_now_clears_it() {
    let outbox = MemoryOutbox::default();
    block_on(outbox.enqueue(put("a", "1"), 0)).unwrap();
    let id = block_on(outbox.take_batch(0, 1)).unwrap()[0].event_id;
    block_on(outbox.requeue(id, 5_000, "Server unavailable")).unwrap();
    assert!(block_on(outbox.take_batch(10, 1)).unwrap().is_empty());
    block_on(outbox.retry_now(id)).unwrap();
    assert_eq!(block_on(outbox.take_batch(10, 1)).unwrap().len(), 1);
}

#[test]
fn retry_all_now_clears_backoff_and_optionally_failures() {
    let outbox = MemoryOutbox::default();
    block_on(outbox.enqueue_batch(vec![put("a", "1"), put("b", "1"), put("c", "1")], 0)).unwrap();
    let batch = block_on(outbox.take_batch(0, 10)).unwrap();
    block_on(outbox.requeue(batch[0].event_id, 60_000, "offline")).unwrap();
    block_on(outbox.fail(batch[1].event_id, "refused")).unwrap();
    assert_eq!(block_on(outbox.retry_all_now(false)).unwrap(), 1);
    assert_eq!(block_on(outbox.count(EventState::Failed)).unwrap(), 1);
    assert_eq!(
        block_on(outbox.take_batch(1, 10)).unwrap().len(),
        1,
        "due at once"
    );
    assert_eq!(block_on(outbox.retry_all_now(true)).unwrap(), 1);
    assert_eq!(block_on(outbox.count(EventState::Failed)).unwrap(), 0);
    assert_eq!(
        block_on(outbox.count(EventState::Syncing)).unwrap(),
        2,
        "syncing events are left alone"
    );
}

#[test]
fn a_record_shows_its_most_pressing_change() {
    use crate::core::outbox::record_state;
    let outbox = MemoryOutbox::default();
    assert_eq!(
        record_state(&block_on(outbox.unsent_events(&key("a"))).unwrap()),
        EventState::Synced
    );
    block_on(outbox.enqueue_batch(vec![put("a", "1"), put("a", "2"), put("b", "1")], 0)).unwrap();
    let unsent = block_on(outbox.unsent_events(&key("a"))).unwrap();
    assert_eq!(
        (unsent.len(), record_state(&unsent)),
        (2, EventState::Queued)
    );
    let batch = block_on(outbox.take_batch(0, 10)).unwrap();
    assert_eq!(
        record_state(&block_on(outbox.unsent_events(&key("a"))).unwrap()),
        EventState::Syncing
    );
    block_on(outbox.fail(batch[0].event_id, "refused")).unwrap();
    assert_eq!(
        record_state(&block_on(outbox.unsent_events(&key("a"))).unwrap()),
        EventState::Failed
    );
    block_on(outbox.complete(batch[1].event_id, Some(1), 1)).unwrap();
    assert_eq!(
        record_state(&block_on(outbox.unsent_events(&key("b"))).unwrap()),
        EventState::Synced
    );
}

#[test]
fn unsent_lists_every_unconfirmed_state_in_send_order() {
    let outbox = MemoryOutbox::default();
    block_on(outbox.enqueue_batch(
        vec![put("a", "1"), put("b", "1"), put("c", "1"), put("d", "1")],
        0,
    ))
    .unwrap();
    let batch = block_on(outbox.take_batch(0, 2)).unwrap();
    block_on(outbox.complete(batch[0].event_id, Some(1), 1)).unwrap();
    let unsent = block_on(outbox.unsent(10)).unwrap();
    let records: Vec<_> = unsent.iter().map(|e| e.record_id.as_str()).collect();
    assert_eq!(records, ["b", "c", "d"]);
    assert_eq!(unsent[0].state, EventState::Syncing);
    assert_eq!(block_on(outbox.unsent(2)).unwrap().len(), 2);
}
