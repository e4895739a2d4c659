//! Confirmed, discarded and purged events, and what they leave in the records.

use outbox_sync::core::{EventState, OutboxStore, StoreError};
use outbox_sync_protocol::{Map, Value};
use uuid::Uuid;

use super::{key, patch, put, seqs, title, total, Fresh};

pub async fn complete_confirms_the_record_and_moves_its_base(fresh: impl Fresh) {
    let outbox = fresh.store().await;
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
    assert_eq!(outbox.event(first.event_id).await.unwrap(), Some(done));

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
    assert!(
        outbox.complete(second.event_id, Some(8), 80).await.is_err(),
        "an event is confirmed once"
    );
}

pub async fn complete_all_confirms_a_batch_in_one_step_and_skips_what_was_finished(
    fresh: impl Fresh,
) {
    let outbox = fresh.store().await;
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
    spoiled.push((Uuid::from_u128(99), Some(9)));
    assert_eq!(
        outbox.complete_all(&spoiled, 200).await.unwrap_err(),
        StoreError::EventNotFound(Uuid::from_u128(99).to_string())
    );
    assert_eq!(
        outbox.count(EventState::Syncing).await.unwrap(),
        2,
        "b and c still unsent"
    );
    let b = outbox.record(&key("b")).await.unwrap().unwrap();
    assert_eq!((b.base_version, b.pending), (None, 1));

    let completed = outbox.complete_all(&confirmed, 200).await.unwrap();
    assert_eq!(seqs(&completed), vec![2, 3]);
    assert!(completed
        .iter()
        .all(|e| e.state == EventState::Synced && e.synced_at_ms == Some(200)));
    assert_eq!(outbox.count(EventState::Syncing).await.unwrap(), 0);
    assert_eq!(outbox.count(EventState::Synced).await.unwrap(), 3);
    let c = outbox.record(&key("c")).await.unwrap().unwrap();
    assert_eq!((c.base_version, c.pending), (Some(3), 0));
    assert!(outbox.complete_all(&[], 300).await.unwrap().is_empty());
}

pub async fn complete_all_confirms_two_changes_of_one_record_in_order(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    // Confirmations that arrive after the leases ran out: both changes of
    // "a" are queued again, and the server applied both.
    let saved = outbox
        .enqueue_batch(
            vec![
                put("a", "v1"),
                patch("a", "body", Value::from("text")),
                put("b", "1"),
            ],
            0,
        )
        .await
        .unwrap();
    let confirmed: Vec<_> = saved
        .iter()
        .zip(1..)
        .map(|(e, version)| (e.event_id, Some(version)))
        .collect();
    let completed = outbox.complete_all(&confirmed, 10).await.unwrap();
    assert_eq!(seqs(&completed), vec![1, 2, 3]);
    let a = outbox.record(&key("a")).await.unwrap().unwrap();
    let both = Map::from([
        ("title".to_owned(), Value::from("v1")),
        ("body".to_owned(), Value::from("text")),
    ]);
    assert_eq!((a.base_version, a.pending), (Some(2), 0));
    assert_eq!(
        (a.base.as_ref(), a.local.as_ref()),
        (Some(&both), Some(&both))
    );
    let b = outbox.record(&key("b")).await.unwrap().unwrap();
    assert_eq!((b.base_version, b.pending), (Some(3), 0));
    assert_eq!(outbox.count(EventState::Synced).await.unwrap(), 3);
}

pub async fn discard_rebuilds_the_local_view_from_what_remains(fresh: impl Fresh) {
    let outbox = fresh.store().await;
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
    let err = outbox.discard(taken.event_id).await.unwrap_err();
    assert_eq!(
        (err.clone(), err.code()),
        (
            StoreError::CannotDiscard(EventState::Syncing),
            "cannot_discard"
        )
    );
    assert_eq!(
        outbox.discard(first.event_id).await.unwrap_err(),
        StoreError::CannotDiscard(EventState::Synced)
    );
    assert_eq!(total(&outbox).await, 2, "refused discards removed nothing");
}

pub async fn discarding_after_a_confirmation_keeps_what_the_server_has(fresh: impl Fresh) {
    let outbox = fresh.store().await;
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
    assert_eq!(record.base_version, Some(3));
}

pub async fn purge_removes_only_old_synced_events(fresh: impl Fresh) {
    let outbox = fresh.store().await;
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
