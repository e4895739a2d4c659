//! Reads: records by collection, unsent events, events by state, a record's state.

use outbox_sync::core::outbox::record_state;
use outbox_sync::core::{EventState, LocalRecord, OutboxStore};

use super::{key, put, seqs, Fresh};

pub async fn records_lists_one_collection_in_id_order(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let mut other = put("z", "elsewhere");
    other.collection = "notes2".into();
    let mut prefix = put("a", "prefix");
    prefix.collection = "note".into();
    outbox
        .enqueue_batch(
            vec![put("b", "2"), other, put("c", "3"), prefix, put("a", "1")],
            0,
        )
        .await
        .unwrap();
    let ids =
        |records: Vec<LocalRecord>| records.into_iter().map(|r| r.record_id).collect::<Vec<_>>();
    assert_eq!(
        ids(outbox.records("notes", 10).await.unwrap()),
        ["a", "b", "c"]
    );
    assert_eq!(ids(outbox.records("notes", 2).await.unwrap()), ["a", "b"]);
    assert_eq!(ids(outbox.records("note", 10).await.unwrap()), ["a"]);
    assert!(outbox.records("missing", 10).await.unwrap().is_empty());
    assert!(outbox.records("notes", 0).await.unwrap().is_empty());
}

pub async fn records_are_in_the_order_indexeddb_keeps_keys(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    // IndexedDB compares strings by UTF-16 code units: a character past
    // U+FFFF (a surrogate pair, from 0xD800) sorts before U+E000..U+FFFF,
    // where UTF-8 bytes would put it after.
    let ids = ["\u{FF5A}", "\u{1F600}", "a", "B", "\u{E9}"];
    let changes = ids.iter().map(|id| put(id, "1")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let listed: Vec<_> = outbox
        .records("notes", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.record_id)
        .collect();
    assert_eq!(listed, ["B", "a", "\u{E9}", "\u{1F600}", "\u{FF5A}"]);
    let first: Vec<_> = outbox
        .records("notes", 4)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.record_id)
        .collect();
    assert_eq!(
        first,
        listed[..4],
        "a page holds the first ids in that order"
    );
}

pub async fn unsent_lists_every_unconfirmed_state_once_in_send_order(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    outbox
        .enqueue_batch(
            vec![
                put("a", "1"),
                put("b", "1"),
                put("c", "1"),
                put("d", "1"),
                put("e", "1"),
            ],
            0,
        )
        .await
        .unwrap();
    let batch = outbox.take_batch(0, 4).await.unwrap();
    outbox
        .complete(batch[0].event_id, Some(1), 1)
        .await
        .unwrap();
    outbox.fail(batch[2].event_id, "refused").await.unwrap();
    outbox
        .mark_conflict(batch[3].event_id, "changed there")
        .await
        .unwrap();
    let unsent = outbox.unsent(10).await.unwrap();
    let states: Vec<_> = unsent
        .iter()
        .map(|e| (e.record_id.as_str(), e.state))
        .collect();
    assert_eq!(
        states,
        [
            ("b", EventState::Syncing),
            ("c", EventState::Failed),
            ("d", EventState::Conflict),
            ("e", EventState::Queued)
        ]
    );
    assert_eq!(seqs(&outbox.unsent(2).await.unwrap()), vec![2, 3]);
    assert!(outbox.unsent(0).await.unwrap().is_empty());
}

pub async fn events_in_state_lists_in_send_order_up_to_the_limit(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let changes = (0..12).map(|i| put(&format!("r{}", i % 5), "1")).collect();
    let saved = outbox.enqueue_batch(changes, 0).await.unwrap();
    let queued = outbox
        .events_in_state(EventState::Queued, 100)
        .await
        .unwrap();
    assert_eq!(queued, saved, "every field reads back as written");
    assert_eq!(
        outbox
            .events_in_state(EventState::Queued, 10)
            .await
            .unwrap(),
        saved[..10].to_vec()
    );
    assert!(outbox
        .events_in_state(EventState::Queued, 0)
        .await
        .unwrap()
        .is_empty());
    let taken = outbox.take_batch(0, 3).await.unwrap();
    assert_eq!(
        outbox
            .events_in_state(EventState::Syncing, 100)
            .await
            .unwrap(),
        taken
    );
    assert_eq!(
        outbox
            .events_in_state(EventState::Queued, 100)
            .await
            .unwrap()
            .len(),
        9
    );
    assert!(outbox
        .events_in_state(EventState::Synced, 100)
        .await
        .unwrap()
        .is_empty());
}

pub async fn a_record_shows_its_most_pressing_change(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    assert_eq!(
        record_state(&outbox.unsent_events(&key("a")).await.unwrap()),
        EventState::Synced
    );
    outbox
        .enqueue_batch(vec![put("a", "1"), put("a", "2"), put("b", "1")], 0)
        .await
        .unwrap();
    let unsent = outbox.unsent_events(&key("a")).await.unwrap();
    assert_eq!(seqs(&unsent), vec![1, 2]);
    assert_eq!(record_state(&unsent), EventState::Queued);
    let batch = outbox.take_batch(0, 10).await.unwrap();
    assert_eq!(
        record_state(&outbox.unsent_events(&key("a")).await.unwrap()),
        EventState::Syncing
    );
    outbox.fail(batch[0].event_id, "refused").await.unwrap();
    assert_eq!(
        record_state(&outbox.unsent_events(&key("a")).await.unwrap()),
        EventState::Failed
    );
    outbox
        .complete(batch[1].event_id, Some(1), 1)
        .await
        .unwrap();
    assert_eq!(
        record_state(&outbox.unsent_events(&key("b")).await.unwrap()),
        EventState::Synced
    );

    // Several records read together, in the order asked.
    let all = outbox
        .unsent_events_of(&[key("b"), key("missing"), key("a")])
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(all[0].is_empty() && all[1].is_empty());
    assert_eq!(seqs(&all[2]), vec![1, 2]);
}
