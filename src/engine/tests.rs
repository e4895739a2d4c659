//! The engine against `MemoryOutbox` and a small in-memory server.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};

use futures::executor::block_on;
use outbox_sync_protocol::{
    ChangesResponse, Map, Outcome, PushResponse, PushResult, Record, Value,
};

use super::*;
use crate::core::memory::MemoryOutbox;
use crate::core::{EventState, NewEvent, Operation, OutboxStore, RecordKey};

/// One request the fake server received.
struct Request {
    events: Vec<OutboxEvent>,
    applied: bool,
    answered: bool,
}

/// A server that applies each event id once (last write wins) and answers a
/// replay with the stored outcome, as the real one does; keeps a change log
/// for pulls; can be told how to fail the next requests; and records every
/// request as it arrived, so tests check what the engine really sent, not
/// only what the server ended up with.
#[derive(Default)]
struct FakeServer {
    versions: Cell<u64>,
    records: RefCell<HashMap<(String, String), Record>>,
    outcomes: RefCell<HashMap<String, Outcome>>,
    log: RefCell<Vec<Record>>,
    /// Replies given instead of answering, one per request.
    faults: RefCell<VecDeque<PushReply>>,
    /// Apply the next push but answer as if the network dropped (response lost).
    drop_after_commit: Cell<u32>,
    /// Every request as it arrived, whether the server applied it (not
    /// refused by a fault) and whether its answer, one outcome per event,
    /// reached the device.
    requests: RefCell<Vec<Request>>,
    /// Events answered as duplicates (replays of an applied event).
    duplicates: Cell<usize>,
}

impl FakeServer {
    fn apply(&self, event: &OutboxEvent) -> Outcome {
        let id = event.event_id.to_string();
        if let Some(original) = self.outcomes.borrow().get(&id) {
            self.duplicates.set(self.duplicates.get() + 1);
            return Outcome::Duplicate {
                original: Box::new(original.clone()),
            };
        }
        let version = self.versions.get() + 1;
        self.versions.set(version);
        let key = (event.collection.clone(), event.record_id.clone());
        let current = self
            .records
            .borrow()
            .get(&key)
            .and_then(|r| r.data.as_object().cloned());
        let data = crate::core::record::apply(current, event.op, &event.payload);
        let record = Record {
            collection: key.0.clone(),
            record_id: key.1.clone(),
            version,
            deleted: data.is_none(),
            data: data.map_or(Value::Null, Value::Object),
        };
        self.records.borrow_mut().insert(key, record.clone());
        self.log.borrow_mut().push(record.clone());
        let outcome = Outcome::Applied { version, record };
        self.outcomes.borrow_mut().insert(id, outcome.clone());
        outcome
    }

    fn applied_count(&self) -> usize {
        self.outcomes.borrow().len()
    }

    /// How many events each request carried, in order.
    fn pushes(&self) -> Vec<usize> {
        self.requests
            .borrow()
            .iter()
            .map(|r| r.events.len())
            .collect()
    }

    /// Every event the server applied or replayed, each time it arrived.
    fn deliveries(&self) -> usize {
        let requests = self.requests.borrow();
        requests
            .iter()
            .filter(|r| r.applied)
            .map(|r| r.events.len())
            .sum()
    }

    /// Checks what the engine sent: no request over `batch_size`, at most
    /// one event per record in a request, a record's events first sent in
    /// send order, and no event sent again once an answer for it arrived.
    /// Then every delivery but the replays is one application.
    fn check_requests(&self, batch_size: usize) {
        let requests = self.requests.borrow();
        let mut answered = std::collections::HashSet::new();
        let mut first_seq: HashMap<(String, String), u64> = HashMap::new();
        for (
            index,
            Request {
                events: request,
                answered: was_answered,
                ..
            },
        ) in requests.iter().enumerate()
        {
            assert!(request.len() <= batch_size, "request {index} is too large");
            let records: std::collections::HashSet<_> =
                request.iter().map(|e| e.record_key()).collect();
            assert_eq!(
                records.len(),
                request.len(),
                "request {index}: a record twice"
            );
            for event in request {
                assert!(
                    !answered.contains(&event.event_id),
                    "request {index} sends {} again after its answer arrived",
                    event.event_id
                );
                let key = (event.collection.clone(), event.record_id.clone());
                let seq = event.seq.expect("sent events are stored");
                if let Some(last) = first_seq.insert(key, seq) {
                    assert!(
                        last <= seq,
                        "request {index}: a record's changes out of order"
                    );
                }
            }
            if *was_answered {
                answered.extend(request.iter().map(|e| e.event_id));
            }
        }
        assert_eq!(
            self.deliveries() - self.duplicates.get(),
            self.versions.get() as usize,
            "every delivery but a replay is one application"
        );
    }
}

impl Transport for &FakeServer {
    async fn push(&self, events: &[OutboxEvent]) -> PushReply {
        let fault = self.faults.borrow_mut().pop_front();
        let lost = self.drop_after_commit.get() > 0;
        self.requests.borrow_mut().push(Request {
            events: events.to_vec(),
            applied: fault.is_none(),
            answered: fault.is_none() && !lost,
        });
        if let Some(fault) = fault {
            return fault;
        }
        let results = events
            .iter()
            .map(|e| PushResult {
                event_id: e.event_id.to_string(),
                outcome: self.apply(e),
            })
            .collect();
        if self.drop_after_commit.get() > 0 {
            self.drop_after_commit.set(self.drop_after_commit.get() - 1);
            return PushReply::Network;
        }
        PushReply::Answer(PushResponse { results })
    }

    async fn pull(&self, since: Option<&str>, limit: u32) -> PullReply {
        let from: usize = match since.map(str::parse) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => return PullReply::status(410),
        };
        let log = self.log.borrow();
        let end = (from + limit as usize).min(log.len());
        PullReply::Answer(ChangesResponse {
            changes: log[from.min(end)..end].to_vec(),
            next_token: end.to_string(),
            has_more: end < log.len(),
        })
    }
}

struct FakeEnv {
    now: Cell<u64>,
    lines: RefCell<Vec<String>>,
}

impl FakeEnv {
    fn at(now_ms: u64) -> Self {
        FakeEnv {
            now: Cell::new(now_ms),
            lines: RefCell::default(),
        }
    }
}

impl Environment for &FakeEnv {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }
    fn random(&self) -> f64 {
        0.5
    }
    fn log(&self, line: &str) {
        self.lines.borrow_mut().push(line.to_owned());
    }
}

fn put(record: &str, title: &str) -> NewEvent {
    NewEvent {
        collection: "notes".into(),
        record_id: record.into(),
        op: Operation::Put,
        payload: Value::Object(Map::from([("title".to_owned(), Value::from(title))])),
    }
}

fn engine<'a>(
    store: &'a MemoryOutbox,
    server: &'a FakeServer,
    env: &'a FakeEnv,
    config: EngineConfig,
) -> Engine<'a, MemoryOutbox, &'a FakeServer, &'a FakeEnv> {
    Engine::new(store, server, env, config)
}

fn count(engine: &Engine<'_, MemoryOutbox, &FakeServer, &FakeEnv>, state: EventState) -> u32 {
    block_on(engine.store().count(state)).unwrap()
}

#[test]
fn drains_everything_in_record_order_then_stops() {
    let (server, env) = (FakeServer::default(), FakeEnv::at(1_000));
    let store = MemoryOutbox::default();
    let engine = engine(
        &store,
        &server,
        &env,
        EngineConfig {
            batch_size: 10,
            ..EngineConfig::default()
        },
    );
    block_on(
        engine
            .store()
            .enqueue_batch(vec![put("a", "1"), put("a", "2"), put("b", "1")], 0),
    )
    .unwrap();
    let report = block_on(engine.drain()).unwrap();
    assert_eq!((report.requests, report.synced, report.halt), (2, 3, None));
    assert_eq!(
        server.pushes(),
        vec![2, 1],
        "a's second change waits for its first"
    );
    server.check_requests(10);
    assert_eq!((server.deliveries(), server.applied_count()), (3, 3));
    assert_eq!(
        count(&engine, EventState::Synced),
        0,
        "confirmed events leave the outbox"
    );
    let key = RecordKey {
        collection: "notes".into(),
        record_id: "a".into(),
    };
    let a = block_on(engine.store().record(&key)).unwrap().unwrap();
    assert_eq!(
        (a.pending, a.base_version),
        (0, Some(3)),
        "a1 is v1, b1 v2, a2 v3"
    );
}

#[test]
fn offline_then_online_loses_nothing() {
    let (server, env) = (FakeServer::default(), FakeEnv::at(1_000));
    let store = MemoryOutbox::default();
    let engine = engine(&store, &server, &env, EngineConfig::default());
    block_on(engine.store().enqueue(put("a", "1"), 0)).unwrap();
    server.faults.borrow_mut().push_back(PushReply::Network);
    let report = block_on(engine.drain()).unwrap();
    let Some(Halt::Wait { until_ms, reason }) = report.halt else {
        panic!("waits")
    };
    assert!(reason.starts_with("No internet connection"));
    assert_eq!(count(&engine, EventState::Queued), 1);
    let idle = block_on(engine.drain()).unwrap();
    assert_eq!(
        (idle.requests, idle.next_attempt_at),
        (0, Some(until_ms)),
        "backing off"
    );
    assert_eq!(
        server.pushes(),
        vec![1],
        "nothing is sent while backing off"
    );
    env.now.set(until_ms);
    assert_eq!(block_on(engine.drain()).unwrap().synced, 1);
    assert_eq!(server.applied_count(), 1);
    assert_eq!(server.pushes(), vec![1, 1]);
    server.check_requests(EngineConfig::default().batch_size);
}

#[test]
fn a_lost_response_is_retried_and_applied_once() {
    let (server, env) = (FakeServer::default(), FakeEnv::at(1_000));
    let store = MemoryOutbox::default();
    let engine = engine(&store, &server, &env, EngineConfig::default());
    block_on(
        engine
            .store()
            .enqueue_batch(vec![put("a", "1"), put("b", "1")], 0),
    )
    .unwrap();
    server.drop_after_commit.set(1);
    let first = block_on(engine.drain()).unwrap();
    assert!(matches!(first.halt, Some(Halt::Wait { .. })));
    env.now.set(env.now.get() + 10 * 60_000);
    let second = block_on(engine.drain()).unwrap();
    assert_eq!(second.synced, 2, "the duplicates confirm the events");
    assert_eq!(server.applied_count(), 2);
    assert_eq!(server.versions.get(), 2, "applied once each");
    let requests = server.requests.borrow();
    assert_eq!(
        requests.len(),
        2,
        "one retry after the lost answer, no more"
    );
    let ids = |i: usize| -> Vec<_> {
        let events = &requests[i].events;
        events
            .iter()
            .map(|e| (e.event_id, e.payload.clone()))
            .collect()
    };
    assert_eq!(
        ids(0),
        ids(1),
        "the retry carries the same events, unchanged"
    );
    assert_eq!(
        server.duplicates.get(),
        2,
        "answered from the stored outcomes"
    );
    drop(requests);
    server.check_requests(EngineConfig::default().batch_size);
}

#[test]
fn unauthorised_pauses_with_everything_queued() {
    let (server, env) = (FakeServer::default(), FakeEnv::at(1_000));
    let store = MemoryOutbox::default();
    let engine = engine(&store, &server, &env, EngineConfig::default());
    block_on(engine.store().enqueue(put("a", "1"), 0)).unwrap();
    let unauthorised = PushReply::Status {
        status: 401,
        retry_after_ms: None,
        code: None,
        message: None,
    };
    server.faults.borrow_mut().push_back(unauthorised);
    assert_eq!(
        block_on(engine.drain()).unwrap().halt,
        Some(Halt::AuthRequired)
    );
    assert_eq!(count(&engine, EventState::Queued), 1);
    assert_eq!(server.pushes(), vec![1], "one attempt, then it stops");
    assert_eq!(
        block_on(engine.drain()).unwrap().synced,
        1,
        "due at once with new credentials"
    );
}

#[test]
fn a_refused_batch_is_resent_one_by_one_and_only_the_bad_event_fails() {
    let (server, env) = (FakeServer::default(), FakeEnv::at(1_000));
    let store = MemoryOutbox::default();
    let engine = engine(&store, &server, &env, EngineConfig::default());
    block_on(
        engine
            .store()
            .enqueue_batch(vec![put("a", "1"), put("b", "1"), put("c", "1")], 0),
    )
    .unwrap();
    let refused = |message: &str| PushReply::Status {
        status: 400,
        retry_after_ms: None,
        code: Some("invalid_field".into()),
        message: Some(message.into()),
    };
    server
        .faults
        .borrow_mut()
        .extend([refused("whole batch"), refused("b is bad")]);
    let report = block_on(engine.drain()).unwrap();
    assert_eq!(server.pushes(), vec![3, 1, 1, 1]);
    server.check_requests(EngineConfig::default().batch_size);
    assert_eq!((report.synced, report.failed, report.halt), (2, 1, None));
    let failed = block_on(engine.store().events_in_state(EventState::Failed, 10)).unwrap();
    let reason = crate::core::words::Reason::decode(failed[0].last_error.as_deref().unwrap());
    assert!(
        reason.detail.unwrap().ends_with("b is bad"),
        "the server's sentence is the detail"
    );
}

#[test]
fn large_payloads_travel_alone() {
    let (server, env) = (FakeServer::default(), FakeEnv::at(1_000));
    let config = EngineConfig {
        large_payload_bytes: 100,
        ..EngineConfig::default()
    };
    let store = MemoryOutbox::default();
    let engine = engine(&store, &server, &env, config);
    let photo = put("p", &"x".repeat(1_000));
    block_on(
        engine
            .store()
            .enqueue_batch(vec![put("a", "1"), photo, put("b", "1")], 0),
    )
    .unwrap();
    assert_eq!(block_on(engine.drain()).unwrap().synced, 3);
    assert_eq!(server.pushes(), vec![2, 1]);
    server.check_requests(EngineConfig::default().batch_size);
}

#[test]
fn pull_pages_until_done_and_resyncs_after_a_410() {
    let (server, env) = (FakeServer::default(), FakeEnv::at(1_000));
    let config = EngineConfig {
        pull_limit: 2,
        ..EngineConfig::default()
    };
    let store = MemoryOutbox::default();
    let engine = engine(&store, &server, &env, config);
    for i in 0..5 {
        server.apply(&OutboxEvent::queued(
            put(&format!("r{i}"), "theirs"),
            uuid::Uuid::now_v7(),
            None,
            0,
        ));
    }
    let report = block_on(engine.pull()).unwrap();
    assert_eq!((report.pages, report.changed, report.halt), (3, 5, None));
    assert_eq!(
        block_on(engine.store().sync_token()).unwrap().as_deref(),
        Some("5")
    );
    // A token the server no longer knows: start again, keeping pending changes.
    block_on(engine.store().apply_pulled(&[], "stale", 0)).unwrap();
    block_on(engine.store().enqueue(put("mine", "1"), 0)).unwrap();
    let again = block_on(engine.pull()).unwrap();
    assert!(again.resynced);
    assert_eq!(again.changed, 0, "the same versions change nothing");
    assert_eq!(count(&engine, EventState::Queued), 1);
}

#[test]
fn debug_logs_name_every_event_and_an_unreadable_answer_keeps_the_events() {
    let (server, env) = (FakeServer::default(), FakeEnv::at(1_000));
    let store = MemoryOutbox::default();
    let engine = engine(
        &store,
        &server,
        &env,
        EngineConfig {
            debug: true,
            ..EngineConfig::default()
        },
    );
    let saved = block_on(engine.store().enqueue(put("a", "1"), 0)).unwrap();
    server
        .faults
        .borrow_mut()
        .push_back(PushReply::Malformed("cut off".into()));
    let report = block_on(engine.drain()).unwrap();
    let Some(Halt::Wait { reason, .. }) = report.halt else {
        panic!("waits")
    };
    assert!(reason.contains("cut off"), "the detail says why: {reason}");
    assert_eq!(count(&engine, EventState::Queued), 1, "kept");
    let lines = env.lines.borrow();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("retry event_id={}", saved.event_id))),
        "{lines:?}"
    );
}

#[test]
fn an_exclusive_drain_takes_back_leases_of_a_drainer_that_died() {
    let (server, env) = (FakeServer::default(), FakeEnv::at(1_000));
    let store = MemoryOutbox::default();
    block_on(store.enqueue(put("a", "1"), 0)).unwrap();
    // A drainer took the event (lease of 30 s) and died.
    block_on(store.take_batch(1_000, 10)).unwrap();
    let shared = engine(&store, &server, &env, EngineConfig::default());
    assert_eq!(
        block_on(shared.drain()).unwrap().synced,
        0,
        "the lease still runs"
    );
    let config = EngineConfig {
        exclusive: true,
        ..EngineConfig::default()
    };
    let exclusive = engine(&store, &server, &env, config);
    let report = block_on(exclusive.drain()).unwrap();
    assert_eq!((report.recovered, report.synced), (1, 1));
    assert_eq!(
        server.pushes(),
        vec![1],
        "sent once, by the drainer that took it back"
    );
}

#[test]
fn two_drainers_taking_turns_never_put_an_event_in_two_requests() {
    let (server, env) = (FakeServer::default(), FakeEnv::at(1_000));
    let store = MemoryOutbox::default();
    let changes = (0..25)
        .map(|i| put(&format!("r{}", i % 7), &i.to_string()))
        .collect();
    block_on(store.enqueue_batch(changes, 0)).unwrap();
    let config = EngineConfig {
        batch_size: 4,
        ..EngineConfig::default()
    };
    let one = engine(&store, &server, &env, config);
    let two = engine(&store, &server, &env, config);
    let (a, b) = block_on(futures::future::join(one.drain(), two.drain()));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.synced + b.synced, 25, "{a:?} {b:?}");
    assert_eq!(server.deliveries(), 25, "each event sent once");
    server.check_requests(4);
}
