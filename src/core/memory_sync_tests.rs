//! The pull and conflict contract, checked against the in-memory store.

use futures::executor::block_on;
use outbox_sync_protocol::{Map, Record, Value};
use uuid::Uuid;

use super::MemoryOutbox;
use crate::core::conflict::Resolution;
use crate::core::{EventState, NewEvent, Operation, OutboxStore, RecordKey, SyncStore};

fn fields(pairs: &[(&str, &str)]) -> Map {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect()
}

fn change(op: Operation, record: &str, pairs: &[(&str, &str)]) -> NewEvent {
    NewEvent {
        collection: "notes".into(),
        record_id: record.into(),
        op,
        payload: Value::Object(fields(pairs)),
    }
}

fn remote(record: &str, version: u64, data: Option<Map>) -> Record {
    Record {
        collection: "notes".into(),
        record_id: record.into(),
        version,
        deleted: data.is_none(),
        data: data.map_or(Value::Null, Value::Object),
    }
}

fn local(outbox: &MemoryOutbox, record: &str) -> Option<Map> {
    let key = RecordKey {
        collection: "notes".into(),
        record_id: record.into(),
    };
    block_on(outbox.record(&key)).unwrap()?.local
}

#[test]
fn pulled_pages_write_records_and_the_token_together() {
    let outbox = MemoryOutbox::default();
    assert_eq!(block_on(outbox.sync_token()).unwrap(), None);
    block_on(outbox.enqueue(change(Operation::Patch, "a", &[("title", "mine")]), 0)).unwrap();
    let page = [
        remote("a", 3, Some(fields(&[("title", "theirs"), ("body", "b")]))),
        remote("b", 4, Some(fields(&[("title", "new")]))),
        remote("gone", 5, None),
    ];
    assert_eq!(block_on(outbox.apply_pulled(&page, "t1")).unwrap(), 3);
    assert_eq!(
        block_on(outbox.sync_token()).unwrap().as_deref(),
        Some("t1")
    );
    assert_eq!(
        local(&outbox, "a"),
        Some(fields(&[("title", "mine"), ("body", "b")])),
        "rebased"
    );
    assert_eq!(local(&outbox, "b"), Some(fields(&[("title", "new")])));
    assert_eq!(local(&outbox, "gone"), None);
    // The same page again changes nothing; a tombstone removes a synced record.
    assert_eq!(block_on(outbox.apply_pulled(&page[1..2], "t1")).unwrap(), 0);
    assert_eq!(
        block_on(outbox.apply_pulled(&[remote("b", 6, None)], "t2")).unwrap(),
        1
    );
    assert_eq!(local(&outbox, "b"), None);
    block_on(outbox.reset_sync_token()).unwrap();
    assert_eq!(block_on(outbox.sync_token()).unwrap(), None);
    assert_eq!(
        block_on(outbox.count(EventState::Queued)).unwrap(),
        1,
        "a resync keeps pending events"
    );
}

/// Two changes of record "a" queued; the first is sent and conflicts with version 5.
fn in_conflict() -> (MemoryOutbox, Uuid) {
    let outbox = MemoryOutbox::default();
    block_on(outbox.enqueue_batch(
        vec![
            change(Operation::Put, "a", &[("title", "mine")]),
            change(Operation::Patch, "a", &[("tag", "t")]),
            change(Operation::Put, "b", &[("title", "other")]),
        ],
        0,
    ))
    .unwrap();
    let batch = block_on(outbox.take_batch(0, 10)).unwrap();
    let theirs = remote("a", 5, Some(fields(&[("title", "theirs")])));
    let id = batch[0].event_id;
    block_on(outbox.record_conflict(id, theirs, vec![], "changed on the server", 10)).unwrap();
    (outbox, id)
}

#[test]
fn a_conflict_keeps_both_versions_and_holds_back_only_its_record() {
    let (outbox, id) = in_conflict();
    let conflicts = block_on(outbox.conflicts()).unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        conflicts[0].mine,
        Some(fields(&[("title", "mine"), ("tag", "t")]))
    );
    assert_eq!(
        conflicts[0].theirs_fields(),
        Some(fields(&[("title", "theirs")]))
    );
    assert_eq!(
        block_on(outbox.event(id)).unwrap().unwrap().state,
        EventState::Conflict
    );
    assert_eq!(block_on(outbox.status()).unwrap().conflicts, 1);
    assert!(
        block_on(outbox.take_batch(20, 10)).unwrap().is_empty(),
        "b is syncing, a is held"
    );
}

#[test]
fn keep_mine_sends_my_version_against_theirs() {
    let (outbox, id) = in_conflict();
    let event = block_on(outbox.resolve_conflict(id, &Resolution::KeepMine, 30))
        .unwrap()
        .unwrap();
    assert_eq!((event.op, event.base_version), (Operation::Put, Some(5)));
    assert_eq!(
        event.payload,
        Value::Object(fields(&[("title", "mine"), ("tag", "t")]))
    );
    assert_eq!(
        local(&outbox, "a"),
        Some(fields(&[("title", "mine"), ("tag", "t")]))
    );
    assert!(block_on(outbox.conflicts()).unwrap().is_empty());
    assert_eq!(
        block_on(outbox.event(id)).unwrap(),
        None,
        "the conflicted change is replaced"
    );
    let next = block_on(outbox.take_batch(40, 10)).unwrap();
    assert_eq!(
        next.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        vec![event.event_id]
    );
}

#[test]
fn use_theirs_sends_nothing_and_shows_theirs() {
    let (outbox, id) = in_conflict();
    assert_eq!(
        block_on(outbox.resolve_conflict(id, &Resolution::UseTheirs, 30)).unwrap(),
        None
    );
    assert_eq!(local(&outbox, "a"), Some(fields(&[("title", "theirs")])));
    assert_eq!(block_on(outbox.status()).unwrap().conflicts, 0);
    assert_eq!(block_on(outbox.count(EventState::Queued)).unwrap(), 0);
    let err = block_on(outbox.resolve_conflict(id, &Resolution::UseTheirs, 31)).unwrap_err();
    assert_eq!(err.code(), "event_not_found", "a conflict is resolved once");
}

#[test]
fn merged_fields_are_sent_and_a_missing_record_is_created_fresh() {
    let outbox = MemoryOutbox::default();
    block_on(outbox.enqueue(change(Operation::Put, "a", &[("title", "mine")]), 0)).unwrap();
    let id = block_on(outbox.take_batch(0, 1)).unwrap()[0].event_id;
    block_on(outbox.record_conflict(id, remote("a", 0, None), vec![], "deleted", 1)).unwrap();
    let merged = Resolution::Merged(fields(&[("title", "both")]));
    let event = block_on(outbox.resolve_conflict(id, &merged, 2))
        .unwrap()
        .unwrap();
    assert_eq!(
        event.base_version, None,
        "version 0 means the server has no such record"
    );
    assert_eq!(local(&outbox, "a"), Some(fields(&[("title", "both")])));
}

#[test]
fn an_invalid_merge_changes_nothing() {
    let (outbox, id) = in_conflict();
    let mut deep = Value::Null;
    for _ in 0..40 {
        deep = Value::Object(Map::from([("x".to_owned(), deep)]));
    }
    let Value::Object(deep) = deep else {
        unreachable!()
    };
    let err = block_on(outbox.resolve_conflict(id, &Resolution::Merged(deep), 30)).unwrap_err();
    assert_eq!(err.code(), "invalid_change");
    assert_eq!(
        block_on(outbox.conflicts()).unwrap().len(),
        1,
        "still waiting for a choice"
    );
    assert_eq!(
        block_on(outbox.event(id)).unwrap().unwrap().state,
        EventState::Conflict
    );
}

#[test]
fn settings_are_kept_replaced_and_removed() {
    let outbox = MemoryOutbox::default();
    assert_eq!(block_on(outbox.setting("endpoint")).unwrap(), None);
    block_on(outbox.set_setting("endpoint", Some("a"))).unwrap();
    block_on(outbox.set_setting("endpoint", Some("b"))).unwrap();
    assert_eq!(
        block_on(outbox.setting("endpoint")).unwrap().as_deref(),
        Some("b")
    );
    block_on(outbox.set_setting("endpoint", None)).unwrap();
    assert_eq!(block_on(outbox.setting("endpoint")).unwrap(), None);
}
