//! Saved work stays saved: across reconnects, all or nothing, under concurrency, at size.

use futures::future::{join, join_all};
use outbox_sync::core::{
    EventState, NewEvent, Operation, OutboxStore, StoreConfig, StoreError, ValidationError,
};
use outbox_sync::store::IdbOutbox;
use outbox_sync_protocol::{Map, Value};
use wasm_bindgen_test::wasm_bindgen_test;

use super::{fresh, key, patch, put, seqs, title, total};

#[wasm_bindgen_test]
async fn enqueue_survives_closing_and_reopening() {
    let (outbox, name) = fresh().await;
    let saved = outbox
        .enqueue_batch(vec![put("a", "first"), put("b", "second")], 10)
        .await
        .unwrap();
    assert_eq!(
        seqs(&saved),
        vec![1, 2],
        "the store numbers events in send order"
    );
    outbox.close();
    drop(outbox);

    let reopened = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    assert_eq!(reopened.name(), name);
    for event in &saved {
        assert_eq!(
            reopened.event(event.event_id).await.unwrap().as_ref(),
            Some(event)
        );
    }
    assert_eq!(title(&reopened, "a").await, Some(Value::from("first")));
    assert_eq!(reopened.count(EventState::Queued).await.unwrap(), 2);
    let next = reopened.enqueue(put("c", "third"), 20).await.unwrap();
    assert_eq!(next.seq, Some(3), "numbering continues after a reopen");
}

#[wasm_bindgen_test]
async fn event_and_record_are_written_together_or_not_at_all() {
    let (outbox, _) = fresh().await;
    let first = outbox.enqueue(put("a", "one"), 0).await.unwrap();

    // The batch's first event is valid and written before the second one
    // breaks the unique event-id index: the whole transaction must roll back.
    let fresh_event =
        outbox_sync::core::OutboxEvent::queued(put("c", "new"), uuid::Uuid::now_v7(), None, 5);
    let mut copy = first.clone();
    copy.record_id = "b".into();
    let err = outbox
        .insert_events(vec![fresh_event.clone(), copy])
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::DuplicateEvent(first.event_id.to_string()));
    assert_eq!(
        outbox.event(fresh_event.event_id).await.unwrap(),
        None,
        "the first event rolled back"
    );
    assert_eq!(
        outbox.record(&key("c")).await.unwrap(),
        None,
        "its record rolled back"
    );
    assert_eq!(outbox.record(&key("b")).await.unwrap(), None);
    assert_eq!(total(&outbox).await, 1);

    // An invalid change late in a batch stores none of it either.
    let mut bad = put("d", "x");
    bad.payload = Value::from("not an object");
    let err = outbox
        .enqueue_batch(vec![put("a", "changed"), put("e", "new"), bad], 9)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Invalid(ValidationError::PayloadNotObject { .. })
        ),
        "{err:?}"
    );
    assert_eq!(title(&outbox, "a").await, Some(Value::from("one")));
    assert_eq!(outbox.record(&key("e")).await.unwrap(), None);
    assert_eq!(total(&outbox).await, 1);
    let record = outbox.record(&key("a")).await.unwrap().unwrap();
    assert_eq!(record.pending, 1);
}

#[wasm_bindgen_test]
async fn concurrent_enqueues_from_two_connections_lose_nothing() {
    let (one, name) = fresh().await;
    let two = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let connections = [&one, &two];

    // Forty changes to separate records and forty patches to one shared record,
    // all in flight at once, alternating between the two connections.
    let separate = (0..40)
        .map(|i| connections[i % 2].enqueue(put(&format!("r{i}"), &i.to_string()), i as u64));
    let shared = (0..40).map(|i| {
        connections[i % 2].enqueue(
            patch("shared", &format!("f{i}"), Value::from(i as f64)),
            i as u64,
        )
    });
    let (separate, shared) = join(join_all(separate), join_all(shared)).await;
    let mut saved: Vec<_> = separate
        .into_iter()
        .chain(shared)
        .map(Result::unwrap)
        .collect();

    saved.sort_by_key(|e| e.seq);
    let mut unique = seqs(&saved);
    unique.dedup();
    assert_eq!(unique.len(), 80, "every event got its own seq");
    assert_eq!(one.count(EventState::Queued).await.unwrap(), 80);
    assert_eq!(two.count(EventState::Queued).await.unwrap(), 80);
    for event in &saved {
        assert_eq!(
            two.event(event.event_id).await.unwrap().as_ref(),
            Some(event)
        );
    }
    // No read-modify-write of the shared record was lost.
    let shared = one.record(&key("shared")).await.unwrap().unwrap();
    assert_eq!(shared.pending, 40);
    let fields = shared.local.unwrap();
    assert_eq!(fields.len(), 40);
    assert!((0..40).all(|i| fields.get(&format!("f{i}")) == Some(&Value::from(i as f64))));
}

/// A payload using every kind of value, different for each `i`.
fn rich_payload(i: usize) -> Value {
    let mut nested = Map::new();
    nested.insert(
        "list".into(),
        Value::Array(vec![
            Value::Null,
            Value::Bool(i.is_multiple_of(2)),
            Value::from(-1.5 * i as f64),
        ]),
    );
    nested.insert("text".into(), Value::from(format!("é✓ \"quoted\" {i}\n")));
    let mut fields = Map::new();
    fields.insert("n".into(), Value::from(i as f64));
    fields.insert("big".into(), Value::from(9_007_199_254_740_991.0));
    fields.insert("fraction".into(), Value::from(0.1 + 0.2));
    fields.insert("nested".into(), Value::Object(nested));
    fields.insert("empty".into(), Value::Object(Map::new()));
    Value::Object(fields)
}

#[wasm_bindgen_test]
async fn a_thousand_events_round_trip_intact() {
    let (outbox, name) = fresh().await;
    let changes: Vec<NewEvent> = (0..1_000)
        .map(|i| NewEvent {
            collection: "items".into(),
            record_id: format!("item-{}", i % 250),
            op: if i % 3 == 1 {
                Operation::Patch
            } else {
                Operation::Put
            },
            payload: rich_payload(i),
        })
        .collect();
    let saved = outbox
        .enqueue_batch(changes.clone(), 1_700_000_000_000)
        .await
        .unwrap();
    assert_eq!(seqs(&saved), (1..=1_000).collect::<Vec<u64>>());
    for (event, change) in saved.iter().zip(&changes) {
        assert_eq!(
            (&event.record_id, &event.payload, event.op),
            (&change.record_id, &change.payload, change.op)
        );
    }
    outbox.close();

    let reopened = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let read = reopened
        .events_in_state(EventState::Queued, 5_000)
        .await
        .unwrap();
    assert_eq!(
        read, saved,
        "every field of every event reads back as written"
    );
    assert_eq!(
        reopened
            .events_in_state(EventState::Queued, 10)
            .await
            .unwrap(),
        saved[..10].to_vec()
    );
    assert!(reopened
        .events_in_state(EventState::Queued, 0)
        .await
        .unwrap()
        .is_empty());
}

#[wasm_bindgen_test]
async fn a_ten_megabyte_payload_round_trips_intact() {
    let (outbox, name) = fresh().await;
    let text: String = (0..10 * 1024 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut fields = Map::new();
    fields.insert("body".into(), Value::from(text));
    fields.insert("tail".into(), Value::from("ü✓"));
    let change = NewEvent {
        collection: "docs".into(),
        record_id: "big".into(),
        op: Operation::Put,
        payload: Value::Object(fields.clone()),
    };
    let saved = outbox.enqueue(change, 1).await.unwrap();
    outbox.close();

    let reopened = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let read = reopened.event(saved.event_id).await.unwrap().unwrap();
    assert_eq!(read.payload, Value::Object(fields.clone()));
    let record = reopened
        .record(&outbox_sync::core::RecordKey {
            collection: "docs".into(),
            record_id: "big".into(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.local, Some(fields));
}
