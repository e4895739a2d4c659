//! Saving changes: event and record together, all or nothing, bad input refused.

use futures::future::join_all;
use outbox_sync::core::{
    EventState, Limits, NewEvent, Operation, OutboxEvent, OutboxStore, StoreError, ValidationError,
};
use outbox_sync_protocol::Value;
use uuid::Uuid;

use super::{fields, key, patch, put, seqs, title, total, Fresh};

pub async fn enqueue_saves_event_and_local_record(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let event = outbox.enqueue(put("a", "first"), 10).await.unwrap();
    assert_eq!(
        (event.state, event.seq, event.created_at_ms, event.attempts),
        (EventState::Queued, Some(1), 10, 0)
    );
    assert_eq!(outbox.event(event.event_id).await.unwrap(), Some(event));
    assert_eq!(title(&outbox, "a").await, Some(Value::from("first")));
    let record = outbox.record(&key("a")).await.unwrap().unwrap();
    assert_eq!((record.pending, record.base_version), (1, None));
    assert_eq!(outbox.status().await.unwrap().queued, 1);

    let saved = outbox
        .enqueue_batch(vec![put("b", "second"), put("c", "third")], 20)
        .await
        .unwrap();
    assert_eq!(
        seqs(&saved),
        vec![2, 3],
        "the store numbers events in send order"
    );
}

pub async fn a_change_to_a_confirmed_record_is_stored_with_its_base_version(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    outbox.enqueue(put("a", "v1"), 0).await.unwrap();
    let taken = outbox.take_batch(0, 10).await.unwrap().remove(0);
    outbox.complete(taken.event_id, Some(7), 5).await.unwrap();

    // The IndexedDB store writes an event before it has read its record
    // (as new to the device, with no base) and again once it has: what is
    // stored and returned carries the record's base version either way.
    let one = outbox.enqueue(put("a", "v2"), 10).await.unwrap();
    assert_eq!(one.base_version, Some(7));
    assert_eq!(outbox.event(one.event_id).await.unwrap(), Some(one));
    let saved = outbox
        .enqueue_batch(
            vec![patch("a", "body", Value::from("x")), put("new", "n")],
            20,
        )
        .await
        .unwrap();
    let bases: Vec<Option<u64>> = saved.iter().map(|e| e.base_version).collect();
    assert_eq!(bases, vec![Some(7), None]);
    for event in saved {
        assert_eq!(outbox.event(event.event_id).await.unwrap(), Some(event));
    }
    let record = outbox.record(&key("a")).await.unwrap().unwrap();
    assert_eq!((record.base_version, record.pending), (Some(7), 2));
}

pub async fn each_record_shows_the_fields_of_its_last_change(fresh: impl Fresh) {
    // The IndexedDB store writes a put's record with the very value its
    // event was stored from: the record must show the last change's
    // fields, whichever of a batch's changes were puts.
    let outbox = fresh.store().await;
    outbox.enqueue(put("a", "v1"), 0).await.unwrap();
    let taken = outbox.take_batch(0, 10).await.unwrap().remove(0);
    outbox.complete(taken.event_id, Some(7), 5).await.unwrap();
    let v1 = Some(fields(&[("title", "v1")]));
    // The same fields as the confirmed base, then a put and a patch of
    // one record, a patch and a put of another, and a put then a delete.
    outbox.enqueue(put("a", "v1"), 10).await.unwrap();
    let record = outbox.record(&key("a")).await.unwrap().unwrap();
    assert_eq!((&record.base, &record.local), (&v1, &v1));
    assert_eq!((record.base_version, record.pending), (Some(7), 1));
    let delete = NewEvent {
        op: Operation::Delete,
        payload: Value::Null,
        ..put("c", "")
    };
    outbox
        .enqueue_batch(
            vec![
                put("a", "v2"),
                patch("a", "body", Value::from("x")),
                patch("b", "body", Value::from("y")),
                put("b", "v3"),
                put("c", "v4"),
                delete,
            ],
            20,
        )
        .await
        .unwrap();
    let shown = |record: &str| {
        let outbox = &outbox;
        let key = key(record);
        async move { outbox.record(&key).await.unwrap().unwrap() }
    };
    let a = shown("a").await;
    assert_eq!(a.local, Some(fields(&[("body", "x"), ("title", "v2")])));
    assert_eq!((a.base, a.pending), (v1, 3));
    let b = shown("b").await;
    assert_eq!((b.local, b.pending), (Some(fields(&[("title", "v3")])), 2));
    let c = shown("c").await;
    assert_eq!((c.local, c.pending), (None, 2));
}

pub async fn insert_events_keeps_the_ids_of_events_built_elsewhere(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    outbox.enqueue(put("a", "one"), 0).await.unwrap();
    let built = OutboxEvent::queued(
        patch("a", "tag", Value::from("t")),
        Uuid::from_u128(7),
        None,
        5,
    );
    let saved = outbox.insert_events(vec![built.clone()]).await.unwrap();
    assert_eq!((saved[0].event_id, saved[0].seq), (built.event_id, Some(2)));
    assert_eq!(
        outbox.event(built.event_id).await.unwrap(),
        Some(saved[0].clone())
    );
    let record = outbox.record(&key("a")).await.unwrap().unwrap();
    assert_eq!(
        record.local,
        Some(super::fields(&[("title", "one"), ("tag", "t")]))
    );
    assert_eq!(record.pending, 2);
}

pub async fn event_and_record_are_written_together_or_not_at_all(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let first = outbox.enqueue(put("a", "one"), 0).await.unwrap();

    // The batch's first event is valid and written before the second one
    // reuses an event id: the whole batch must roll back, records included.
    let fresh_event = OutboxEvent::queued(put("c", "new"), Uuid::now_v7(), None, 5);
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

pub async fn bad_input_is_refused_with_a_clear_error_and_nothing_stored(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let mut not_object = put("a", "x");
    not_object.payload = Value::Array(vec![Value::from(1.0)]);
    let mut no_collection = put("b", "x");
    no_collection.collection = String::new();
    let max = Limits::default().max_record_id_len;
    let long_id = "x".repeat(max + 1);
    let oversized_id = put(&long_id, "x");

    let err = outbox.enqueue(not_object, 0).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::Invalid(ValidationError::PayloadNotObject {
            op: "put",
            found: "an array"
        })
    );
    assert_eq!(
        err.to_string(),
        "A put needs an object of fields as its payload, but got an array."
    );
    assert_eq!(err.code(), "invalid_change");

    let err = outbox.enqueue(no_collection, 0).await.unwrap_err();
    assert_eq!(err, StoreError::Invalid(ValidationError::EmptyCollection));
    assert!(err.to_string().contains("collection name is empty"));

    let err = outbox.enqueue(oversized_id, 0).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::Invalid(ValidationError::RecordIdTooLong { len: max + 1, max })
    );

    let delete_with_payload = NewEvent {
        collection: "notes".into(),
        record_id: "c".into(),
        op: Operation::Delete,
        payload: Value::from("x"),
    };
    assert_eq!(
        outbox.enqueue(delete_with_payload, 0).await.unwrap_err(),
        StoreError::Invalid(ValidationError::DeleteWithPayload)
    );
    assert_eq!(
        outbox.enqueue_batch(Vec::new(), 0).await.unwrap_err(),
        StoreError::Invalid(ValidationError::EmptyBatch)
    );

    // Events built elsewhere are checked the same way.
    let mut built = OutboxEvent::queued(put("d", "x"), Uuid::now_v7(), None, 0);
    built.payload = Value::Null;
    assert!(matches!(
        outbox.insert_events(vec![built]).await.unwrap_err(),
        StoreError::Invalid(_)
    ));

    assert_eq!(total(&outbox).await, 0);
    for record in ["a", "b", "c", "d"] {
        assert_eq!(outbox.record(&key(record)).await.unwrap(), None);
    }
    let mut long_key = key(&long_id);
    assert_eq!(outbox.record(&long_key).await.unwrap(), None);
    long_key.collection = String::new();
    assert_eq!(outbox.record(&long_key).await.unwrap(), None);
}

pub async fn a_reused_event_id_is_refused_as_a_duplicate(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let first = outbox.enqueue(put("a", "one"), 0).await.unwrap();
    let err = outbox.insert_events(vec![first.clone()]).await.unwrap_err();
    assert_eq!(err, StoreError::DuplicateEvent(first.event_id.to_string()));
    assert_eq!(err.code(), "duplicate_event");
    let record = outbox.record(&key("a")).await.unwrap().unwrap();
    assert_eq!(
        record.pending, 1,
        "the refused copy did not touch the record"
    );
    assert_eq!(total(&outbox).await, 1);

    // Twice in one batch: refused too, and the batch stores nothing.
    let built = OutboxEvent::queued(put("b", "x"), Uuid::now_v7(), None, 0);
    let err = outbox
        .insert_events(vec![built.clone(), built.clone()])
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::DuplicateEvent(built.event_id.to_string()));
    assert_eq!(outbox.record(&key("b")).await.unwrap(), None);
    assert_eq!(total(&outbox).await, 1);
}

pub async fn concurrent_enqueues_lose_nothing(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    // Twenty patches to one record, all in flight at once: no
    // read-modify-write of the record may be lost.
    let saves = (0..20).map(|i| {
        outbox.enqueue(
            patch("shared", &format!("f{i}"), Value::from(i as f64)),
            i as u64,
        )
    });
    let saved: Vec<_> = join_all(saves)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut unique = seqs(&saved);
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 20, "every event got its own seq");
    let shared = outbox.record(&key("shared")).await.unwrap().unwrap();
    assert_eq!(shared.pending, 20);
    let fields = shared.local.unwrap();
    assert_eq!(fields.len(), 20);
    assert!((0..20).all(|i| fields.get(&format!("f{i}")) == Some(&Value::from(i as f64))));
}
