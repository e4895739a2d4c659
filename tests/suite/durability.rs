//! Saved work stays saved: across closing and reopening the database, at size.

use outbox_sync::core::{EventState, NewEvent, Operation, OutboxStore, StoreConfig, SyncStore};
use outbox_sync::store::IdbOutbox;
use outbox_sync_protocol::{Map, Value};
use wasm_bindgen_test::wasm_bindgen_test;

use super::contract::{fields, remote};
use super::{fresh, key, patch, put, seqs, title};

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

#[wasm_bindgen_test]
async fn a_pulled_page_and_its_token_survive_a_reopen() {
    let (outbox, name) = fresh().await;
    outbox
        .enqueue(patch("a", "tag", Value::from("mine")), 0)
        .await
        .unwrap();
    let page = [
        remote("a", 3, Some(fields(&[("title", "theirs")]))),
        remote("b", 4, Some(fields(&[("title", "new")]))),
        remote("c", 5, None),
    ];
    assert_eq!(outbox.apply_pulled(&page, "token-1", 0).await.unwrap(), 3);
    outbox.close();

    let outbox = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    assert_eq!(
        outbox.sync_token().await.unwrap().as_deref(),
        Some("token-1")
    );
    let a = outbox.record(&key("a")).await.unwrap().unwrap();
    assert_eq!(
        (a.local, a.base_version, a.pending),
        (
            Some(fields(&[("title", "theirs"), ("tag", "mine")])),
            Some(3),
            1
        )
    );
    assert_eq!(title(&outbox, "b").await, Some(Value::from("new")));
    assert_eq!(outbox.record(&key("c")).await.unwrap(), None);
    assert_eq!(outbox.count(EventState::Queued).await.unwrap(), 1);
}

#[wasm_bindgen_test]
async fn settings_survive_a_reopen() {
    let (outbox, name) = fresh().await;
    outbox
        .set_setting("endpoint", Some("{\"serverUrl\":\"/\"}"))
        .await
        .unwrap();
    outbox.apply_pulled(&[], "token", 0).await.unwrap();
    outbox.close();
    let outbox = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let saved = outbox.setting("endpoint").await.unwrap();
    assert_eq!(saved.as_deref(), Some("{\"serverUrl\":\"/\"}"));
    assert_eq!(outbox.sync_token().await.unwrap().as_deref(), Some("token"));
}
