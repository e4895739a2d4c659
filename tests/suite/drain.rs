//! The drain cycle on real IndexedDB: batches, leases, outcomes, discard and purge.

use futures::future::join;
use outbox_sync::core::{EventState, OutboxStore, StatusSummary, StoreConfig, StoreError};
use outbox_sync::store::IdbOutbox;
use outbox_sync_protocol::{Map, Value};
use wasm_bindgen_test::wasm_bindgen_test;

use super::{fresh, fresh_with, key, patch, put, seqs, title, total};

#[wasm_bindgen_test]
async fn take_batch_gives_one_event_per_record_in_seq_order() {
    let (outbox, _) = fresh().await;
    outbox
        .enqueue_batch(
            vec![
                put("a", "1"),
                put("a", "2"),
                put("b", "1"),
                put("c", "1"),
                put("b", "2"),
            ],
            0,
        )
        .await
        .unwrap();
    let batch = outbox.take_batch(100, 10).await.unwrap();
    assert_eq!(seqs(&batch), vec![1, 3, 4]);
    assert!(batch
        .iter()
        .all(|e| e.state == EventState::Syncing && e.attempts == 1));
    assert!(
        outbox.take_batch(100, 10).await.unwrap().is_empty(),
        "leased events hold their records"
    );
    for event in &batch {
        outbox.complete(event.event_id, Some(1), 200).await.unwrap();
    }
    assert_eq!(seqs(&outbox.take_batch(300, 10).await.unwrap()), vec![2, 5]);
    assert_eq!(
        seqs(&{
            let (small, _) = fresh().await;
            small
                .enqueue_batch(vec![put("x", "1"), put("y", "1"), put("z", "1")], 0)
                .await
                .unwrap();
            small.take_batch(0, 2).await.unwrap()
        }),
        vec![1, 2],
        "the limit is respected"
    );
}

#[wasm_bindgen_test]
async fn a_failed_event_holds_back_only_its_own_record() {
    let (outbox, _) = fresh().await;
    outbox
        .enqueue_batch(vec![put("a", "bad"), put("a", "good"), put("b", "1")], 0)
        .await
        .unwrap();
    let batch = outbox.take_batch(0, 10).await.unwrap();
    let poison = batch[0].event_id;
    outbox
        .fail(poison, "Rejected: title too long")
        .await
        .unwrap();
    outbox
        .complete(batch[1].event_id, Some(1), 1)
        .await
        .unwrap();
    outbox.enqueue(put("b", "2"), 2).await.unwrap();

    let next = outbox.take_batch(3, 10).await.unwrap();
    assert_eq!(
        next.iter()
            .map(|e| e.record_id.as_str())
            .collect::<Vec<_>>(),
        vec!["b"],
        "b goes on while a waits"
    );
    let failed = outbox.event(poison).await.unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.last_error.as_deref()),
        (EventState::Failed, Some("Rejected: title too long"))
    );
    assert_eq!(
        outbox
            .events_in_state(EventState::Failed, 10)
            .await
            .unwrap(),
        vec![failed]
    );
}

#[wasm_bindgen_test]
async fn an_expired_lease_returns_events_to_the_queue() {
    let (outbox, _) = fresh_with(StoreConfig {
        lease_ms: 1_000,
        ..StoreConfig::default()
    })
    .await;
    outbox
        .enqueue_batch(vec![put("a", "1"), put("b", "1")], 0)
        .await
        .unwrap();
    let taken = outbox.take_batch(100, 10).await.unwrap();
    assert!(taken.iter().all(|e| e.lease_until_ms == Some(1_100)));
    // The drainer dies here; nothing is recovered before its lease runs out.
    assert_eq!(outbox.recover_leases(1_099).await.unwrap(), 0);
    assert_eq!(outbox.count(EventState::Syncing).await.unwrap(), 2);
    assert_eq!(outbox.recover_leases(1_100).await.unwrap(), 2);
    assert_eq!(outbox.count(EventState::Queued).await.unwrap(), 2);
    let again = outbox.take_batch(1_200, 10).await.unwrap();
    assert_eq!(seqs(&again), seqs(&taken));
    assert!(again.iter().all(|e| e.attempts == 2), "{again:?}");
}

#[wasm_bindgen_test]
async fn two_drainers_never_take_the_same_event() {
    let (one, name) = fresh().await;
    let two = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    let changes = (0..30).map(|i| put(&format!("r{i}"), "x")).collect();
    one.enqueue_batch(changes, 0).await.unwrap();
    let (a, b) = join(one.take_batch(10, 20), two.take_batch(10, 20)).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all = seqs(&a);
    all.extend(seqs(&b));
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=30).collect::<Vec<u64>>(),
        "every event taken exactly once: {a:?} {b:?}"
    );
    assert_eq!(one.count(EventState::Syncing).await.unwrap(), 30);
}

#[wasm_bindgen_test]
async fn complete_confirms_the_record_and_moves_its_base() {
    let (outbox, _) = fresh().await;
    outbox
        .enqueue_batch(
            vec![put("a", "v1"), patch("a", "body", Value::from("text"))],
            0,
        )
        .await
        .unwrap();
    let first = outbox.take_batch(0, 10).await.unwrap().remove(0);
    let done = outbox.complete(first.event_id, Some(7), 50).await.unwrap();
    assert_eq!(
        (done.state, done.synced_at_ms, done.lease_until_ms),
        (EventState::Synced, Some(50), None)
    );

    let record = outbox.record(&key("a")).await.unwrap().unwrap();
    assert_eq!((record.base_version, record.pending), (Some(7), 1));
    let confirmed = Map::from([("title".to_owned(), Value::from("v1"))]);
    assert_eq!(
        record.base,
        Some(confirmed),
        "the confirmed change is the new base"
    );

    let second = outbox.take_batch(60, 10).await.unwrap().remove(0);
    assert_eq!(
        second.base_version, None,
        "made before the first was confirmed"
    );
    outbox.complete(second.event_id, Some(8), 70).await.unwrap();
    let record = outbox.record(&key("a")).await.unwrap().unwrap();
    let expected = Map::from([
        ("title".to_owned(), Value::from("v1")),
        ("body".to_owned(), Value::from("text")),
    ]);
    assert_eq!((record.base_version, record.pending), (Some(8), 0));
    assert_eq!(
        (record.base.as_ref(), record.local.as_ref()),
        (Some(&expected), Some(&expected))
    );
}

#[wasm_bindgen_test]
async fn discard_rebuilds_the_local_view_from_what_remains() {
    let (outbox, _) = fresh().await;
    let first = outbox.enqueue(put("a", "base"), 0).await.unwrap();
    outbox.take_batch(0, 10).await.unwrap();
    outbox.complete(first.event_id, Some(1), 10).await.unwrap();
    let saved = outbox
        .enqueue_batch(
            vec![
                patch("a", "title", Value::from("mistake")),
                patch("a", "tag", Value::from("kept")),
            ],
            20,
        )
        .await
        .unwrap();
    assert_eq!(title(&outbox, "a").await, Some(Value::from("mistake")));

    outbox.discard(saved[0].event_id).await.unwrap();
    let record = outbox.record(&key("a")).await.unwrap().unwrap();
    let expected = Map::from([
        ("title".to_owned(), Value::from("base")),
        ("tag".to_owned(), Value::from("kept")),
    ]);
    assert_eq!((record.local, record.pending), (Some(expected), 1));
    assert_eq!(outbox.event(saved[0].event_id).await.unwrap(), None);

    let err = outbox.discard(saved[0].event_id).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::EventNotFound(saved[0].event_id.to_string())
    );
    let taken = outbox.take_batch(30, 10).await.unwrap().remove(0);
    assert_eq!(
        outbox.discard(taken.event_id).await.unwrap_err(),
        StoreError::CannotDiscard(EventState::Syncing)
    );
    assert_eq!(
        outbox.discard(first.event_id).await.unwrap_err(),
        StoreError::CannotDiscard(EventState::Synced)
    );
    assert_eq!(total(&outbox).await, 2, "refused discards removed nothing");
}

#[wasm_bindgen_test]
async fn discarding_after_a_confirmation_keeps_what_the_server_has() {
    let (outbox, _) = fresh().await;
    let saved = outbox
        .enqueue_batch(
            vec![
                put("a", "confirmed"),
                patch("a", "title", Value::from("mistake")),
                patch("a", "tag", Value::from("kept")),
            ],
            0,
        )
        .await
        .unwrap();
    outbox.take_batch(0, 10).await.unwrap();
    outbox
        .complete(saved[0].event_id, Some(3), 5)
        .await
        .unwrap();
    outbox.discard(saved[1].event_id).await.unwrap();
    let record = outbox.record(&key("a")).await.unwrap().unwrap();
    let expected = Map::from([
        ("title".to_owned(), Value::from("confirmed")),
        ("tag".to_owned(), Value::from("kept")),
    ]);
    assert_eq!((record.local, record.pending), (Some(expected), 1));
}

#[wasm_bindgen_test]
async fn purge_removes_only_old_synced_events() {
    let (outbox, _) = fresh().await;
    outbox
        .enqueue_batch(vec![put("a", "1"), put("b", "1"), put("c", "1")], 0)
        .await
        .unwrap();
    let batch = outbox.take_batch(0, 10).await.unwrap();
    outbox
        .complete(batch[0].event_id, Some(1), 100)
        .await
        .unwrap();
    outbox
        .complete(batch[1].event_id, Some(1), 200)
        .await
        .unwrap();
    assert_eq!(outbox.purge_synced(100).await.unwrap(), 0);
    assert_eq!(outbox.purge_synced(101).await.unwrap(), 1);
    assert_eq!(outbox.event(batch[0].event_id).await.unwrap(), None);
    assert_eq!(outbox.count(EventState::Synced).await.unwrap(), 1);
    assert_eq!(outbox.purge_synced(1_000).await.unwrap(), 1);
    assert_eq!(
        outbox.count(EventState::Syncing).await.unwrap(),
        1,
        "unsent events are never purged"
    );
    assert_eq!(
        title(&outbox, "a").await,
        Some(Value::from("1")),
        "records outlive their purged events"
    );
}

#[wasm_bindgen_test]
async fn requeue_waits_for_backoff_and_retry_now_clears_it() {
    let (outbox, _) = fresh().await;
    outbox.enqueue(put("a", "1"), 0).await.unwrap();
    let id = outbox.take_batch(0, 1).await.unwrap()[0].event_id;
    let waiting = outbox
        .requeue(id, 5_000, "Server unavailable")
        .await
        .unwrap();
    assert_eq!(
        (waiting.state, waiting.next_attempt_at_ms),
        (EventState::Queued, Some(5_000))
    );
    assert!(outbox.take_batch(10, 1).await.unwrap().is_empty());
    let due = outbox.retry_now(id).await.unwrap();
    assert_eq!(due.next_attempt_at_ms, None);
    assert_eq!(outbox.event(id).await.unwrap(), Some(due));
    assert_eq!(outbox.take_batch(10, 1).await.unwrap().len(), 1);

    // A failed event can be retried by the user too.
    outbox.fail(id, "Rejected").await.unwrap();
    assert_eq!(
        outbox.retry_now(id).await.unwrap().state,
        EventState::Queued
    );
    assert_eq!(outbox.take_batch(20, 1).await.unwrap()[0].attempts, 3);
}

#[wasm_bindgen_test]
async fn status_counts_every_unfinished_state() {
    let (outbox, _) = fresh().await;
    assert_eq!(outbox.status().await.unwrap(), StatusSummary::default());
    let changes = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|r| put(r, "1"))
        .collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let batch = outbox.take_batch(0, 4).await.unwrap();
    outbox.complete(batch[0].event_id, None, 1).await.unwrap();
    outbox.fail(batch[1].event_id, "Rejected").await.unwrap();
    outbox
        .mark_conflict(batch[2].event_id, "Changed on the server")
        .await
        .unwrap();
    let status = outbox.status().await.unwrap();
    assert_eq!(
        status,
        StatusSummary {
            queued: 2,
            syncing: 1,
            failed: 1,
            conflicts: 1
        }
    );
    assert_eq!(
        status.describe(),
        "3 changes pending, 1 change failed, 1 conflict to resolve"
    );
    assert_eq!(outbox.count(EventState::Synced).await.unwrap(), 1);
}

#[wasm_bindgen_test]
async fn retry_all_now_clears_backoff_and_optionally_failures() {
    let (outbox, _) = fresh().await;
    outbox
        .enqueue_batch(vec![put("a", "1"), put("b", "1"), put("c", "1")], 0)
        .await
        .unwrap();
    let batch = outbox.take_batch(0, 10).await.unwrap();
    outbox
        .requeue(batch[0].event_id, 60_000, "offline")
        .await
        .unwrap();
    outbox.fail(batch[1].event_id, "refused").await.unwrap();
    assert_eq!(outbox.retry_all_now(false).await.unwrap(), 1);
    assert_eq!(outbox.count(EventState::Failed).await.unwrap(), 1);
    assert_eq!(
        outbox.take_batch(1, 10).await.unwrap().len(),
        1,
        "due at once"
    );
    assert_eq!(outbox.retry_all_now(true).await.unwrap(), 1);
    assert_eq!(outbox.count(EventState::Failed).await.unwrap(), 0);
}

#[wasm_bindgen_test]
async fn records_lists_one_collection_in_id_order() {
    let (outbox, _) = fresh().await;
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
    let ids = |records: Vec<outbox_sync::core::LocalRecord>| {
        records.into_iter().map(|r| r.record_id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(outbox.records("notes", 10).await.unwrap()),
        ["a", "b", "c"]
    );
    assert_eq!(ids(outbox.records("notes", 2).await.unwrap()), ["a", "b"]);
    assert_eq!(ids(outbox.records("note", 10).await.unwrap()), ["a"]);
    assert!(outbox.records("missing", 10).await.unwrap().is_empty());
    assert!(outbox.records("notes", 0).await.unwrap().is_empty());
}

#[wasm_bindgen_test]
async fn unsent_lists_every_unconfirmed_state_once_in_send_order() {
    let (outbox, _) = fresh().await;
    outbox
        .enqueue_batch(
            vec![put("a", "1"), put("b", "1"), put("c", "1"), put("d", "1")],
            0,
        )
        .await
        .unwrap();
    let batch = outbox.take_batch(0, 3).await.unwrap();
    outbox
        .complete(batch[0].event_id, Some(1), 1)
        .await
        .unwrap();
    outbox.fail(batch[2].event_id, "refused").await.unwrap();
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
            ("d", EventState::Queued)
        ]
    );
    assert_eq!(outbox.unsent(1).await.unwrap().len(), 1);
}

#[wasm_bindgen_test]
async fn walks_start_after_the_synced_events_and_agree_with_a_fresh_connection() {
    let (outbox, name) = fresh().await;
    let changes: Vec<_> = (0..6).map(|n| put(&format!("r{n}"), "1")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    for event in outbox.take_batch(100, 4).await.unwrap() {
        outbox.complete(event.event_id, Some(1), 200).await.unwrap();
    }
    // r1's second change comes after r4 and r5; r0 stays synced behind.
    outbox.enqueue(put("r1", "2"), 300).await.unwrap();
    assert_eq!(seqs(&outbox.take_batch(400, 1).await.unwrap()), vec![5]);
    assert_eq!(seqs(&outbox.unsent(10).await.unwrap()), vec![5, 6, 7]);
    assert_eq!(seqs(&outbox.unsent(2).await.unwrap()), vec![5, 6]);
    // Another tab's connection starts from the beginning and sees the same.
    let other = IdbOutbox::open(&name, StoreConfig::default())
        .await
        .unwrap();
    assert_eq!(seqs(&other.unsent(10).await.unwrap()), vec![5, 6, 7]);
    assert_eq!(seqs(&other.take_batch(500, 10).await.unwrap()), vec![6, 7]);
    assert!(outbox.take_batch(600, 10).await.unwrap().is_empty());
    assert_eq!(outbox.next_attempt_at().await.unwrap(), None);
}

#[wasm_bindgen_test]
async fn complete_all_confirms_a_batch_in_one_step_and_skips_what_was_finished() {
    let (outbox, _) = fresh().await;
    let changes: Vec<_> = ["a", "b", "c"].iter().map(|r| put(r, "1")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let batch = outbox.take_batch(100, 10).await.unwrap();
    let confirmed: Vec<_> = batch
        .iter()
        .zip(1..)
        .map(|(e, version)| (e.event_id, Some(version)))
        .collect();
    // "a" was finished by another drainer first.
    outbox
        .complete(batch[0].event_id, Some(1), 150)
        .await
        .unwrap();

    // An unknown event spoils the step: nothing changes.
    let mut spoiled = confirmed.clone();
    spoiled.push((uuid::Uuid::from_u128(99), Some(9)));
    assert!(outbox.complete_all(&spoiled, 200).await.is_err());
    assert_eq!(
        outbox.count(EventState::Syncing).await.unwrap(),
        2,
        "b and c still unsent"
    );

    let completed = outbox.complete_all(&confirmed, 200).await.unwrap();
    assert_eq!(seqs(&completed), vec![2, 3]);
    assert_eq!(outbox.count(EventState::Syncing).await.unwrap(), 0);
    assert_eq!(outbox.count(EventState::Synced).await.unwrap(), 3);
    let c = outbox.record(&key("c")).await.unwrap().unwrap();
    assert_eq!(c.base_version, Some(3));
}
