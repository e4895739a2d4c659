//! The drain cycle: batches, leases, backoff, failures and the counts they show.

use outbox_sync::core::{
    Clock, EventState, Limits, OutboxStore, StatusSummary, StoreConfig, StoreError,
    TransitionError, ValidationError,
};
use outbox_sync_protocol::Value;
use uuid::Uuid;

use super::{put, seqs, title, Fresh};

pub async fn take_batch_gives_one_event_per_record_in_seq_order(fresh: impl Fresh) {
    let outbox = fresh.store().await;
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
    for event in &batch {
        assert_eq!(
            outbox.event(event.event_id).await.unwrap().as_ref(),
            Some(event)
        );
    }
    assert!(
        outbox.take_batch(100, 10).await.unwrap().is_empty(),
        "leased events hold their records"
    );
    for event in &batch {
        outbox.complete(event.event_id, Some(1), 200).await.unwrap();
    }
    assert_eq!(seqs(&outbox.take_batch(300, 10).await.unwrap()), vec![2, 5]);

    let small = fresh.store().await;
    small
        .enqueue_batch(vec![put("x", "1"), put("y", "1"), put("z", "1")], 0)
        .await
        .unwrap();
    assert_eq!(
        seqs(&small.take_batch(0, 2).await.unwrap()),
        vec![1, 2],
        "the limit is respected"
    );
}

pub async fn an_expired_lease_returns_events_to_the_queue(fresh: impl Fresh) {
    let outbox = fresh
        .open(StoreConfig {
            lease_ms: 1_000,
            ..StoreConfig::default()
        })
        .await;
    outbox
        .enqueue_batch(vec![put("a", "1"), put("a", "2"), put("b", "1")], 0)
        .await
        .unwrap();
    let taken = outbox.take_batch(100, 10).await.unwrap();
    assert_eq!(seqs(&taken), vec![1, 3]);
    assert!(taken.iter().all(|e| e.lease_until_ms == Some(1_100)));
    // The drainer dies here; nothing is recovered before its lease runs out.
    assert_eq!(outbox.recover_leases(1_099).await.unwrap(), 0);
    assert_eq!(outbox.count(EventState::Syncing).await.unwrap(), 2);
    assert_eq!(outbox.recover_leases(1_100).await.unwrap(), 2);
    assert_eq!(outbox.count(EventState::Queued).await.unwrap(), 3);
    let again = outbox.take_batch(1_200, 10).await.unwrap();
    assert_eq!(seqs(&again), seqs(&taken));
    assert!(again.iter().all(|e| e.attempts == 2), "{again:?}");
    outbox
        .complete(again[0].event_id, Some(1), 1_300)
        .await
        .unwrap();
    assert_eq!(
        seqs(&outbox.take_batch(1_300, 10).await.unwrap()),
        vec![2],
        "a's next change goes once its first is confirmed"
    );
}

pub async fn a_failed_event_holds_back_only_its_own_record_until_discarded(fresh: impl Fresh) {
    let outbox = fresh.store().await;
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

    // Discarding the refused change lets the record's next one go.
    outbox.discard(poison).await.unwrap();
    assert_eq!(title(&outbox, "a").await, Some(Value::from("good")));
    let after = outbox.take_batch(4, 10).await.unwrap();
    assert_eq!(seqs(&after), vec![2]);
}

pub async fn requeue_waits_for_backoff_and_retry_now_clears_it(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    outbox.enqueue(put("a", "1"), 0).await.unwrap();
    assert_eq!(outbox.next_attempt_at().await.unwrap(), None);
    let id = outbox.take_batch(0, 1).await.unwrap()[0].event_id;
    let waiting = outbox
        .requeue(id, 5_000, "Server unavailable")
        .await
        .unwrap();
    assert_eq!(
        (
            waiting.state,
            waiting.next_attempt_at_ms,
            waiting.last_error.as_deref()
        ),
        (EventState::Queued, Some(5_000), Some("Server unavailable"))
    );
    assert_eq!(outbox.next_attempt_at().await.unwrap(), Some(5_000));
    assert!(outbox.take_batch(10, 1).await.unwrap().is_empty());
    let due = outbox.retry_now(id).await.unwrap();
    assert_eq!(due.next_attempt_at_ms, None);
    assert_eq!(outbox.event(id).await.unwrap(), Some(due));
    assert_eq!(outbox.next_attempt_at().await.unwrap(), None);
    assert_eq!(outbox.take_batch(10, 1).await.unwrap().len(), 1);

    // A failed event can be retried by the user too.
    outbox.fail(id, "Rejected").await.unwrap();
    assert_eq!(
        outbox.retry_now(id).await.unwrap().state,
        EventState::Queued
    );
    assert_eq!(outbox.take_batch(20, 1).await.unwrap()[0].attempts, 3);
}

pub async fn retry_all_now_clears_backoff_and_optionally_failures(fresh: impl Fresh) {
    let outbox = fresh.store().await;
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
    assert_eq!(
        outbox.count(EventState::Syncing).await.unwrap(),
        2,
        "syncing events are left alone"
    );
    assert_eq!(outbox.retry_all_now(true).await.unwrap(), 0);
}

pub async fn refused_transitions_and_unknown_ids_change_nothing(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let queued = outbox.enqueue(put("a", "1"), 0).await.unwrap();
    let err = outbox.fail(queued.event_id, "nope").await.unwrap_err();
    assert_eq!(
        err,
        StoreError::Transition(TransitionError {
            from: EventState::Queued,
            to: EventState::Failed
        })
    );
    assert_eq!(err.code(), "invalid_state");
    assert_eq!(
        outbox.event(queued.event_id).await.unwrap(),
        Some(queued.clone())
    );

    let missing = Uuid::now_v7();
    let not_found = StoreError::EventNotFound(missing.to_string());
    assert_eq!(
        outbox.complete(missing, Some(1), 0).await.unwrap_err(),
        not_found
    );
    assert_eq!(
        outbox.requeue(missing, 1, "x").await.unwrap_err(),
        not_found
    );
    assert_eq!(outbox.fail(missing, "x").await.unwrap_err(), not_found);
    assert_eq!(
        outbox.mark_conflict(missing, "x").await.unwrap_err(),
        not_found
    );
    assert_eq!(outbox.retry_now(missing).await.unwrap_err(), not_found);
    assert_eq!(outbox.discard(missing).await.unwrap_err(), not_found);
    assert_eq!(outbox.event(missing).await.unwrap(), None);
    assert_eq!(
        outbox.event(queued.event_id).await.unwrap(),
        Some(queued),
        "still as it was"
    );
}

pub async fn status_counts_every_unfinished_state(fresh: impl Fresh) {
    let outbox = fresh.store().await;
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

pub async fn the_store_keeps_to_its_configured_limits_and_clock(fresh: impl Fresh) {
    let config = StoreConfig {
        limits: Limits {
            max_record_id_len: 4,
            ..Limits::default()
        },
        clock: Clock {
            max_lease_ms: 1_000,
            max_backoff_ms: 1_000,
        },
        lease_ms: 500,
        ..StoreConfig::default()
    };
    let outbox = fresh.open(config).await;
    assert_eq!(
        outbox.enqueue(put("toolong", "x"), 0).await.unwrap_err(),
        StoreError::Invalid(ValidationError::RecordIdTooLong { len: 7, max: 4 })
    );
    outbox.enqueue(put("a", "1"), 0).await.unwrap();
    let taken = outbox.take_batch(10_000, 10).await.unwrap();
    assert_eq!(taken[0].lease_until_ms, Some(10_500));
    // The clock moved back an hour: a lease further ahead than the longest
    // one was set by the old clock, so it counts as run out.
    assert_eq!(outbox.recover_leases(5_000).await.unwrap(), 1);
    let again = outbox.take_batch(5_000, 10).await.unwrap();
    outbox
        .requeue(again[0].event_id, 100_000, "offline")
        .await
        .unwrap();
    assert_eq!(
        seqs(&outbox.take_batch(5_000, 10).await.unwrap()),
        vec![1],
        "a backoff longer than the longest one is due at once"
    );
}

pub async fn a_batch_under_one_lease_shows_as_syncing_until_each_event_settles(fresh: impl Fresh) {
    let outbox = fresh
        .open(StoreConfig {
            lease_ms: 1_000,
            ..StoreConfig::default()
        })
        .await;
    let changes = vec![put("a", "1"), put("b", "1"), put("c", "1")];
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let taken = outbox.take_batch(100, 10).await.unwrap();
    assert_eq!(seqs(&taken), vec![1, 2, 3]);
    let status = outbox.status().await.unwrap();
    assert_eq!((status.syncing, status.queued), (3, 0), "{status:?}");
    let syncing = outbox
        .events_in_state(EventState::Syncing, 10)
        .await
        .unwrap();
    assert_eq!(syncing, taken, "read back as taken");
    assert!(outbox
        .events_in_state(EventState::Queued, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(outbox.unsent(10).await.unwrap(), taken);
    assert_eq!(
        outbox.states_of(&[super::key("b")]).await.unwrap(),
        vec![EventState::Syncing]
    );
    // Each event leaves the lease when it settles: the rest stay held.
    outbox
        .requeue(taken[0].event_id, 5_000, "later")
        .await
        .unwrap();
    outbox.fail(taken[1].event_id, "no").await.unwrap();
    let status = outbox.status().await.unwrap();
    assert_eq!(
        (status.syncing, status.queued, status.failed),
        (1, 1, 1),
        "{status:?}"
    );
    assert_eq!(outbox.next_attempt_at().await.unwrap(), Some(5_000));
    let requeued = outbox.event(taken[0].event_id).await.unwrap().unwrap();
    assert_eq!((requeued.state, requeued.attempts), (EventState::Queued, 1));
    assert!(outbox.take_batch(200, 10).await.unwrap().is_empty());
    assert_eq!(
        outbox.discard(taken[2].event_id).await.unwrap_err(),
        StoreError::CannotDiscard(EventState::Syncing),
        "a held event cannot be discarded"
    );
    // The holder died: past its lease, the last event is taken back.
    assert_eq!(outbox.recover_leases(1_099).await.unwrap(), 0);
    assert_eq!(outbox.recover_leases(1_100).await.unwrap(), 1);
    let back = outbox.event(taken[2].event_id).await.unwrap().unwrap();
    assert_eq!(
        (back.state, back.attempts, back.lease_until_ms),
        (EventState::Queued, 1, None)
    );
    assert!(back.last_error.is_some(), "says it was interrupted");
    let again = outbox.take_batch(1_200, 10).await.unwrap();
    assert_eq!(seqs(&again), vec![3]);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(outbox.recover_leases(1_300).await.unwrap(), 0, "held anew");
}
