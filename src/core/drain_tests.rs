//! The drain rules, one server answer at a time.

use outbox_sync_protocol::{Map, Outcome, PushResponse, PushResult, Record, Value};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::core::event::{NewEvent, Operation};
use crate::core::words::text_of;

fn event(n: u128) -> OutboxEvent {
    let change = NewEvent {
        collection: "notes".into(),
        record_id: format!("r{n}"),
        op: Operation::Delete,
        payload: Value::Null,
    };
    let mut e = OutboxEvent::queued(change, Uuid::from_u128(n), None, 0);
    e.attempts = 1;
    e
}

fn record(version: u64) -> Record {
    Record {
        collection: "notes".into(),
        record_id: "r".into(),
        version,
        deleted: false,
        data: Value::Object(Map::new()),
    }
}

/// Event `n`'s result, its record (if any) named as event `n`'s.
fn result(n: u128, mut outcome: Outcome) -> PushResult {
    name_record(&mut outcome, &format!("r{n}"));
    PushResult {
        event_id: Uuid::from_u128(n).to_string(),
        outcome,
    }
}

fn name_record(outcome: &mut Outcome, record_id: &str) {
    match outcome {
        Outcome::Applied { record, .. }
        | Outcome::Conflict {
            current: record, ..
        } => {
            record.record_id = record_id.into();
        }
        Outcome::Duplicate { original } => name_record(original, record_id),
        Outcome::Rejected { .. } => {}
    }
}

fn status(status: u16, retry_after_ms: Option<u64>) -> PushReply {
    PushReply::Status {
        status,
        retry_after_ms,
        code: None,
        message: None,
    }
}

const NOW: u64 = 1_000_000;

#[test]
fn each_outcome_becomes_its_step() {
    let batch = [event(1), event(2), event(3), event(4), event(5)];
    let applied = Outcome::Applied {
        version: 7,
        record: record(7),
    };
    let results = vec![
        result(1, applied.clone()),
        result(
            2,
            Outcome::Duplicate {
                original: Box::new(applied),
            },
        ),
        result(
            3,
            Outcome::Conflict {
                current: record(9),
                fields: vec!["title".into()],
                message: "both".into(),
            },
        ),
        result(
            4,
            Outcome::Rejected {
                code: "invalid_payload".into(),
                message: "bad".into(),
            },
        ),
    ];
    let plan = plan(
        &batch,
        PushReply::Answer(PushResponse { results }),
        &RetryPolicy::default(),
        NOW,
        0.5,
    );
    assert!(matches!(plan.steps[0], Step::Synced { version: 7, .. }));
    assert!(
        matches!(plan.steps[1], Step::Synced { version: 7, .. }),
        "a duplicate acts as its original"
    );
    assert!(matches!(&plan.steps[2], Step::Conflict { fields, .. } if fields == &["title"]));
    // People read words; the server's own sentence is the developer's detail.
    let Step::Failed { reason, .. } = &plan.steps[3] else {
        panic!("failed")
    };
    let reason = Reason::decode(reason);
    assert!(reason
        .text
        .starts_with("The server cannot accept this change"));
    assert!(reason.detail.unwrap().ends_with(": bad"));
    assert!(
        matches!(&plan.steps[4], Step::Retry { at_ms, .. } if *at_ms >= NOW),
        "left out: sent again"
    );
    assert_eq!(plan.next, Next::Continue);
    assert!(plan.error.is_some());
}

#[test]
fn an_answer_naming_another_record_is_not_used() {
    let batch = [event(1), event(2)];
    let mut applied = result(
        1,
        Outcome::Applied {
            version: 3,
            record: record(3),
        },
    );
    name_record(&mut applied.outcome, "r2");
    let mut conflict = result(
        2,
        Outcome::Conflict {
            current: record(9),
            fields: vec![],
            message: "both".into(),
        },
    );
    name_record(&mut conflict.outcome, "r1");
    let plan = plan(
        &batch,
        PushReply::Answer(PushResponse {
            results: vec![applied, conflict],
        }),
        &RetryPolicy::default(),
        NOW,
        0.5,
    );
    for (step, other) in plan.steps.iter().zip(["notes/r2", "notes/r1"]) {
        assert!(
            matches!(step, Step::Failed { reason, .. } if reason.contains(other)),
            "{step:?}"
        );
    }
}

#[test]
fn unauthorised_keeps_everything_queued_and_asks_for_credentials() {
    let plan = plan(
        &[event(1)],
        status(401, None),
        &RetryPolicy::default(),
        NOW,
        0.5,
    );
    assert_eq!(plan.next, Next::AuthRequired);
    assert!(matches!(&plan.steps[0], Step::Retry { at_ms: NOW, .. }));
    assert!(plan.error.unwrap().contains("Sign in again"));
}

#[test]
fn busy_server_is_honoured_within_the_maximum() {
    let policy = RetryPolicy::default();
    let plan1 = plan(&[event(1)], status(429, Some(30_000)), &policy, NOW, 0.5);
    assert_eq!(plan1.next, Next::WaitUntil(NOW + 30_000));
    assert_eq!(plan1.error.as_deref().map(text_of), Some("Server busy"));
    let plan2 = plan(
        &[event(1)],
        status(503, Some(u64::MAX / 2)),
        &policy,
        NOW,
        0.5,
    );
    assert_eq!(plan2.next, Next::WaitUntil(NOW + policy.max_ms));
    assert_eq!(
        plan2.error.as_deref().map(text_of),
        Some("Server unavailable")
    );
}

#[test]
fn server_errors_and_network_failures_back_off() {
    let policy = RetryPolicy {
        base_ms: 1_000,
        max_ms: 60_000,
    };
    for reply in [
        status(500, None),
        status(502, None),
        PushReply::Network,
        PushReply::Timeout,
    ] {
        let plan = plan(&[event(1)], reply.clone(), &policy, NOW, 0.999);
        let Next::WaitUntil(at) = plan.next else {
            panic!("{reply:?} must wait")
        };
        assert!(
            (NOW..=NOW + 1_000).contains(&at),
            "first retry within the first ceiling"
        );
    }
    let offline = plan(&[event(1)], PushReply::Network, &policy, NOW, 0.0);
    assert_eq!(offline.error.as_deref(), Some("No internet connection"));
}

#[test]
fn unreadable_answer_keeps_the_events() {
    let plan = plan(
        &[event(1)],
        PushReply::Malformed("truncated".into()),
        &RetryPolicy::default(),
        NOW,
        0.1,
    );
    assert!(matches!(plan.steps[0], Step::Retry { .. }));
    let reason = Reason::decode(&plan.error.unwrap());
    assert!(reason.text.contains("cannot read"), "{reason:?}");
    assert!(reason.detail.unwrap().contains("truncated"));
}

#[test]
fn refused_request_is_split_then_failed() {
    let too_big = PushReply::Status {
        status: 413,
        retry_after_ms: None,
        code: Some("body_too_large".into()),
        message: Some("The request is 20 MB; the server accepts 16 MB.".into()),
    };
    let batch = plan(
        &[event(1), event(2)],
        too_big.clone(),
        &RetryPolicy::default(),
        NOW,
        0.5,
    );
    assert_eq!(batch.next, Next::SendOneByOne);
    assert!(batch
        .steps
        .iter()
        .all(|s| matches!(s, Step::Retry { at_ms: NOW, .. })));
    let single = plan(&[event(1)], too_big, &RetryPolicy::default(), NOW, 0.5);
    let Step::Failed { reason, .. } = &single.steps[0] else {
        panic!("failed")
    };
    let reason = Reason::decode(reason);
    assert!(reason.text.contains("too large"), "{reason:?}");
    assert!(!reason.can_retry, "no retry can send it");
    assert!(
        reason.detail.unwrap().contains("16 MB"),
        "the detail keeps the limit"
    );
    let bare = plan(
        &[event(1)],
        status(400, None),
        &RetryPolicy::default(),
        NOW,
        0.5,
    );
    let bare = Reason::decode(&bare.error.unwrap());
    assert_eq!(bare.detail.as_deref(), Some("HTTP 400"));
    assert!(bare
        .text
        .starts_with("The server cannot accept this change"));
}

proptest! {
    #[test]
    fn one_step_per_event_in_order_never_past_the_maximum(
        size in 1usize..20,
        code in prop::sample::select(vec![400u16, 401, 404, 408, 413, 429, 500, 503]),
        retry_after in proptest::option::of(any::<u64>()),
        random in 0.0f64..1.0,
    ) {
        let batch: Vec<_> = (0..size as u128).map(event).collect();
        let policy = RetryPolicy::default();
        let plan = plan(&batch, status(code, retry_after), &policy, NOW, random);
        prop_assert_eq!(plan.steps.len(), batch.len());
        for (step, event) in plan.steps.iter().zip(&batch) {
            prop_assert_eq!(step.event_id(), event.event_id);
            if let Step::Retry { at_ms, .. } = step {
                prop_assert!(*at_ms <= NOW + policy.max_ms);
            }
        }
    }

    /// Whatever per-event results a server sends (some missing, repeated,
    /// unknown, for other records, duplicates of duplicates), every event
    /// gets exactly one step, in order, and none waits past the maximum.
    #[test]
    fn any_results_give_one_step_per_event(
        size in 1usize..12,
        answers in prop::collection::vec((0u128..16, 0u8..5, 0u64..20, any::<bool>()), 0..24),
        garbage_ids in prop::collection::vec(".{0,40}", 0..3),
    ) {
        let batch: Vec<_> = (0..size as u128).map(event).collect();
        let mut results: Vec<PushResult> = answers
            .into_iter()
            .map(|(n, kind, version, own_record)| {
                let mut outcome = match kind {
                    0 => Outcome::Applied { version, record: record(version) },
                    1 => Outcome::Conflict { current: record(version), fields: vec![], message: "x".into() },
                    2 => Outcome::Rejected { code: "c".into(), message: "m".into() },
                    3 => Outcome::Duplicate {
                        original: Box::new(Outcome::Duplicate {
                            original: Box::new(Outcome::Applied { version, record: record(version) }),
                        }),
                    },
                    _ => Outcome::Duplicate {
                        original: Box::new(Outcome::Rejected { code: "c".into(), message: "m".into() }),
                    },
                };
                if own_record {
                    name_record(&mut outcome, &format!("r{n}"));
                }
                PushResult { event_id: Uuid::from_u128(n).to_string(), outcome }
            })
            .collect();
        results.extend(garbage_ids.into_iter().map(|event_id| PushResult {
            event_id,
            outcome: Outcome::Rejected { code: "c".into(), message: "m".into() },
        }));
        let policy = RetryPolicy::default();
        let plan = plan(&batch, PushReply::Answer(PushResponse { results }), &policy, NOW, 0.5);
        prop_assert_eq!(plan.steps.len(), batch.len());
        for (step, event) in plan.steps.iter().zip(&batch) {
            prop_assert_eq!(step.event_id(), event.event_id);
            if let Step::Retry { at_ms, .. } = step {
                prop_assert!(*at_ms <= NOW + policy.max_ms);
            }
        }
    }
}

#[test]
fn a_change_whose_file_is_not_uploaded_yet_waits_instead_of_failing() {
    let batch = [event(1), event(2)];
    let rejected = |code: &str| Outcome::Rejected {
        code: code.into(),
        message: "The file 9f86… is not uploaded yet.".into(),
    };
    let results = vec![
        result(1, rejected("blob_missing")),
        result(2, rejected("invalid_blob_reference")),
    ];
    let plan = plan(
        &batch,
        PushReply::Answer(PushResponse { results }),
        &RetryPolicy::default(),
        NOW,
        0.5,
    );
    let Step::Retry { at_ms, reason, .. } = &plan.steps[0] else {
        panic!("blob_missing is retried: {:?}", plan.steps[0])
    };
    assert!(*at_ms > NOW, "it backs off like any retry");
    let reason = Reason::decode(reason);
    assert!(reason.text.contains("file"), "{}", reason.text);
    assert!(reason.detail.unwrap().contains("blob_missing"));
    assert!(
        matches!(plan.steps[1], Step::Failed { .. }),
        "a malformed reference fails for good"
    );
    assert_eq!(plan.next, Next::Continue, "other changes keep going");
}
