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
    assert_eq!(outbox.apply_pulled(&page, "t1", 0).await.unwrap(), 3);
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
    assert_eq!(outbox.apply_pulled(&page[1..2], "t1", 0).await.unwrap(), 0);
    let older = [remote("b", 2, Some(fields(&[("title", "older")])))];
    assert_eq!(outbox.apply_pulled(&older, "t1", 0).await.unwrap(), 0);
    assert_eq!(title(&outbox, "b").await, Some(Value::from("new")));
    // A tombstone removes a synced record.
    assert_eq!(
        outbox
            .apply_pulled(&[remote("b", 9, None)], "t2", 0)
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
    assert_eq!(outbox.apply_pulled(&[], "t3", 0).await.unwrap(), 0);
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

pub async fn a_pulled_change_is_a_change_on_this_device_when_it_arrives(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let updated = |record: Option<outbox_sync::core::LocalRecord>| record.unwrap().updated_at_ms;
    outbox
        .enqueue(patch("mine", "title", Value::from("typed here")), 1_000)
        .await
        .unwrap();
    let page = [
        remote("theirs", 3, Some(fields(&[("title", "from elsewhere")]))),
        remote("mine", 4, Some(fields(&[("title", "theirs")]))),
    ];
    outbox.apply_pulled(&page, "t1", 5_000).await.unwrap();
    // The server's records carry no time: a new version counts from its arrival.
    assert_eq!(updated(outbox.record(&key("theirs")).await.unwrap()), 5_000);
    assert_eq!(
        updated(outbox.record(&key("mine")).await.unwrap()),
        5_000,
        "rebased under a pending change, the record changed again"
    );
    // A version the device already has changes nothing, its time neither.
    outbox.apply_pulled(&page[..1], "t2", 9_000).await.unwrap();
    assert_eq!(updated(outbox.record(&key("theirs")).await.unwrap()), 5_000);
    // A device whose clock went back never moves a record back in time.
    outbox
        .apply_pulled(
            &[remote("theirs", 6, Some(fields(&[("title", "again")])))],
            "t3",
            2_000,
        )
        .await
        .unwrap();
    assert_eq!(updated(outbox.record(&key("theirs")).await.unwrap()), 5_000);
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
    assert_eq!(outbox.apply_pulled(&page, "token-1", 0).await.unwrap(), 3);
    assert_eq!(outbox.record(&key("a")).await.unwrap(), None);
    assert_eq!(title(&outbox, "b").await, Some(Value::from("kept")));
    assert_eq!(title(&outbox, "c").await, Some(Value::from("back")));
    let c = outbox.record(&key("c")).await.unwrap().unwrap();
    assert_eq!((c.base_version, c.pending), (Some(5), 0));
}

/// Later pages see what the device holds whether their records sit among
/// few stored ones (IndexedDB then reads only the records it has) or among
/// many (it reads every record of the page).
pub async fn a_page_sees_what_is_stored_among_few_or_many_records(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let first: Vec<_> = (0..40)
        .map(|i| remote(&format!("r{i:02}"), i + 1, Some(fields(&[("title", "v1")]))))
        .collect();
    assert_eq!(outbox.apply_pulled(&first, "t1", 0).await.unwrap(), 40);
    outbox
        .enqueue(patch("r11", "tag", Value::from("mine")), 0)
        .await
        .unwrap();
    // Among few: the range r10..r11 holds only r10 and r11 (r100..r106
    // sort between them and are new).
    let mut few = vec![
        remote("r10", 60, Some(fields(&[("title", "v2")]))),
        remote(
            "r11",
            62,
            Some(fields(&[("title", "v2"), ("tag", "theirs")])),
        ),
        remote("r106", 63, None),
    ];
    few.extend((0..6).map(|i| {
        remote(
            &format!("r10{i}"),
            64 + i,
            Some(fields(&[("title", "new")])),
        )
    }));
    assert_eq!(outbox.apply_pulled(&few, "t2", 0).await.unwrap(), 9);
    assert_eq!(title(&outbox, "r10").await, Some(Value::from("v2")));
    assert_eq!(title(&outbox, "r105").await, Some(Value::from("new")));
    let r11 = outbox.record(&key("r11")).await.unwrap().unwrap();
    assert_eq!(
        (r11.local, r11.base_version, r11.pending),
        (
            Some(fields(&[("title", "v2"), ("tag", "mine")])),
            Some(62),
            1
        ),
        "the pending change stays on top of the pulled version"
    );
    // Among many: r00..r39 spans every stored record.
    let mut many = vec![
        remote("r00", 70, None),
        remote("r20", 4, Some(fields(&[("title", "older")]))),
        remote("r39", 72, Some(fields(&[("title", "v2")]))),
    ];
    many.extend((0..6).map(|i| {
        remote(
            &format!("r2{i}x"),
            80 + i,
            Some(fields(&[("title", "new")])),
        )
    }));
    assert_eq!(outbox.apply_pulled(&many, "t3", 0).await.unwrap(), 8);
    assert_eq!(outbox.record(&key("r00")).await.unwrap(), None);
    assert_eq!(
        title(&outbox, "r20").await,
        Some(Value::from("v1")),
        "an older version changes nothing"
    );
    assert_eq!(title(&outbox, "r25x").await, Some(Value::from("new")));
    assert_eq!(title(&outbox, "r39").await, Some(Value::from("v2")));
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
    outbox.apply_pulled(&[], "token", 0).await.unwrap();
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
