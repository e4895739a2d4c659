//! The drain machine, driven by hand: rounds, overlap, stops and splits.

use outbox_sync_protocol::{Map, Outcome, PushResponse, PushResult, Record, Value};
use uuid::Uuid;

use super::*;
use crate::core::event::{NewEvent, Operation};

fn config(batch_size: usize) -> DrainConfig {
    DrainConfig {
        batch_size,
        large_payload_bytes: 1_000,
        retry: RetryPolicy::default(),
    }
}

fn event(record: &str, bytes: usize) -> OutboxEvent {
    let fields = Map::from([("title".to_owned(), Value::from("x".repeat(bytes)))]);
    let change = NewEvent {
        collection: "notes".into(),
        record_id: record.into(),
        op: Operation::Put,
        payload: Value::Object(fields),
    };
    let mut event = OutboxEvent::queued(change, Uuid::now_v7(), None, 0);
    event.seq = Some(1);
    event.start_sync(30_000).unwrap();
    event
}

fn applied(request: &[OutboxEvent]) -> PushReply {
    let results = request
        .iter()
        .enumerate()
        .map(|(i, e)| PushResult {
            event_id: e.event_id.to_string(),
            outcome: Outcome::Applied {
                version: i as u64 + 1,
                record: Record {
                    collection: e.collection.clone(),
                    record_id: e.record_id.clone(),
                    version: i as u64 + 1,
                    deleted: false,
                    data: e.payload.clone(),
                },
            },
        })
        .collect();
    PushReply::Answer(PushResponse { results })
}

fn kinds(steps: &[Step]) -> Vec<&'static str> {
    steps
        .iter()
        .map(|s| match s {
            Step::Synced { .. } => "synced",
            Step::Retry { .. } => "retry",
            Step::Failed { .. } => "failed",
            Step::Conflict { .. } => "conflict",
        })
        .collect()
}

#[test]
fn the_next_batch_is_taken_and_the_last_outcomes_written_while_a_request_is_on_its_way() {
    let mut drain = DrainMachine::new(config(2));
    let first = drain.poll_round().unwrap();
    assert_eq!(
        (first.send, first.settle, first.take),
        (None, None, Some(2))
    );
    let batch = vec![event("a", 10), event("b", 10)];
    drain.handle_taken(batch.clone());

    let second = drain.poll_round().unwrap();
    assert_eq!(second.send.as_deref(), Some(&batch[..]));
    assert_eq!(
        (second.settle, second.take),
        (None, Some(2)),
        "taken beside the push"
    );
    drain.handle_reply(10, applied(&batch), 0.5);
    let next = vec![event("c", 10)];
    drain.handle_taken(next.clone());

    let third = drain.poll_round().unwrap();
    assert_eq!(third.send.as_deref(), Some(&next[..]));
    assert_eq!(kinds(&third.settle.unwrap()), ["synced", "synced"]);
    assert_eq!(
        third.take, None,
        "a short batch held every event that could go: nothing is taken beside its push"
    );
    drain.handle_reply(20, applied(&next), 0.5);

    let fourth = drain.poll_round().unwrap();
    assert_eq!(fourth.send, None);
    assert_eq!(kinds(&fourth.settle.unwrap()), ["synced"]);
    assert_eq!(
        fourth.take,
        Some(2 * MAX_AHEAD),
        "taken after c's outcome is written, several requests' worth after two answers"
    );
    drain.handle_taken(vec![]);
    assert_eq!(drain.poll_round(), None, "nothing left to send");
    let counts = drain.counts();
    assert_eq!((counts.requests, counts.synced), (2, 3));
    assert_eq!(drain.halt(), None);
}

#[test]
fn a_change_saved_while_a_short_batch_is_on_its_way_goes_out_after_its_answer() {
    let mut drain = DrainMachine::new(config(100));
    drain.poll_round().unwrap();
    let batch = vec![event("a", 10)];
    drain.handle_taken(batch.clone());
    let round = drain.poll_round().unwrap();
    assert_eq!((round.send.is_some(), round.take), (true, None));
    drain.handle_reply(10, applied(&batch), 0.5);
    let after = drain.poll_round().unwrap();
    assert_eq!((after.send, after.take), (None, Some(200)));
    assert_eq!(kinds(&after.settle.unwrap()), ["synced"]);
    // The take after the answer is not final for what it finds.
    let saved = vec![event("b", 10)];
    drain.handle_taken(saved.clone());
    let round = drain.poll_round().unwrap();
    assert_eq!(round.send.as_deref(), Some(&saved[..]));
    drain.handle_reply(20, applied(&saved), 0.5);
    let last = drain.poll_round().unwrap();
    assert_eq!(kinds(&last.settle.unwrap()), ["synced"]);
    drain.handle_taken(vec![]);
    assert_eq!(drain.poll_round(), None);
    assert_eq!(drain.counts().synced, 2);
}

#[test]
fn a_stop_puts_back_what_was_taken_beside_it_in_the_same_write() {
    let mut drain = DrainMachine::new(config(1));
    drain.poll_round().unwrap();
    let batch = vec![event("a", 10)];
    drain.handle_taken(batch.clone());
    let round = drain.poll_round().unwrap();
    assert!(round.send.is_some() && round.take.is_some());
    drain.handle_reply(1_000, PushReply::Network, 0.5);
    let prefetched = vec![event("b", 10), event("c", 10)];
    drain.handle_taken(prefetched.clone());

    let last = drain.poll_round().unwrap();
    assert_eq!(
        (last.send, last.take),
        (None, None),
        "nothing more is sent or taken"
    );
    let steps = last.settle.unwrap();
    assert_eq!(
        kinds(&steps),
        ["retry", "retry", "retry"],
        "one write for all"
    );
    let Step::Retry { at_ms, .. } = &steps[0] else {
        unreachable!()
    };
    assert!(*at_ms > 1_000, "the sent one backs off");
    for step in &steps[1..] {
        assert!(
            matches!(step, Step::Retry { at_ms: 1_000, reason, .. } if reason == NOT_SENT_YET),
            "the ones never sent are due now: {step:?}"
        );
    }
    assert_eq!(drain.poll_round(), None);
    assert!(matches!(drain.halt(), Some(Halt::Wait { .. })));
    assert_eq!(drain.counts().retried, 3);
}

/// An event whose payload the store held back (`held_payload_size`) is
/// split off by that size, its `payload` being null.
#[test]
fn an_event_held_without_its_payload_is_split_by_its_size() {
    let mut drain = DrainMachine::new(config(100));
    drain.poll_round().unwrap();
    let held = |record: &str, size: usize| {
        let mut e = event(record, 0);
        e.payload = Value::Null;
        e.held_payload_size = Some(size);
        e
    };
    drain.handle_taken(vec![held("a", 5_000), held("b", 10), held("c", 999)]);
    let round = drain.poll_round().unwrap();
    let ids = |request: &[OutboxEvent]| -> Vec<String> {
        request.iter().map(|e| e.record_id.clone()).collect()
    };
    assert_eq!(ids(&round.send.unwrap()), ["b", "c"]);
}

#[test]
fn large_events_travel_alone_after_the_small_ones() {
    let mut drain = DrainMachine::new(config(100));
    drain.poll_round().unwrap();
    let (a, b, c) = (event("a", 2_000), event("b", 10), event("c", 2_000));
    drain.handle_taken(vec![a.clone(), b.clone(), c.clone()]);
    let mut sent = Vec::new();
    while let Some(round) = drain.poll_round() {
        let taking = round.take.is_some();
        if let Some(request) = round.send {
            sent.push(
                request
                    .iter()
                    .map(|e| e.record_id.clone())
                    .collect::<Vec<_>>(),
            );
            drain.handle_reply(5, applied(&request), 0.5);
        }
        if taking {
            drain.handle_taken(vec![]);
        }
    }
    assert_eq!(sent, [vec!["b"], vec!["a"], vec!["c"]]);
    assert_eq!(drain.counts().synced, 3);
}

#[test]
fn after_a_refused_batch_the_drain_takes_one_event_at_a_time() {
    let mut drain = DrainMachine::new(config(50));
    drain.poll_round().unwrap();
    let batch = vec![event("a", 10), event("b", 10)];
    drain.handle_taken(batch);
    drain.poll_round().unwrap();
    let refused = PushReply::Status {
        status: 400,
        retry_after_ms: None,
        code: Some("invalid_event".into()),
        message: None,
    };
    drain.handle_reply(5, refused, 0.5);
    drain.handle_taken(vec![]);
    let round = drain.poll_round().unwrap();
    assert_eq!(kinds(&round.settle.unwrap()), ["retry", "retry"]);
    assert_eq!(round.take, Some(1));
    assert_eq!(drain.halt(), None);
}

/// Drains `events` through the machine as the engine does (each request
/// answered as applied, every taken batch handed back), recording per round
/// the requests sent, the take asked for and how many outcomes it settled.
fn run_rounds(
    drain: &mut DrainMachine,
    mut queue: Vec<OutboxEvent>,
) -> Vec<(Vec<usize>, Option<usize>, usize)> {
    let mut rounds = Vec::new();
    while let Some(round) = drain.poll_round() {
        let mut sent = Vec::new();
        let mut next = round.send;
        while let Some(request) = next {
            sent.push(request.len());
            drain.handle_reply(5, applied(&request), 0.5);
            next = drain.poll_send();
        }
        let settled = round.settle.map_or(0, |steps| steps.len());
        if let Some(limit) = round.take {
            let n = limit.min(queue.len());
            drain.handle_taken(queue.drain(..n).collect());
        }
        rounds.push((sent, round.take, settled));
    }
    rounds
}

#[test]
fn takes_grow_to_several_requests_sent_one_after_another_in_one_round() {
    let mut drain = DrainMachine::new(config(10));
    let queue: Vec<OutboxEvent> = (0..150).map(|i| event(&format!("r{i}"), 10)).collect();
    let rounds = run_rounds(&mut drain, queue);
    let expected: Vec<(Vec<usize>, Option<usize>, usize)> = vec![
        // One request's worth first: an offline first attempt holds no more.
        (vec![], Some(10), 0),
        // Each take is asked for before the round's answers: it grows a
        // round behind them.
        (vec![10], Some(10), 0),
        (vec![10], Some(20), 10),
        (vec![10, 10], Some(40), 10),
        // Four requests, one after another, beside one settle-and-take.
        (vec![10, 10, 10, 10], Some(40), 20),
        (vec![10, 10, 10, 10], Some(40), 40),
        // 30 left of 40 asked for: a short batch, nothing taken beside it.
        (vec![10, 10, 10], None, 40),
        (vec![], Some(40), 30),
    ];
    assert_eq!(rounds, expected);
    assert_eq!(drain.counts().synced, 150);
    assert_eq!(drain.counts().requests, 15);
}

#[test]
fn a_stop_between_two_requests_of_a_round_sends_no_more_and_puts_them_back() {
    let mut drain = DrainMachine::new(config(2));
    // Two answers grow the take to MAX_AHEAD requests' worth.
    drain.poll_round().unwrap();
    drain.handle_taken(vec![event("a", 10), event("b", 10)]);
    let round = drain.poll_round().unwrap();
    let request = round.send.unwrap();
    drain.handle_reply(5, applied(&request), 0.5);
    assert_eq!(drain.poll_send(), None, "the batch was one request");
    let batch: Vec<OutboxEvent> = (0..4).map(|i| event(&format!("c{i}"), 10)).collect();
    drain.handle_taken(batch.clone());
    let round = drain.poll_round().unwrap();
    assert_eq!(round.send.as_deref(), Some(&batch[..2]));
    assert_eq!(drain.poll_send(), None, "not before the first is answered");
    drain.handle_reply(6, PushReply::Network, 0.5);
    assert_eq!(drain.poll_send(), None, "nothing more after a stop");
    let last = drain.poll_round().unwrap();
    assert_eq!((last.send.is_none(), last.take), (true, None));
    let steps = last.settle.unwrap();
    assert_eq!(kinds(&steps), ["retry", "retry", "retry", "retry"]);
    let put_back: Vec<Uuid> = steps[2..].iter().map(Step::event_id).collect();
    assert_eq!(put_back, [batch[2].event_id, batch[3].event_id]);
    for step in &steps[2..] {
        assert!(matches!(step, Step::Retry { reason, .. } if reason == NOT_SENT_YET));
    }
    assert_eq!(drain.poll_round(), None);
}
