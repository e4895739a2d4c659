//! Pulled pages with their sync token, and the settings kept beside them.

use outbox_sync::core::{EventState, OutboxStore, SyncStore};
use outbox_sync_protocol::Value;

use super::{fields, key, local, patch, remote, title, Fresh};

pub async fn pulled_pages_write_records_and_the_token_together(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    assert_eq!(outbox.sync_token().await.unwrap(), None);
    outbox
        .enqueue(patch("a", "tag", Value::from("mine")), 0)
        .await
        .unwrap();
    let page = [
        remote("a", 3, Some(fields(&[("title", "theirs"), ("tag", "old")]))),
        remote("b", 4, Some(fields(&[("title", "new")]))),
        remote("gone", 5, None),
    ];
    assert_eq!(outbox.apply_pulled(&page, "t1").await.unwrap(), 3);
    assert_eq!(outbox.sync_token().await.unwrap().as_deref(), Some("t1"));
    let a = outbox.record(&key("a")).await.unwrap().unwrap();
    assert_eq!(
        (a.local, a.base_version, a.pending),
        (
            Some(fields(&[("title", "theirs"), ("tag", "mine")])),
            Some(3),
            1
        ),
        "rebased: the pending change stays on top of the server's version"
    );
    assert_eq!(a.base, Some(fields(&[("title", "theirs"), ("tag", "old")])));
    assert_eq!(local(&outbox, "b").await, Some(fields(&[("title", "new")])));
    assert_eq!(outbox.record(&key("gone")).await.unwrap(), None);

    // The same page again changes nothing; an older version neither.
    assert_eq!(outbox.apply_pulled(&page[1..2], "t1").await.unwrap(), 0);
    let older = [remote("b", 2, Some(fields(&[("title", "older")])))];
    assert_eq!(outbox.apply_pulled(&older, "t1").await.unwrap(), 0);
    assert_eq!(title(&outbox, "b").await, Some(Value::from("new")));
    // A tombstone removes a synced record.
    assert_eq!(
        outbox
            .apply_pulled(&[remote("b", 9, None)], "t2")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        outbox.record(&key("b")).await.unwrap(),
        None,
        "a tombstone removes it"
    );
    assert_eq!(outbox.sync_token().await.unwrap().as_deref(), Some("t2"));
    // An empty page still moves the token.
    assert_eq!(outbox.apply_pulled(&[], "t3").await.unwrap(), 0);
    assert_eq!(outbox.sync_token().await.unwrap().as_deref(), Some("t3"));

    outbox.reset_sync_token().await.unwrap();
    assert_eq!(outbox.sync_token().await.unwrap(), None);
    assert_eq!(
        outbox.count(EventState::Queued).await.unwrap(),
        1,
        "a resync keeps pending changes"
    );
    assert_eq!(title(&outbox, "a").await, Some(Value::from("theirs")));
}

pub async fn a_record_named_twice_in_a_page_ends_as_its_last_change(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let page = [
        remote("a", 1, Some(fields(&[("title", "first")]))),
        remote("b", 2, Some(fields(&[("title", "kept")]))),
        remote("a", 3, None),
        remote("c", 4, None),
        remote("c", 5, Some(fields(&[("title", "back")]))),
    ];
    assert_eq!(outbox.apply_pulled(&page, "token-1").await.unwrap(), 3);
    assert_eq!(outbox.record(&key("a")).await.unwrap(), None);
    assert_eq!(title(&outbox, "b").await, Some(Value::from("kept")));
    assert_eq!(title(&outbox, "c").await, Some(Value::from("back")));
    let c = outbox.record(&key("c")).await.unwrap().unwrap();
    assert_eq!((c.base_version, c.pending), (Some(5), 0));
}

pub async fn settings_are_kept_replaced_and_removed_apart_from_the_token(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    assert_eq!(outbox.setting("endpoint").await.unwrap(), None);
    outbox.set_setting("endpoint", Some("a")).await.unwrap();
    outbox
        .set_setting("endpoint", Some("{\"serverUrl\":\"/\"}"))
        .await
        .unwrap();
    outbox.set_setting("other", Some("x")).await.unwrap();
    outbox.apply_pulled(&[], "token").await.unwrap();
    assert_eq!(
        outbox.setting("endpoint").await.unwrap().as_deref(),
        Some("{\"serverUrl\":\"/\"}")
    );
    outbox.set_setting("endpoint", None).await.unwrap();
    assert_eq!(outbox.setting("endpoint").await.unwrap(), None);
    assert_eq!(outbox.setting("other").await.unwrap().as_deref(), Some("x"));
    assert_eq!(
        outbox.setting("sync_token").await.unwrap(),
        None,
        "settings and the library's own markers are apart"
    );
    outbox
        .set_setting("sync_token", Some("mine"))
        .await
        .unwrap();
    assert_eq!(
        outbox.sync_token().await.unwrap().as_deref(),
        Some("token"),
        "a setting never touches the sync token"
    );
    outbox.reset_sync_token().await.unwrap();
    assert_eq!(
        outbox.setting("sync_token").await.unwrap().as_deref(),
        Some("mine")
    );
}
