//! Failures only IndexedDB has come back as typed errors, never as silent
//! success: a closed connection, stored data no version wrote, browser errors.
//! (Bad input and refused transitions are in the store contract, tests/contract/.)

use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use outbox_sync::core::{EventState, OutboxStore, StoreError};
use outbox_sync::store::{error::from_dom_name, schema};
use serde::Serialize;
use wasm_bindgen_test::wasm_bindgen_test;

use super::{fresh, put};

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
