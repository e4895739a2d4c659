//! The engine with IndexedDB and `fetch` against the real server: what the
//! user's device does, end to end, with nothing mocked.

use futures::future::join;
use outbox_sync::core::conflict::Resolution;
use outbox_sync::core::{EventState, OutboxStore, StoreConfig, SyncStore};
use outbox_sync::engine::browser::{BrowserEnv, FetchTransport};
use outbox_sync::engine::{Engine, EngineConfig, Environment, Halt};
use outbox_sync::net::push;
use outbox_sync::store::IdbOutbox;
use outbox_sync_protocol::Value;
use wasm_bindgen_test::wasm_bindgen_test;

use super::*;
use crate::suite::fresh;

fn transport() -> FetchTransport {
    FetchTransport {
        endpoint: endpoint(),
        outgoing: None,
    }
}

fn change(collection: &str, record: &str, title: &str) -> NewEvent {
    let fields = Map::from([("title".to_owned(), Value::from(title))]);
    NewEvent {
        collection: collection.into(),
        record_id: record.into(),
        op: Operation::Put,
        payload: Value::Object(fields),
    }
}

/// The server's changes for `collection`, pulled from the start.
async fn server_changes(collection: &str) -> Vec<Record> {
    let mut all = Vec::new();
    let mut since: Option<String> = None;
    loop {
        match outbox_sync::net::pull(&endpoint(), since.as_deref(), 1000).await {
            outbox_sync::core::pull::PullReply::Answer(page) => {
                all.extend(
                    page.changes
                        .into_iter()
                        .filter(|r| r.collection == collection),
                );
                if !page.has_more {
                    return all;
                }
                since = Some(page.next_token);
            }
            other => panic!("pull failed: {other:?}"),
        }
    }
}

#[wasm_bindgen_test]
async fn drains_the_outbox_to_the_server_and_pulls_the_result_back() {
    let (store, _) = fresh().await;
    let collection = fresh_collection();
    let sent = store
        .enqueue_batch(
            vec![
                change(&collection, "a", "1"),
                change(&collection, "a", "2"),
                change(&collection, "b", "1"),
            ],
            BrowserEnv.now_ms(),
        )
        .await
        .unwrap();
    let engine = Engine::new(&store, transport(), BrowserEnv, EngineConfig::default());
    let report = engine.drain().await.unwrap();
    assert_eq!((report.synced, report.halt), (3, None));
    assert_eq!(store.status().await.unwrap().pending(), 0);
    let pulled = engine.pull().await.unwrap();
    assert!(pulled.pages >= 1 && pulled.halt.is_none(), "{pulled:?}");
    assert!(store.sync_token().await.unwrap().is_some());
    let on_server = server_changes(&collection).await;
    assert_eq!(on_server.len(), 2, "one latest version per record");
    let a = on_server.iter().find(|r| r.record_id == "a").unwrap();
    assert_eq!(
        a.data.as_object().unwrap()["title"],
        Value::from("2"),
        "record order kept"
    );
    let key = outbox_sync::core::RecordKey {
        collection,
        record_id: "a".into(),
    };
    let local = store.record(&key).await.unwrap().unwrap();
    assert_eq!(local.base_version, Some(a.version));
    let ids: Vec<Uuid> = sent.iter().map(|e| e.event_id).collect();
    let versions = assert_applied_once(&key.collection, &["a", "b"], &ids).await;
    assert_eq!(
        versions[&ids[1].to_string()],
        a.version,
        "the record is the second change's application"
    );
}

#[wasm_bindgen_test]
async fn a_lost_response_is_retried_and_applied_once() {
    let (store, _) = fresh().await;
    let collection = fresh_collection();
    let sent = store
        .enqueue(change(&collection, "a", "once"), BrowserEnv.now_ms())
        .await
        .unwrap();
    let engine = Engine::new(&store, transport(), BrowserEnv, EngineConfig::default());
    set_faults(r#"{"drop_next": 1, "drop_mode": "bad_gateway"}"#).await;
    let first = engine.drain().await.unwrap();
    reset_faults().await;
    assert!(matches!(first.halt, Some(Halt::Wait { .. })), "{first:?}");
    // The server applied it before the answer was lost: the retry below is
    // a replay, which must change nothing.
    let trail = audit_trail(&collection, "a").await;
    assert_eq!(
        trail.len(),
        1,
        "applied before the answer was lost: {trail:?}"
    );
    assert_eq!(
        store.count(EventState::Queued).await.unwrap(),
        1,
        "kept for a retry"
    );
    store.retry_all_now(false).await.unwrap();
    let second = engine.drain().await.unwrap();
    assert_eq!(second.synced, 1);
    let on_server = server_changes(&collection).await;
    assert_eq!(on_server.len(), 1);
    // A second application would have made a newer version than the one the
    // retry was confirmed with.
    let key = outbox_sync::core::RecordKey {
        collection,
        record_id: "a".into(),
    };
    let local = store.record(&key).await.unwrap().unwrap();
    assert_eq!(
        local.base_version,
        Some(on_server[0].version),
        "applied once"
    );
    let versions = assert_applied_once(&key.collection, &["a"], &[sent.event_id]).await;
    assert_eq!(
        local.base_version,
        Some(versions[&sent.event_id.to_string()])
    );
}

#[wasm_bindgen_test]
async fn unauthorised_pauses_then_a_new_token_delivers() {
    let (store, _) = fresh().await;
    let collection = fresh_collection();
    store
        .enqueue(change(&collection, "a", "x"), BrowserEnv.now_ms())
        .await
        .unwrap();
    let expired = FetchTransport {
        endpoint: endpoint().with_token("expired-token"),
        outgoing: None,
    };
    let engine = Engine::new(&store, expired, BrowserEnv, EngineConfig::default());
    assert_eq!(engine.drain().await.unwrap().halt, Some(Halt::AuthRequired));
    assert_eq!(store.count(EventState::Queued).await.unwrap(), 1);
    let engine = Engine::new(&store, transport(), BrowserEnv, EngineConfig::default());
    assert_eq!(engine.drain().await.unwrap().synced, 1);
}

#[wasm_bindgen_test]
async fn two_drainers_racing_never_send_an_event_twice() {
    let (first, name) = fresh().await;
    let second = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let collection = fresh_collection();
    let changes = (0..30)
        .map(|i| change(&collection, &format!("r{i}"), "x"))
        .collect();
    let sent = first
        .enqueue_batch(changes, BrowserEnv.now_ms())
        .await
        .unwrap();
    let config = EngineConfig {
        batch_size: 5,
        ..EngineConfig::default()
    };
    let one = Engine::new(&first, transport(), BrowserEnv, config);
    let two = Engine::new(&second, transport(), BrowserEnv, config);
    let (a, b) = join(one.drain(), two.drain()).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.synced + b.synced, 30, "{a:?} {b:?}");
    assert_eq!(
        crate::suite::total(&first).await,
        0,
        "every event confirmed and gone from the outbox"
    );
    assert_eq!(server_changes(&collection).await.len(), 30);
    let records: Vec<String> = (0..30).map(|i| format!("r{i}")).collect();
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    let ids: Vec<Uuid> = sent.iter().map(|e| e.event_id).collect();
    assert_applied_once(&collection, &records, &ids).await;
}

#[wasm_bindgen_test]
async fn a_deadline_set_before_the_clock_moved_back_a_day_is_not_waited_for() {
    let (store, _) = fresh().await;
    let collection = fresh_collection();
    let now = BrowserEnv.now_ms();
    store
        .enqueue(change(&collection, "a", "x"), now)
        .await
        .unwrap();
    let taken = store.take_batch(now, 1).await.unwrap().remove(0);
    // The device clock was a day ahead when the backoff was set.
    store
        .requeue(taken.event_id, now + 86_400_000, "offline")
        .await
        .unwrap();
    let engine = Engine::new(&store, transport(), BrowserEnv, EngineConfig::default());
    assert_eq!(engine.drain().await.unwrap().synced, 1);
}

#[wasm_bindgen_test]
async fn a_strict_conflict_is_kept_and_keep_mine_wins_against_the_latest_version() {
    let (store, _) = fresh().await;
    let record = format!("r-{}", Uuid::now_v7().simple());
    // Another device creates the record first.
    let theirs = put("net_strict", &record, "theirs");
    let PushReply::Answer(_) = push(&endpoint(), &[theirs]).await else {
        panic!("pushed")
    };
    store
        .enqueue(change("net_strict", &record, "mine"), BrowserEnv.now_ms())
        .await
        .unwrap();
    let engine = Engine::new(&store, transport(), BrowserEnv, EngineConfig::default());
    assert_eq!(engine.drain().await.unwrap().conflicts, 1);
    let conflicts = store.conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        conflicts[0].theirs_fields().unwrap()["title"],
        Value::from("theirs")
    );
    store
        .resolve_conflict(
            conflicts[0].event_id,
            &Resolution::KeepMine,
            BrowserEnv.now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(engine.drain().await.unwrap().synced, 1);
    let on_server = server_changes("net_strict").await;
    let latest = on_server.iter().find(|r| r.record_id == record).unwrap();
    assert_eq!(
        latest.data.as_object().unwrap()["title"],
        Value::from("mine")
    );
}

#[wasm_bindgen_test]
async fn a_token_from_another_server_database_resyncs_and_keeps_pending_changes() {
    let (store, _) = fresh().await;
    store.apply_pulled(&[], "another-epoch.5", 0).await.unwrap();
    let collection = fresh_collection();
    store
        .enqueue(change(&collection, "a", "pending"), BrowserEnv.now_ms())
        .await
        .unwrap();
    let engine = Engine::new(&store, transport(), BrowserEnv, EngineConfig::default());
    let pulled = engine.pull().await.unwrap();
    assert!(pulled.resynced && pulled.halt.is_none(), "{pulled:?}");
    assert_eq!(store.count(EventState::Queued).await.unwrap(), 1);
}

#[wasm_bindgen_test]
async fn a_poison_event_fails_alone_and_other_records_go_through() {
    let (store, _) = fresh().await;
    let collection = fresh_collection();
    // The key was used before for other content: the server refuses this one for good.
    let poison = put(&collection, "bad", "original");
    let PushReply::Answer(_) = push(&endpoint(), std::slice::from_ref(&poison)).await else {
        panic!("pushed")
    };
    let mut reused = put(&collection, "bad", "different content");
    reused.event_id = poison.event_id;
    store.insert_events(vec![reused]).await.unwrap();
    store
        .enqueue_batch(
            vec![
                change(&collection, "bad", "after"),
                change(&collection, "good", "x"),
            ],
            BrowserEnv.now_ms(),
        )
        .await
        .unwrap();
    let engine = Engine::new(&store, transport(), BrowserEnv, EngineConfig::default());
    let report = engine.drain().await.unwrap();
    assert_eq!(
        (report.failed, report.synced, report.halt.clone()),
        (1, 1, None),
        "{report:?}"
    );
    let good = audit_trail(&collection, "good").await;
    assert_eq!(good.len(), 1, "{good:?}");
    let bad = audit_trail(&collection, "bad").await;
    assert_eq!(
        bad.len(),
        1,
        "only the original; the reused key applied nothing: {bad:?}"
    );
    assert_eq!(bad[0].event_id, Some(poison.event_id.to_string()));
    let failed = store.events_in_state(EventState::Failed, 10).await.unwrap();
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("already used"),
        "{failed:?}"
    );
    assert_eq!(
        store.count(EventState::Queued).await.unwrap(),
        1,
        "held behind its record's failure"
    );
}

#[wasm_bindgen_test]
async fn a_busy_server_is_waited_for_as_long_as_it_asks() {
    let (store, _) = fresh().await;
    let collection = fresh_collection();
    store
        .enqueue(change(&collection, "a", "x"), BrowserEnv.now_ms())
        .await
        .unwrap();
    let engine = Engine::new(&store, transport(), BrowserEnv, EngineConfig::default());
    set_faults(r#"{"fail_next": 1, "retry_after_s": 7}"#).await;
    let before = BrowserEnv.now_ms();
    let report = engine.drain().await.unwrap();
    reset_faults().await;
    let Some(Halt::Wait { until_ms, reason }) = report.halt else {
        panic!("waits: {report:?}")
    };
    assert!(
        until_ms >= before + 7_000 && until_ms <= BrowserEnv.now_ms() + 7_000,
        "{until_ms}"
    );
    assert_eq!(
        outbox_sync::core::words::text_of(&reason),
        "Server unavailable"
    );
    assert_eq!(store.next_attempt_at().await.unwrap(), Some(until_ms));
}

#[wasm_bindgen_test]
async fn a_drainer_killed_after_sending_loses_nothing_and_doubles_nothing() {
    // Leases that run out at once: the next drainer recovers them immediately.
    let config = StoreConfig {
        lease_ms: 0,
        ..StoreConfig::default()
    };
    let (store, _) = crate::suite::fresh_with(config).await;
    let collection = fresh_collection();
    let changes = (0..3)
        .map(|i| change(&collection, &format!("r{i}"), "x"))
        .collect();
    store
        .enqueue_batch(changes, BrowserEnv.now_ms())
        .await
        .unwrap();
    // A drainer takes the batch, the server applies it, and the drainer dies
    // before it records anything.
    let taken = store.take_batch(BrowserEnv.now_ms(), 10).await.unwrap();
    let PushReply::Answer(answer) = push(&endpoint(), &taken).await else {
        panic!("pushed")
    };
    let first_versions: Vec<u64> = answer
        .results
        .iter()
        .map(|result| applied(&result.outcome).0)
        .collect();
    let engine = Engine::new(&store, transport(), BrowserEnv, EngineConfig::default());
    let report = engine.drain().await.unwrap();
    assert_eq!((report.recovered, report.synced), (3, 3), "{report:?}");
    let on_server = server_changes(&collection).await;
    assert_eq!(on_server.len(), 3);
    for record in on_server {
        let key = outbox_sync::core::RecordKey {
            collection: collection.clone(),
            record_id: record.record_id.clone(),
        };
        let local = store.record(&key).await.unwrap().unwrap();
        assert_eq!(
            local.base_version,
            Some(record.version),
            "confirmed by the first application"
        );
    }
    let ids: Vec<Uuid> = taken.iter().map(|e| e.event_id).collect();
    let versions = assert_applied_once(&collection, &["r0", "r1", "r2"], &ids).await;
    for (id, first) in ids.iter().zip(&first_versions) {
        assert_eq!(
            versions[&id.to_string()],
            *first,
            "applied once, by the push the drainer never heard back from"
        );
    }
}

#[wasm_bindgen_test]
async fn last_write_wins_and_field_merge_between_two_devices() {
    let (a, _) = fresh().await;
    let (b, _) = fresh().await;
    let record = format!("r-{}", Uuid::now_v7().simple());
    for (collection, expected) in [
        // lww: b's later put replaces a's fields, no conflict.
        (fresh_collection(), vec![("owner", "bo")]),
        // merge: different fields changed on both sides combine.
        (
            "net_merge".to_owned(),
            vec![("title", "A's title"), ("owner", "bo")],
        ),
    ] {
        let first = change(&collection, &record, "first");
        a.enqueue(first, BrowserEnv.now_ms()).await.unwrap();
        let engine_a = Engine::new(&a, transport(), BrowserEnv, EngineConfig::default());
        engine_a.drain().await.unwrap();
        let engine_b = Engine::new(&b, transport(), BrowserEnv, EngineConfig::default());
        engine_b.pull().await.unwrap();
        let title = Map::from([("title".to_owned(), Value::from("A's title"))]);
        let owner = Map::from([("owner".to_owned(), Value::from("bo"))]);
        let patch = |collection: &str, fields: Map| NewEvent {
            collection: collection.into(),
            record_id: record.clone(),
            op: if collection == "net_merge" {
                Operation::Patch
            } else {
                Operation::Put
            },
            payload: Value::Object(fields),
        };
        a.enqueue(patch(&collection, title), BrowserEnv.now_ms())
            .await
            .unwrap();
        assert_eq!(engine_a.drain().await.unwrap().synced, 1);
        b.enqueue(patch(&collection, owner), BrowserEnv.now_ms())
            .await
            .unwrap();
        let report = engine_b.drain().await.unwrap();
        assert_eq!(
            (report.synced, report.conflicts),
            (1, 0),
            "{collection}: {report:?}"
        );
        let on_server = server_changes(&collection).await;
        let latest = on_server.iter().find(|r| r.record_id == record).unwrap();
        let expected: Map = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        assert_eq!(latest.data, Value::Object(expected), "{collection}");
    }
}

/// A drain whose takes hold the payloads in JavaScript, as `syncNow()`'s
/// do (`IdbOutbox::hold_payloads`), delivers every payload as it was
/// saved: nested fields, a large one pushed alone, a patch against the
/// record's version, a later delete of a record; nothing stays held.
#[wasm_bindgen_test]
async fn a_drain_with_held_payloads_delivers_them_whole() {
    let (store, _) = fresh().await;
    let collection = fresh_collection();
    let nested = Value::Object(Map::from([
        ("title".to_owned(), Value::from("é ✓ \"q\"")),
        ("n".to_owned(), Value::Number(1.5)),
        ("done".to_owned(), Value::Bool(true)),
        ("none".to_owned(), Value::Null),
        (
            "tags".to_owned(),
            Value::Array(vec![Value::from("a"), Value::Number(-2.0)]),
        ),
        (
            "inner".to_owned(),
            Value::Object(Map::from([("deep".to_owned(), Value::from("x"))])),
        ),
    ]));
    let large = "x".repeat(2_000);
    let put = |record: &str, payload: Value| NewEvent {
        collection: collection.clone(),
        record_id: record.into(),
        op: Operation::Put,
        payload,
    };
    let now = BrowserEnv.now_ms();
    store
        .enqueue_batch(
            vec![
                put("a", nested.clone()),
                change(&collection, "b", &large),
                change(&collection, "c", "soon gone"),
                change(&collection, "d", "1"),
            ],
            now,
        )
        .await
        .unwrap();
    store
        .enqueue(
            NewEvent {
                collection: collection.clone(),
                record_id: "c".into(),
                op: Operation::Delete,
                payload: Value::Null,
            },
            now,
        )
        .await
        .unwrap();
    let config = EngineConfig {
        batch_size: 2,
        large_payload_bytes: 500,
        ..EngineConfig::default()
    };
    let held = FetchTransport {
        endpoint: endpoint(),
        outgoing: Some(store.outgoing()),
    };
    let drain = |transport: FetchTransport| {
        let store = &store;
        async move {
            let _holding = store.hold_payloads();
            let engine = Engine::new(store, transport, BrowserEnv, config);
            engine.drain().await.unwrap()
        }
    };
    let first = drain(held.clone()).await;
    assert_eq!((first.synced, &first.halt), (5, &None), "{first:?}");
    assert!(store.outgoing().is_empty(), "nothing stays held");
    // A patch carries the version the first drain confirmed.
    let patch = Value::Object(Map::from([("title".to_owned(), Value::from("patched"))]));
    let patched = store
        .enqueue(
            NewEvent {
                collection: collection.clone(),
                record_id: "a".into(),
                op: Operation::Patch,
                payload: patch,
            },
            BrowserEnv.now_ms(),
        )
        .await
        .unwrap();
    assert!(patched.base_version.is_some());
    let second = drain(held).await;
    assert_eq!((second.synced, second.conflicts), (1, 0), "{second:?}");
    let on_server = server_changes(&collection).await;
    let data = |id: &str| {
        on_server
            .iter()
            .find(|r| r.record_id == id)
            .unwrap_or_else(|| panic!("{id} is on the server: {on_server:?}"))
    };
    let mut expected = nested.as_object().unwrap().clone();
    expected.insert("title".to_owned(), Value::from("patched"));
    // The server keeps no field that is null.
    expected.remove("none");
    assert_eq!(data("a").data, Value::Object(expected));
    assert_eq!(
        data("b").data.as_object().unwrap()["title"],
        Value::from(large.as_str())
    );
    assert!(data("c").deleted, "the delete went after the put");
    assert_eq!(
        data("d").data.as_object().unwrap()["title"],
        Value::from("1")
    );
}

/// A drain whose takes grow to several requests' worth (sent one after
/// another beside one settle-and-take whose take reads ahead of the
/// settlement's writes, confirmed events settled from the take's copy):
/// every record's changes still reach the server one after another, each
/// applied once, and nothing stays held.
#[wasm_bindgen_test]
async fn a_drain_in_takes_of_several_requests_keeps_each_records_order() {
    let (store, _) = fresh().await;
    let collection = fresh_collection();
    let records: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    let mut sent = Vec::new();
    for round in 1..=3 {
        let changes = records
            .iter()
            .map(|r| change(&collection, r, &round.to_string()))
            .collect();
        sent.extend(
            store
                .enqueue_batch(changes, BrowserEnv.now_ms())
                .await
                .unwrap(),
        );
    }
    let config = EngineConfig {
        batch_size: 2,
        ..EngineConfig::default()
    };
    let held = FetchTransport {
        endpoint: endpoint(),
        outgoing: Some(store.outgoing()),
    };
    let report = {
        let _holding = store.hold_payloads();
        let engine = Engine::new(&store, held, BrowserEnv, config);
        engine.drain().await.unwrap()
    };
    assert_eq!((report.synced, &report.halt), (24, &None), "{report:?}");
    assert_eq!(store.status().await.unwrap().pending(), 0);
    assert!(store.outgoing().is_empty(), "nothing stays held");
    let ids: Vec<Uuid> = sent.iter().map(|e| e.event_id).collect();
    let names: Vec<&str> = records.iter().map(String::as_str).collect();
    let versions = assert_applied_once(&collection, &names, &ids).await;
    for (i, record) in records.iter().enumerate() {
        let of_record: Vec<u64> = (0..3)
            .map(|round| versions[&ids[round * records.len() + i].to_string()])
            .collect();
        assert!(
            of_record.windows(2).all(|w| w[0] < w[1]),
            "{record}'s changes applied in order: {of_record:?}"
        );
    }
    for record in server_changes(&collection).await {
        assert_eq!(record.data.as_object().unwrap()["title"], Value::from("3"));
    }
}
