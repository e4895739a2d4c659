//! Pulled pages, sync tokens and conflicts on real IndexedDB.

use outbox_sync::core::conflict::Resolution;
use outbox_sync::core::{EventState, Operation, OutboxStore, SyncStore};
use outbox_sync::store::IdbOutbox;
use outbox_sync_protocol::{Map, Record, Value};
use wasm_bindgen_test::wasm_bindgen_test;

use super::{fresh, key, patch, put, title};

fn remote(record: &str, version: u64, title: Option<&str>) -> Record {
    Record {
        collection: "notes".into(),
        record_id: record.into(),
        version,
        deleted: title.is_none(),
        data: title.map_or(Value::Null, |t| {
            Value::Object(Map::from([("title".to_owned(), Value::from(t))]))
        }),
    }
}

#[wasm_bindgen_test]
async fn a_pulled_page_and_its_token_are_saved_together_and_survive_a_reopen() {
    let (outbox, name) = fresh().await;
    assert_eq!(outbox.sync_token().await.unwrap(), None);
    outbox
        .enqueue(patch("a", "tag", Value::from("mine")), 0)
        .await
        .unwrap();
    let page = [
        remote("a", 3, Some("theirs")),
        remote("b", 4, Some("new")),
        remote("c", 5, None),
    ];
    assert_eq!(outbox.apply_pulled(&page, "token-1").await.unwrap(), 3);
    outbox.close();

    let outbox = IdbOutbox::open(&name, Default::default()).await.unwrap();
    assert_eq!(
        outbox.sync_token().await.unwrap().as_deref(),
        Some("token-1")
    );
    let a = outbox.record(&key("a")).await.unwrap().unwrap();
    let expected = Map::from([
        ("title".to_owned(), Value::from("theirs")),
        ("tag".to_owned(), Value::from("mine")),
    ]);
    assert_eq!(
        (a.local, a.base_version, a.pending),
        (Some(expected), Some(3), 1)
    );
    assert_eq!(title(&outbox, "b").await, Some(Value::from("new")));
    assert_eq!(outbox.record(&key("c")).await.unwrap(), None);

    assert_eq!(
        outbox.apply_pulled(&page[1..2], "token-1").await.unwrap(),
        0
    );
    assert_eq!(
        outbox
            .apply_pulled(&[remote("b", 9, None)], "token-2")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        outbox.record(&key("b")).await.unwrap(),
        None,
        "a tombstone removes it"
    );
    outbox.reset_sync_token().await.unwrap();
    assert_eq!(outbox.sync_token().await.unwrap(), None);
    assert_eq!(
        outbox.count(EventState::Queued).await.unwrap(),
        1,
        "a resync keeps pending changes"
    );
}

/// `notes/a` with two queued changes, the first in conflict with version 5.
async fn in_conflict() -> (IdbOutbox, uuid::Uuid) {
    let (outbox, _) = fresh().await;
    outbox
        .enqueue_batch(
            vec![put("a", "mine"), patch("a", "tag", Value::from("t"))],
            0,
        )
        .await
        .unwrap();
    let sent = outbox.take_batch(0, 10).await.unwrap().remove(0);
    outbox
        .record_conflict(
            sent.event_id,
            remote("a", 5, Some("theirs")),
            vec![],
            "changed there",
            10,
        )
        .await
        .unwrap();
    (outbox, sent.event_id)
}

#[wasm_bindgen_test]
async fn a_conflict_is_kept_with_both_versions_until_the_user_chooses() {
    let (outbox, id) = in_conflict().await;
    let conflicts = outbox.conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].event_id, id);
    let mine = Map::from([
        ("title".to_owned(), Value::from("mine")),
        ("tag".to_owned(), Value::from("t")),
    ]);
    assert_eq!(conflicts[0].mine, Some(mine.clone()));
    assert_eq!(conflicts[0].theirs.version, 5);
    assert_eq!(outbox.status().await.unwrap().conflicts, 1);

    let sent = outbox
        .resolve_conflict(id, &Resolution::KeepMine, 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sent.op, sent.base_version), (Operation::Put, Some(5)));
    assert_eq!(sent.payload, Value::Object(mine));
    assert!(outbox.conflicts().await.unwrap().is_empty());
    assert_eq!(
        super::total(&outbox).await,
        1,
        "the choice replaces the record's unsent changes"
    );
    let next = outbox.take_batch(30, 10).await.unwrap();
    assert_eq!(next[0].event_id, sent.event_id);
}

#[wasm_bindgen_test]
async fn use_theirs_sends_nothing_and_a_conflict_resolves_once() {
    let (outbox, id) = in_conflict().await;
    assert_eq!(
        outbox
            .resolve_conflict(id, &Resolution::UseTheirs, 20)
            .await
            .unwrap(),
        None
    );
    assert_eq!(title(&outbox, "a").await, Some(Value::from("theirs")));
    assert_eq!(super::total(&outbox).await, 0);
    let again = outbox
        .resolve_conflict(id, &Resolution::UseTheirs, 21)
        .await
        .unwrap_err();
    assert_eq!(again.code(), "event_not_found");
}

#[wasm_bindgen_test]
async fn settings_survive_a_reopen_and_can_be_removed() {
    let (outbox, name) = fresh().await;
    outbox
        .set_setting("endpoint", Some("{\"serverUrl\":\"/\"}"))
        .await
        .unwrap();
    outbox.apply_pulled(&[], "token").await.unwrap();
    outbox.close();
    let outbox = IdbOutbox::open(&name, Default::default()).await.unwrap();
    let saved = outbox.setting("endpoint").await.unwrap();
    assert_eq!(saved.as_deref(), Some("{\"serverUrl\":\"/\"}"));
    outbox.set_setting("endpoint", None).await.unwrap();
    assert_eq!(outbox.setting("endpoint").await.unwrap(), None);
    assert_eq!(
        outbox.sync_token().await.unwrap().as_deref(),
        Some("token"),
        "apart from settings"
    );
}

#[wasm_bindgen_test]
async fn a_record_named_twice_in_a_page_ends_as_its_last_change() {
    let (outbox, _) = fresh().await;
    let page = [
        remote("a", 1, Some("first")),
        remote("b", 2, Some("kept")),
        remote("a", 3, None),
        remote("c", 4, None),
        remote("c", 5, Some("back")),
    ];
    assert_eq!(outbox.apply_pulled(&page, "token-1").await.unwrap(), 3);
    assert_eq!(outbox.record(&key("a")).await.unwrap(), None);
    assert_eq!(title(&outbox, "b").await, Some(Value::from("kept")));
    assert_eq!(title(&outbox, "c").await, Some(Value::from("back")));
}
