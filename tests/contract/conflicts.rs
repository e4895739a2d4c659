//! Conflicts kept for the user, and the user's choice carried out.

use outbox_sync::core::conflict::Resolution;
use outbox_sync::core::{EventState, Operation, OutboxStore, SyncStore};
use outbox_sync_protocol::{Map, Value};
use uuid::Uuid;

use super::{fields, local, patch, put, remote, total, Fresh};

/// Two changes of `notes/a` and one of `notes/b` queued; the first of `a`
/// is sent and conflicts with version 5 (`b` is left syncing).
async fn in_conflict<F: Fresh>(fresh: &F) -> (F::Store, Uuid) {
    let outbox = fresh.store().await;
    outbox
        .enqueue_batch(
            vec![
                put("a", "mine"),
                patch("a", "tag", Value::from("t")),
                put("b", "other"),
            ],
            0,
        )
        .await
        .unwrap();
    let batch = outbox.take_batch(0, 10).await.unwrap();
    let theirs = remote("a", 5, Some(fields(&[("title", "theirs")])));
    let id = batch[0].event_id;
    outbox
        .record_conflict(
            id,
            theirs,
            vec!["title".to_owned()],
            "changed on the server",
            10,
        )
        .await
        .unwrap();
    (outbox, id)
}

pub async fn a_conflict_keeps_both_versions_and_holds_back_only_its_record(fresh: impl Fresh) {
    let (outbox, id) = in_conflict(&fresh).await;
    let conflicts = outbox.conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1);
    let conflict = &conflicts[0];
    assert_eq!((conflict.event_id, conflict.record_id.as_str()), (id, "a"));
    assert_eq!(
        conflict.mine,
        Some(fields(&[("title", "mine"), ("tag", "t")]))
    );
    assert_eq!(conflict.base, None, "a new record has no base");
    assert_eq!(conflict.theirs.version, 5);
    assert_eq!(conflict.fields, ["title"]);
    assert_eq!(
        conflict.theirs_fields(),
        Some(fields(&[("title", "theirs")]))
    );
    assert_eq!(
        (conflict.reason.as_str(), conflict.found_at_ms),
        ("changed on the server", 10)
    );
    let event = outbox.event(id).await.unwrap().unwrap();
    assert_eq!(
        (event.state, event.last_error.as_deref()),
        (EventState::Conflict, Some("changed on the server"))
    );
    assert_eq!(outbox.status().await.unwrap().conflicts, 1);
    assert!(
        outbox.take_batch(20, 10).await.unwrap().is_empty(),
        "b is syncing, a is held"
    );
    assert!(
        outbox
            .record_conflict(id, remote("a", 6, None), vec![], "again", 30)
            .await
            .is_err(),
        "only a syncing event can conflict"
    );
    assert_eq!(outbox.conflicts().await.unwrap().len(), 1);
}

pub async fn conflicts_are_listed_oldest_first(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    let changes = ["a", "b", "c"].iter().map(|r| put(r, "mine")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let batch = outbox.take_batch(0, 10).await.unwrap();
    // Found in another order than the events were made.
    for (event, found_at) in batch.iter().zip([30, 10, 20]) {
        let theirs = remote(&event.record_id, 2, None);
        outbox
            .record_conflict(event.event_id, theirs, vec![], "changed", found_at)
            .await
            .unwrap();
    }
    let listed: Vec<_> = outbox
        .conflicts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.record_id, c.found_at_ms))
        .collect();
    assert_eq!(
        listed,
        [
            ("b".to_owned(), 10),
            ("c".to_owned(), 20),
            ("a".to_owned(), 30)
        ]
    );
    assert_eq!(outbox.status().await.unwrap().conflicts, 3);
}

pub async fn keep_mine_sends_my_version_against_theirs(fresh: impl Fresh) {
    let (outbox, id) = in_conflict(&fresh).await;
    let mine = fields(&[("title", "mine"), ("tag", "t")]);
    let event = outbox
        .resolve_conflict(id, &Resolution::KeepMine, 30)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((event.op, event.base_version), (Operation::Put, Some(5)));
    assert_eq!(event.payload, Value::Object(mine.clone()));
    assert_eq!(local(&outbox, "a").await, Some(mine));
    assert!(outbox.conflicts().await.unwrap().is_empty());
    assert_eq!(
        outbox.event(id).await.unwrap(),
        None,
        "the conflicted change is replaced"
    );
    assert_eq!(
        total(&outbox).await,
        2,
        "the choice replaces the record's unsent changes (b is still syncing)"
    );
    let next = outbox.take_batch(40, 10).await.unwrap();
    assert_eq!(
        next.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        vec![event.event_id]
    );
}

pub async fn use_theirs_sends_nothing_and_a_conflict_resolves_once(fresh: impl Fresh) {
    let (outbox, id) = in_conflict(&fresh).await;
    assert_eq!(
        outbox
            .resolve_conflict(id, &Resolution::UseTheirs, 30)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        local(&outbox, "a").await,
        Some(fields(&[("title", "theirs")]))
    );
    let a = outbox.record(&super::key("a")).await.unwrap().unwrap();
    assert_eq!((a.base_version, a.pending), (Some(5), 0));
    assert_eq!(outbox.status().await.unwrap().conflicts, 0);
    assert_eq!(outbox.count(EventState::Queued).await.unwrap(), 0);
    assert_eq!(total(&outbox).await, 1, "only b's change is left");
    let again = outbox
        .resolve_conflict(id, &Resolution::UseTheirs, 31)
        .await
        .unwrap_err();
    assert_eq!(
        again.code(),
        "event_not_found",
        "a conflict is resolved once"
    );
}

pub async fn merged_fields_are_sent_and_a_missing_record_is_created_fresh(fresh: impl Fresh) {
    let outbox = fresh.store().await;
    outbox.enqueue(put("a", "mine"), 0).await.unwrap();
    let id = outbox.take_batch(0, 1).await.unwrap()[0].event_id;
    outbox
        .record_conflict(id, remote("a", 0, None), vec![], "deleted", 1)
        .await
        .unwrap();
    let merged = Resolution::Merged(fields(&[("title", "both")]));
    let event = outbox
        .resolve_conflict(id, &merged, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        event.base_version, None,
        "version 0 means the server has no such record"
    );
    assert_eq!(
        local(&outbox, "a").await,
        Some(fields(&[("title", "both")]))
    );
}

pub async fn an_invalid_merge_changes_nothing(fresh: impl Fresh) {
    let (outbox, id) = in_conflict(&fresh).await;
    let mut deep = Value::Null;
    for _ in 0..40 {
        deep = Value::Object(Map::from([("x".to_owned(), deep)]));
    }
    let Value::Object(deep) = deep else {
        unreachable!()
    };
    let err = outbox
        .resolve_conflict(id, &Resolution::Merged(deep), 30)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_change");
    assert_eq!(
        outbox.conflicts().await.unwrap().len(),
        1,
        "still waiting for a choice"
    );
    assert_eq!(
        outbox.event(id).await.unwrap().unwrap().state,
        EventState::Conflict
    );
    assert_eq!(total(&outbox).await, 3);
    assert_eq!(
        local(&outbox, "a").await,
        Some(fields(&[("title", "mine"), ("tag", "t")]))
    );
}
