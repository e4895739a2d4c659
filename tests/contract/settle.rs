//! One push's outcomes written together, and settings changed together.

use outbox_sync::core::drain::Step;
use outbox_sync::core::{EventState, OutboxStore, StoreConfig, SyncStore};
use outbox_sync_protocol::Value;

use super::{fields, put, remote, title, total, Fresh};

pub async fn settle_writes_every_outcome_of_a_push_at_once(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let records = ["a", "b", "c", "d"];
    let changes = records.iter().map(|r| put(r, "mine")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let batch = outbox.take_batch(10, 10).await.unwrap();
    let id = |i: usize| batch[i].event_id;
    let steps = vec![
        Step::Synced {
            event_id: id(0),
            version: 7,
            record: remote("a", 7, Some(fields(&[("title", "mine")]))),
        },
        Step::Retry {
            event_id: id(1),
            at_ms: 5_000,
            reason: "No internet connection".into(),
        },
        Step::Failed {
            event_id: id(2),
            reason: "The title is too long".into(),
        },
        Step::Conflict {
            event_id: id(3),
            current: remote("d", 9, Some(fields(&[("title", "theirs")]))),
            fields: vec!["title".into()],
            reason: "Someone else changed it".into(),
        },
    ];
    let settled = outbox.settle(steps, 100).await.unwrap();
    assert_eq!(settled.synced.len(), 1);
    assert_eq!(settled.synced[0].synced_at_ms, Some(100));

    assert_eq!(outbox.event(id(0)).await.unwrap(), None, "synced: gone");
    let a = outbox.record(&super::key("a")).await.unwrap().unwrap();
    assert_eq!((a.base_version, a.pending), (Some(7), 0));
    assert_eq!(title(&outbox, "a").await, Some(Value::from("mine")));

    let b = outbox.event(id(1)).await.unwrap().unwrap();
    assert_eq!(
        (b.state, b.next_attempt_at_ms),
        (EventState::Queued, Some(5_000))
    );
    let c = outbox.event(id(2)).await.unwrap().unwrap();
    assert_eq!(c.state, EventState::Failed);
    let d = outbox.event(id(3)).await.unwrap().unwrap();
    assert_eq!(d.state, EventState::Conflict);
    let conflicts = outbox.conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].event_id, id(3));
    assert_eq!(total(&outbox).await, 3);
}

/// A push's events found among many others (IndexedDB then reads each by
/// its id) or among few (one read for the range of ids), and one that is
/// gone, settle alike.
pub async fn settle_finds_its_events_among_few_or_many_others(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let records: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    let changes = records.iter().map(|r| put(r, "mine")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let batch = outbox.take_batch(10, 10).await.unwrap();
    assert_eq!(batch.len(), 10);
    let synced = |i: usize| Step::Synced {
        event_id: batch[i].event_id,
        version: 5,
        record: remote(&records[i], 5, Some(fields(&[("title", "mine")]))),
    };
    // The first and the last: eight others lie between them.
    let settled = outbox.settle(vec![synced(0), synced(9)], 20).await.unwrap();
    assert_eq!(settled.synced.len(), 2);
    // Neighbours, and one already gone.
    let settled = outbox
        .settle(vec![synced(4), synced(5), synced(0)], 30)
        .await
        .unwrap();
    assert_eq!(
        settled.synced.len(),
        2,
        "the one already settled is left alone"
    );
    for i in [0, 4, 5, 9] {
        assert_eq!(outbox.event(batch[i].event_id).await.unwrap(), None);
        let record = outbox
            .record(&super::key(&records[i]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((record.base_version, record.pending), (Some(5), 0));
    }
    assert_eq!(outbox.count(EventState::Syncing).await.unwrap(), 6);
}

pub async fn settle_leaves_alone_what_another_drainer_finished(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    outbox.enqueue(put("a", "mine"), 0).await.unwrap();
    let taken = outbox.take_batch(0, 10).await.unwrap();
    // The lease ran out, another drainer took the event and failed it.
    outbox.fail(taken[0].event_id, "refused").await.unwrap();
    let steps = vec![Step::Synced {
        event_id: taken[0].event_id,
        version: 3,
        record: remote("a", 3, Some(fields(&[("title", "mine")]))),
    }];
    let settled = outbox.settle(steps, 50).await.unwrap();
    assert!(settled.synced.is_empty());
    let event = outbox.event(taken[0].event_id).await.unwrap().unwrap();
    assert_eq!(event.state, EventState::Failed);
    let a = outbox.record(&super::key("a")).await.unwrap().unwrap();
    assert_eq!((a.base_version, a.pending), (None, 1));
}

pub async fn with_a_retention_settle_keeps_synced_events(fresh: impl Fresh) {
    let config = StoreConfig {
        synced_retention_ms: 60_000,
        ..StoreConfig::default()
    };
    let outbox = fresh.open(config).await;
    outbox.enqueue(put("a", "mine"), 0).await.unwrap();
    let taken = outbox.take_batch(0, 10).await.unwrap();
    let steps = vec![Step::Synced {
        event_id: taken[0].event_id,
        version: 1,
        record: remote("a", 1, Some(fields(&[("title", "mine")]))),
    }];
    outbox.settle(steps, 1_000).await.unwrap();
    assert_eq!(outbox.count(EventState::Synced).await.unwrap(), 1);
    assert_eq!(outbox.purge_synced(1_000).await.unwrap(), 0, "not yet old");
    assert_eq!(outbox.purge_synced(1_001).await.unwrap(), 1);
}

pub async fn discarding_a_change_in_conflict_drops_its_conflict(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    outbox.enqueue(put("a", "mine"), 0).await.unwrap();
    let taken = outbox.take_batch(0, 10).await.unwrap();
    let id = taken[0].event_id;
    let theirs = remote("a", 4, Some(fields(&[("title", "theirs")])));
    outbox
        .record_conflict(id, theirs, vec![], "changed elsewhere", 5)
        .await
        .unwrap();
    outbox.discard(id).await.unwrap();
    assert!(outbox.conflicts().await.unwrap().is_empty());
    assert_eq!(outbox.status().await.unwrap().conflicts, 0);
    assert_eq!(total(&outbox).await, 0);
}

pub async fn settings_are_updated_together_in_one_step(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    outbox.set_setting("a", Some("1")).await.unwrap();
    outbox
        .update_settings(&["a", "b"], |values| {
            assert_eq!(values, vec![Some("1".to_owned()), None]);
            Ok(vec![None, Some("2".to_owned())])
        })
        .await
        .unwrap();
    let values = outbox.settings(&["a", "b", "c"]).await.unwrap();
    assert_eq!(values, vec![None, Some("2".to_owned()), None]);
    // A change that fails writes nothing.
    let refused = outbox
        .update_settings(&["a"], |_| {
            Err(outbox_sync::core::StoreError::Corrupt("no".into()))
        })
        .await;
    assert!(refused.is_err());
    assert_eq!(outbox.settings(&["a"]).await.unwrap(), vec![None]);
}

pub async fn settle_reads_its_records_among_few_or_many_others(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let records: Vec<String> = (0..40).map(|i| format!("r{i:02}")).collect();
    let changes = records.iter().map(|r| put(r, "mine")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let batch = outbox.take_batch(10, 40).await.unwrap();
    assert_eq!(batch.len(), 40);
    // A change made after the batch was taken (another tab) is kept.
    let later = super::patch("r02", "title", Value::from("later"));
    outbox.enqueue(later, 15).await.unwrap();
    let synced = |i: usize| Step::Synced {
        event_id: batch[i].event_id,
        version: 5,
        record: remote(&records[i], 5, Some(fields(&[("title", "mine")]))),
    };
    // Spread out: thirty others lie between the ten.
    let spread: Vec<usize> = (0..10).map(|i| i * 4).collect();
    let settled = outbox
        .settle(spread.iter().map(|i| synced(*i)).collect(), 20)
        .await
        .unwrap();
    assert_eq!(settled.synced.len(), 10);
    // Close together: three settled ones lie between the ten.
    let close = [1, 2, 3, 5, 6, 7, 9, 10, 11, 13];
    let settled = outbox
        .settle(close.iter().map(|i| synced(*i)).collect(), 30)
        .await
        .unwrap();
    assert_eq!(settled.synced.len(), 10);
    for i in spread.iter().chain(&close) {
        let record = outbox
            .record(&super::key(&records[*i]))
            .await
            .unwrap()
            .unwrap();
        let pending = u32::from(*i == 2);
        assert_eq!((record.base_version, record.pending), (Some(5), pending));
    }
    assert_eq!(
        super::title(&outbox, "r02").await,
        Some(Value::from("later"))
    );
    assert_eq!(
        super::title(&outbox, "r01").await,
        Some(Value::from("mine"))
    );
    assert_eq!(outbox.count(EventState::Syncing).await.unwrap(), 20);
}
