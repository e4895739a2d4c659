//! The writes of one push's answer, planned without a store.

use outbox_sync_protocol::{Map, Record, Value};

use super::*;
use crate::core::conflict::Conflict;
use crate::core::event::{EventState, NewEvent, Operation};
use crate::core::write_set::{ConflictWrite, EventWrite, RecordWrite};

fn syncing(record: &str, seq: u64) -> OutboxEvent {
    let fields = Map::from([("title".to_owned(), Value::from(record))]);
    let change = NewEvent {
        collection: "notes".into(),
        record_id: record.into(),
        op: Operation::Put,
        payload: Value::Object(fields),
    };
    let mut event = OutboxEvent::queued(change, Uuid::now_v7(), None, 10);
    event.seq = Some(seq);
    event.start_sync(1_000).unwrap();
    event
}

fn read_of(event: &OutboxEvent) -> RecordRead {
    let mut record = LocalRecord::empty(&event.record_key());
    record.apply_local(event);
    RecordRead {
        key: event.record_key(),
        record: Some(record),
        unsent: vec![event.clone()],
        one_change: false,
    }
}

fn server_record(record: &str, version: u64) -> Record {
    Record {
        collection: "notes".into(),
        record_id: record.into(),
        version,
        deleted: false,
        data: Value::Object(Map::from([("title".to_owned(), Value::from("theirs"))])),
    }
}

fn synced_step(event: &OutboxEvent, version: u64) -> Step {
    Step::Synced {
        event_id: event.event_id,
        version,
        record: server_record(&event.record_id, version),
    }
}

#[test]
fn a_confirmed_event_folds_into_its_record_and_leaves_the_outbox() {
    let event = syncing("a", 1);
    let steps = vec![synced_step(&event, 7)];
    let reads = vec![read_of(&event)];
    let done = plan_settlement(steps, vec![Some(event.clone())], reads, false, 50);
    assert_eq!(done.writes.events, vec![EventWrite::Delete(1)]);
    let [RecordWrite::Put(record)] = &done.writes.records[..] else {
        panic!("one record put: {:?}", done.writes.records)
    };
    assert_eq!((record.base_version, record.pending), (Some(7), 0));
    assert_eq!(record.base, record.local);
    assert_eq!(done.synced.len(), 1);
    assert_eq!(done.synced[0].synced_at_ms, Some(50));
}

#[test]
fn with_retention_a_confirmed_event_stays_as_synced() {
    let event = syncing("a", 1);
    let steps = vec![synced_step(&event, 7)];
    let reads = vec![read_of(&event)];
    let done = plan_settlement(steps, vec![Some(event)], reads, true, 50);
    let [EventWrite::Put(kept)] = &done.writes.events[..] else {
        panic!("one event put: {:?}", done.writes.events)
    };
    assert_eq!(kept.state, EventState::Synced);
}

#[test]
fn an_offline_batch_is_one_write_set_of_retries() {
    let events: Vec<_> = (1..=100).map(|i| syncing(&format!("r{i}"), i)).collect();
    let steps = events
        .iter()
        .map(|e| Step::Retry {
            event_id: e.event_id,
            at_ms: 9_000,
            reason: "No internet connection".into(),
        })
        .collect::<Vec<_>>();
    assert!(records_to_read(&steps, &[]).is_empty());
    let found = events.iter().cloned().map(Some).collect();
    let done = plan_settlement(steps, found, vec![], false, 50);
    assert_eq!(done.writes.events.len(), 100);
    assert!(done.writes.records.is_empty() && done.synced.is_empty());
    for write in &done.writes.events {
        let EventWrite::Put(event) = write else {
            panic!("a retry is a put")
        };
        assert_eq!(event.state, EventState::Queued);
        assert_eq!(event.next_attempt_at_ms, Some(9_000));
    }
}

#[test]
fn an_event_another_drainer_finished_or_that_is_gone_is_left_alone() {
    let mut finished = syncing("a", 1);
    finished.mark_synced(20).unwrap();
    let gone = syncing("b", 2);
    let steps = vec![
        synced_step(&finished, 3),
        Step::Failed {
            event_id: gone.event_id,
            reason: "refused".into(),
        },
    ];
    let reads = vec![read_of(&finished)];
    let done = plan_settlement(steps, vec![Some(finished), None], reads, false, 50);
    assert!(done.writes.is_empty(), "{:?}", done.writes);
    assert!(done.synced.is_empty());
}

#[test]
fn a_conflict_keeps_mine_base_and_theirs() {
    let event = syncing("a", 4);
    let steps = vec![Step::Conflict {
        event_id: event.event_id,
        current: server_record("a", 9),
        fields: vec!["title".into()],
        reason: "Someone else changed the title".into(),
    }];
    let reads = vec![read_of(&event)];
    assert_eq!(
        records_to_read(&steps, &[Some(event.clone())]),
        vec![event.record_key()]
    );
    let done = plan_settlement(steps, vec![Some(event.clone())], reads, false, 50);
    let [EventWrite::Put(marked)] = &done.writes.events[..] else {
        panic!("the event is saved in conflict")
    };
    assert_eq!(marked.state, EventState::Conflict);
    let [ConflictWrite::Put(Conflict { event_id, mine, .. })] = &done.writes.conflicts[..] else {
        panic!("one conflict kept")
    };
    assert_eq!(*event_id, event.event_id);
    assert!(mine.is_some());
    assert!(done.writes.records.is_empty(), "the record is unchanged");
}

#[test]
fn a_record_s_later_change_stays_on_top_of_the_confirmed_one() {
    let first = syncing("a", 1);
    let mut second = first.clone();
    second.event_id = Uuid::now_v7();
    second.seq = Some(2);
    second.state = EventState::Queued;
    second.payload = Value::Object(Map::from([("title".to_owned(), Value::from("later"))]));
    let mut read = read_of(&first);
    read.record.as_mut().unwrap().apply_local(&second);
    read.unsent.push(second);
    let done = plan_settlement(
        vec![synced_step(&first, 2)],
        vec![Some(first)],
        vec![read],
        false,
        5,
    );
    let [RecordWrite::Put(record)] = &done.writes.records[..] else {
        panic!("one record put")
    };
    assert_eq!(record.pending, 1);
    let title = record.local.as_ref().and_then(|l| l.get("title")).cloned();
    assert_eq!(title, Some(Value::from("later")));
}

#[test]
fn only_a_record_with_other_unconfirmed_changes_has_its_events_read() {
    let record = |pending| LocalRecord {
        collection: "notes".into(),
        record_id: "n1".into(),
        base: None,
        base_version: None,
        local: None,
        pending,
        updated_at_ms: 0,
    };
    assert!(!reads_unsent(None));
    assert!(!reads_unsent(Some(&record(0))));
    assert!(!reads_unsent(Some(&record(1))));
    assert!(reads_unsent(Some(&record(2))));
}

#[test]
fn a_record_whose_one_change_is_confirmed_is_patched_not_rewritten() {
    let event = syncing("a", 1);
    let steps = vec![synced_step(&event, 7)];
    let read = RecordRead {
        key: event.record_key(),
        record: None,
        unsent: Vec::new(),
        one_change: true,
    };
    let done = plan_settlement(steps, vec![Some(event.clone())], vec![read], false, 50);
    assert_eq!(done.writes.events, vec![EventWrite::Delete(1)]);
    assert_eq!(
        done.writes.records,
        vec![RecordWrite::Confirm {
            key: event.record_key(),
            version: 7
        }]
    );
    assert_eq!(done.synced.len(), 1);
}

#[test]
fn only_conflicts_need_their_records_whole() {
    let (a, b) = (syncing("a", 1), syncing("b", 2));
    let steps = vec![
        synced_step(&a, 3),
        Step::Conflict {
            event_id: b.event_id,
            current: server_record("b", 4),
            fields: Vec::new(),
            reason: "stale".into(),
        },
    ];
    let whole = whole_records(&steps, &[Some(a), Some(b.clone())]);
    assert_eq!(whole.into_iter().collect::<Vec<_>>(), vec![b.record_key()]);
    assert!(confirms_by_patch(1, false));
    assert!(!confirms_by_patch(1, true));
    assert!(!confirms_by_patch(2, false));
    assert!(!confirms_by_patch(0, false));
}

#[test]
fn a_confirmed_event_that_leaves_the_outbox_is_planned_the_same_without_its_payload() {
    let event = syncing("a", 1);
    let patched = || RecordRead {
        key: event.record_key(),
        record: None,
        unsent: Vec::new(),
        one_change: true,
    };
    let mut head = event.clone();
    head.payload = Value::Null;
    let step = synced_step(&event, 7);
    assert!(!needs_payload(&step, false, false));
    let whole = plan_settlement(
        vec![step.clone()],
        vec![Some(event.clone())],
        vec![patched()],
        false,
        50,
    );
    let light = plan_settlement(
        vec![step.clone()],
        vec![Some(head)],
        vec![patched()],
        false,
        50,
    );
    assert_eq!(light.writes, whole.writes);
    assert_eq!(light.synced[0].created_at_ms, whole.synced[0].created_at_ms);
    // Kept, folded into a record read whole, or any other outcome: needed.
    assert!(needs_payload(&step, true, false));
    assert!(needs_payload(&step, false, true));
    let retry = Step::Retry {
        event_id: event.event_id,
        at_ms: 60,
        reason: "offline".into(),
    };
    assert!(needs_payload(&retry, false, false));
    let failed = Step::Failed {
        event_id: event.event_id,
        reason: "refused".into(),
    };
    assert!(needs_payload(&failed, false, false));
}
