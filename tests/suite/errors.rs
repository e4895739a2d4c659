//! Bad input and failures come back as typed errors, never as silent success.

use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use outbox_sync::core::{
    EventState, Limits, NewEvent, Operation, OutboxEvent, OutboxStore, StoreError, TransitionError,
    ValidationError,
};
use outbox_sync::store::{error::from_dom_name, schema};
use outbox_sync_protocol::Value;
use serde::Serialize;
use uuid::Uuid;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{fresh, key, put, total};

#[wasm_bindgen_test]
async fn bad_input_is_refused_with_a_clear_error_and_nothing_stored() {
    let (outbox, _) = fresh().await;
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
    assert_eq!(
        outbox
            .record(&outbox_sync::core::RecordKey {
                collection: "notes".into(),
                record_id: long_id
            })
            .await
            .unwrap(),
        None
    );
}

#[wasm_bindgen_test]
async fn a_reused_event_id_is_refused_as_a_duplicate() {
    let (outbox, _) = fresh().await;
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
}

#[wasm_bindgen_test]
async fn refused_transitions_and_unknown_ids_change_nothing() {
    let (outbox, _) = fresh().await;
    let queued = outbox.enqueue(put("a", "1"), 0).await.unwrap();
    let err = outbox.fail(queued.event_id, "nope").await.unwrap_err();
    assert_eq!(
        err,
        StoreError::Transition(TransitionError {
            from: EventState::Queued,
            to: EventState::Failed
        })
    );
    assert_eq!(
        outbox.event(queued.event_id).await.unwrap(),
        Some(queued.clone())
    );

    let missing = Uuid::now_v7();
    let not_found = StoreError::EventNotFound(missing.to_string());
    assert_eq!(
        outbox.complete(missing, Some(1), 0).await.unwrap_err(),
        not_found
    );
    assert_eq!(
        outbox.requeue(missing, 1, "x").await.unwrap_err(),
        not_found
    );
    assert_eq!(outbox.retry_now(missing).await.unwrap_err(), not_found);
    assert_eq!(outbox.event(missing).await.unwrap(), None);
}

#[wasm_bindgen_test]
async fn operations_on_a_closed_store_fail_with_a_typed_error() {
    let (outbox, _) = fresh().await;
    let saved = outbox.enqueue(put("a", "1"), 0).await.unwrap();
    outbox.close();
    let err = outbox.enqueue(put("b", "1"), 0).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend { name, .. } if name == "InvalidStateError"),
        "{err:?}"
    );
    assert!(err.to_string().contains("Nothing was changed"), "{err}");
    assert!(outbox.take_batch(0, 10).await.is_err());
    assert!(outbox.status().await.is_err());
    assert!(outbox.complete(saved.event_id, None, 1).await.is_err());
}

/// A value in the outbox that no version of the library wrote.
#[derive(Serialize)]
struct Garbage {
    event_id: String,
    state: &'static str,
    collection: u32,
}

#[wasm_bindgen_test]
async fn unreadable_stored_data_is_reported_not_skipped() {
    let (outbox, name) = fresh().await;
    outbox.enqueue(put("a", "1"), 0).await.unwrap();
    {
        let db = schema::open_at_version(&name, schema::SCHEMA_VERSION, true)
            .await
            .unwrap();
        let tx = db
            .transaction(schema::OUTBOX)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .unwrap();
        {
            let store = tx.object_store(schema::OUTBOX).unwrap();
            let garbage = Garbage {
                event_id: "not-a-uuid".into(),
                state: "queued",
                collection: 7,
            };
            store.add(garbage).serde().unwrap().await.unwrap();
        }
        tx.commit().await.unwrap();
        db.close();
    }
    let err = outbox.take_batch(0, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert_eq!(err.code(), "corrupt_data");
    assert!(matches!(
        outbox.events_in_state(EventState::Queued, 10).await,
        Err(StoreError::Corrupt(_))
    ));
    // Nothing was taken: the good event is still queued.
    assert_eq!(outbox.count(EventState::Queued).await.unwrap(), 2);
    assert_eq!(outbox.count(EventState::Syncing).await.unwrap(), 0);
}

#[wasm_bindgen_test]
fn browser_error_names_map_to_typed_errors() {
    assert_eq!(
        from_dom_name("QuotaExceededError", "full"),
        StoreError::QuotaExceeded
    );
    assert_eq!(
        from_dom_name("SecurityError", "no storage"),
        StoreError::Unavailable("no storage".into())
    );
    let other = from_dom_name("UnknownError", "disk");
    assert_eq!(
        other,
        StoreError::Backend {
            name: "UnknownError".into(),
            message: "disk".into()
        }
    );
    assert_eq!(StoreError::QuotaExceeded.code(), "quota_exceeded");
}
