//! Schema versions on real IndexedDB: upgrades keep data, newer and blocked databases are refused.

use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use outbox_sync::core::index::IndexSpec;
use outbox_sync::core::{outbox::prepare_event, Limits};
use outbox_sync::core::{EventState, OutboxEvent, OutboxStore, StoreConfig, StoreError};
use outbox_sync::store::{schema, IdbOutbox};
use outbox_sync_protocol::Value;
use uuid::Uuid;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{db_name, patch, put, seqs, title};

/// Creates `name` at an old IndexedDB `version` and stores `events` with the record they fold
/// into, as that version of the library wrote them; returns the object stores it had.
async fn store_as_an_old_version(name: &str, version: u32, events: &[OutboxEvent]) -> Vec<String> {
    let db = schema::open_at_version(name, version, true).await.unwrap();
    assert_eq!(db.version(), f64::from(version));
    let names = db.object_store_names().collect();
    let tx = db
        .transaction([schema::OUTBOX, schema::RECORDS])
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap();
    {
        let outbox = tx.object_store(schema::OUTBOX).unwrap();
        let records = tx.object_store(schema::RECORDS).unwrap();
        let mut record = None;
        for event in events {
            record = Some(prepare_event(&Limits::default(), record, event).unwrap());
            outbox.add(event).serde().unwrap().await.unwrap();
        }
        records.put(record.unwrap()).serde().unwrap().await.unwrap();
    }
    tx.commit().await.unwrap();
    db.close();
    names
}

#[wasm_bindgen_test]
async fn a_version_one_database_upgrades_and_keeps_its_data() {
    let name = db_name();
    // Written the way version 1 of the library wrote it: no `by_record` index yet.
    let events = [
        OutboxEvent::queued(put("a", "old"), Uuid::now_v7(), None, 1),
        OutboxEvent::queued(
            patch("a", "title", Value::from("older mistake")),
            Uuid::now_v7(),
            None,
            2,
        ),
    ];
    let names = store_as_an_old_version(&name, 1, &events).await;
    assert!(!names.iter().any(|n| n == schema::CONFLICTS), "{names:?}");

    let outbox = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let stored = outbox
        .events_in_state(EventState::Queued, 10)
        .await
        .unwrap();
    assert_eq!(
        stored.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        events.iter().map(|e| e.event_id).collect::<Vec<_>>()
    );
    assert_eq!(
        title(&outbox, "a").await,
        Some(Value::from("older mistake"))
    );
    // `discard` reads the version 2 `by_record` index, built over the old events.
    outbox.discard(events[1].event_id).await.unwrap();
    assert_eq!(title(&outbox, "a").await, Some(Value::from("old")));
    assert_eq!(
        outbox.enqueue(put("b", "new"), 3).await.unwrap().seq,
        Some(3)
    );
    outbox.close();

    let db = schema::open_at_version(&name, schema::SCHEMA_VERSION, true)
        .await
        .unwrap();
    assert_eq!(db.version(), f64::from(schema::SCHEMA_VERSION));
    assert!(db.object_store_names().any(|n| n == schema::CONFLICTS));
    db.close();
}

#[wasm_bindgen_test]
async fn a_database_from_a_newer_version_is_refused() {
    let name = db_name();
    let newer = schema::first_version(schema::SCHEMA_LEVEL + 1);
    schema::open_at_version(&name, newer, true)
        .await
        .unwrap()
        .close();
    let err = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::NewerSchema {
            found: schema::SCHEMA_LEVEL + 1,
            supported: schema::SCHEMA_LEVEL
        }
    );
    assert_eq!(err.code(), "newer_schema");
    assert!(err.to_string().contains("Update the app"), "{err}");
}

#[wasm_bindgen_test]
async fn an_upgrade_blocked_by_an_old_connection_is_reported() {
    let name = db_name();
    // An old tab that does not close when asked to.
    let old = schema::open_at_version(&name, 1, false).await.unwrap();
    let err = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::UpgradeBlocked);
    old.close();
    // Once the old tab is gone, the upgrade goes through, migration included.
    let outbox = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let saved = outbox
        .enqueue_batch(
            vec![put("a", "1"), patch("a", "title", Value::from("2"))],
            0,
        )
        .await
        .unwrap();
    outbox.discard(saved[1].event_id).await.unwrap();
    assert_eq!(title(&outbox, "a").await, Some(Value::from("1")));
}

#[wasm_bindgen_test]
async fn an_open_store_steps_aside_for_a_newer_version() {
    let (outbox, name) = super::fresh().await;
    outbox.enqueue(put("a", "1"), 0).await.unwrap();
    // A newer library version opens the same database: this connection closes
    // itself instead of blocking the upgrade, and then reports errors.
    let newer = schema::open_at_version(&name, schema::SCHEMA_VERSION + 1, true)
        .await
        .unwrap();
    assert!(outbox.status().await.is_err());
    newer.close();
}

fn indexes(declared: &[&[&str]]) -> Vec<IndexSpec> {
    declared
        .iter()
        .map(|fields| {
            IndexSpec::declared("notes", fields.iter().map(|f| (*f).to_owned()).collect()).unwrap()
        })
        .collect()
}

#[wasm_bindgen_test]
async fn changing_the_declared_indexes_upgrades_and_keeps_every_pending_change() {
    let name = db_name();
    let first =
        IdbOutbox::open_with_indexes(&name, StoreConfig::default(), Some(indexes(&[&["title"]])))
            .await
            .unwrap();
    let queued = first
        .enqueue_batch(
            vec![
                put("a", "1"),
                put("b", "2"),
                patch("a", "title", Value::from("3")),
            ],
            0,
        )
        .await
        .unwrap();
    let version = first.version();
    assert_eq!(schema::level_of(version), schema::SCHEMA_LEVEL);
    // Another tab opens with another declaration: this one steps aside.
    let second = IdbOutbox::open_with_indexes(
        &name,
        StoreConfig::default(),
        Some(indexes(&[&["site"], &["site", "title"]])),
    )
    .await
    .unwrap();
    assert!(
        first.status().await.is_err(),
        "the old connection closed itself"
    );
    assert_eq!(second.version(), version + 1, "one upgrade for the change");
    let mut declared = second.declared_indexes();
    declared.sort();
    assert_eq!(declared, indexes(&[&["site"], &["site", "title"]]));
    let unsent = second.unsent(10).await.unwrap();
    assert_eq!(
        unsent.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        queued.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        "the same events, in the same order"
    );
    assert_eq!(title(&second, "a").await, Some(Value::from("3")));
    second.close();
    // The same declaration again, or none (a service worker): no upgrade.
    let same = IdbOutbox::open_with_indexes(
        &name,
        StoreConfig::default(),
        Some(indexes(&[&["site", "title"], &["site"]])),
    )
    .await
    .unwrap();
    assert_eq!(same.version(), version + 1);
    same.close();
    let worker = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    assert_eq!(worker.version(), version + 1);
    assert_eq!(worker.declared_indexes().len(), 2, "kept as they are");
    assert_eq!(worker.unsent(10).await.unwrap().len(), 3);
}

#[wasm_bindgen_test]
async fn a_level_three_database_gains_the_blobs_store_and_keeps_its_changes_and_indexes() {
    let name = db_name();
    {
        let db = schema::open_at_version(&name, schema::first_version(3), true)
            .await
            .unwrap();
        let names: Vec<String> = db.object_store_names().collect();
        assert!(!names.iter().any(|n| n == schema::BLOBS), "{names:?}");
        db.close();
    }
    let declared = indexes(&[&["title"]]);
    let outbox =
        IdbOutbox::open_with_indexes(&name, StoreConfig::default(), Some(declared.clone()))
            .await
            .unwrap();
    outbox.enqueue(put("a", "kept"), 1).await.unwrap();
    assert_eq!(schema::level_of(outbox.version()), schema::SCHEMA_LEVEL);
    assert_eq!(outbox.declared_indexes(), declared);
    assert!(outbox.blob(&"ab".repeat(32)).await.unwrap().is_none());
    outbox.close();
    // Opened again with the same declaration: no further upgrade.
    let again = IdbOutbox::open_with_indexes(&name, StoreConfig::default(), Some(declared))
        .await
        .unwrap();
    assert_eq!(again.version(), schema::first_version(schema::SCHEMA_LEVEL));
    assert_eq!(title(&again, "a").await, Some(Value::from("kept")));
    again.close();
}

#[wasm_bindgen_test]
async fn a_change_a_level_four_database_stored_as_syncing_stays_held_until_its_lease_runs_out() {
    let name = db_name();
    // As level 4 stored a taken event: rewritten as syncing, with its own lease.
    let mut event = OutboxEvent::queued(put("a", "sent"), Uuid::now_v7(), None, 1);
    event.start_sync(5_000).unwrap();
    let names = store_as_an_old_version(&name, schema::first_version(4), &[event]).await;
    assert!(!names.iter().any(|n| n == schema::LEASES), "{names:?}");
    let outbox = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    assert_eq!(schema::level_of(outbox.version()), schema::SCHEMA_LEVEL);
    assert_eq!(outbox.count(EventState::Syncing).await.unwrap(), 1);
    assert!(
        outbox.take_batch(1_000, 10).await.unwrap().is_empty(),
        "held"
    );
    assert_eq!(outbox.recover_leases(4_999).await.unwrap(), 0);
    assert_eq!(outbox.recover_leases(5_000).await.unwrap(), 1);
    let again = outbox.take_batch(6_000, 10).await.unwrap();
    assert_eq!((seqs(&again), again[0].attempts), (vec![1], 2));
    assert_eq!(title(&outbox, "a").await, Some(Value::from("sent")));
    outbox.close();
}
