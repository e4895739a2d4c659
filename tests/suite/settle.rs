//! What one push's answer costs and leaves behind on real IndexedDB: every
//! outcome in one transaction, and nothing synced left in the outbox.

use std::cell::Cell;

use outbox_sync::core::drain::PushReply;
use outbox_sync::core::pull::PullReply;
use outbox_sync::core::{Durability, EventState, OutboxEvent, OutboxStore, StoreConfig, SyncStore};
use outbox_sync::engine::browser::BrowserEnv;
use outbox_sync::engine::{Engine, EngineConfig, Halt, Transport};
use outbox_sync_protocol::{Outcome, PushResponse, PushResult, Record, Value};
use wasm_bindgen_test::wasm_bindgen_test;

use super::{fresh, fresh_with, key, put, title, total};

/// A network that is down: every push fails before reaching a server.
struct Offline;

impl Transport for Offline {
    async fn push(&self, _: &[OutboxEvent]) -> PushReply {
        PushReply::Network
    }
    async fn pull(&self, _: Option<&str>, _: u32) -> PullReply {
        PullReply::Network
    }
}

/// A server that applies every event it gets, at increasing versions.
#[derive(Default)]
struct Applies {
    version: Cell<u64>,
}

impl Transport for Applies {
    async fn push(&self, events: &[OutboxEvent]) -> PushReply {
        let results = events
            .iter()
            .map(|event| {
                self.version.set(self.version.get() + 1);
                let version = self.version.get();
                PushResult {
                    event_id: event.event_id.to_string(),
                    outcome: Outcome::Applied {
                        version,
                        record: Record {
                            collection: event.collection.clone(),
                            record_id: event.record_id.clone(),
                            version,
                            deleted: false,
                            data: event.payload.clone(),
                        },
                    },
                }
            })
            .collect();
        PushReply::Answer(PushResponse { results })
    }
    async fn pull(&self, _: Option<&str>, _: u32) -> PullReply {
        PullReply::Network
    }
}

#[wasm_bindgen_test]
async fn an_offline_attempt_on_a_hundred_event_batch_is_one_transaction() {
    let (outbox, _) = fresh().await;
    let changes = (0..100).map(|i| put(&format!("r{i}"), "x")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let engine = Engine::new(&outbox, Offline, BrowserEnv, EngineConfig::default());
    let before = outbox.write_transactions();
    let report = engine.drain().await.unwrap();
    assert!(matches!(report.halt, Some(Halt::Wait { .. })), "{report:?}");
    assert_eq!((report.requests, report.retried), (1, 100));
    assert_eq!(
        outbox.write_transactions() - before,
        3,
        "one takes the batch under a lease, one looks for the next batch beside \
         the push (finding none), and one writes every outcome"
    );
    assert_eq!(outbox.count(EventState::Queued).await.unwrap(), 100);
    let waiting = outbox
        .events_in_state(EventState::Queued, 100)
        .await
        .unwrap();
    assert!(waiting
        .iter()
        .all(|e| e.next_attempt_at_ms.is_some() && e.last_error.is_some()));
}

#[wasm_bindgen_test]
async fn a_stopped_batch_puts_its_unsent_requests_back_in_the_same_transaction() {
    let (outbox, _) = fresh().await;
    // Two large events travel in requests of their own; the first fails
    // offline, so the second is never sent and goes back with it.
    let big = "x".repeat(300 * 1024);
    let changes = vec![put("a", &big), put("b", &big), put("c", "small")];
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let engine = Engine::new(&outbox, Offline, BrowserEnv, EngineConfig::default());
    let before = outbox.write_transactions();
    let report = engine.drain().await.unwrap();
    assert_eq!((report.requests, report.retried), (1, 3), "{report:?}");
    assert_eq!(outbox.write_transactions() - before, 2);
    assert_eq!(outbox.count(EventState::Queued).await.unwrap(), 3);
    assert_eq!(outbox.count(EventState::Syncing).await.unwrap(), 0);
}

#[wasm_bindgen_test]
async fn a_synced_photo_leaves_the_outbox_in_the_transaction_that_confirms_it() {
    let (outbox, _) = fresh().await;
    let baseline = outbox.stored_event_bytes().await.unwrap();
    let photo = format!("data:image/jpeg;base64,{}", "A".repeat(10 * 1024 * 1024));
    outbox.enqueue(put("p", &photo), 0).await.unwrap();
    assert!(outbox.stored_event_bytes().await.unwrap() > 10 * 1024 * 1024);
    let engine = Engine::new(
        &outbox,
        Applies::default(),
        BrowserEnv,
        EngineConfig::default(),
    );
    let report = engine.drain().await.unwrap();
    assert_eq!((report.synced, &report.halt), (1, &None), "{report:?}");
    assert_eq!(total(&outbox).await, 0, "no event is left, synced or not");
    let after = outbox.stored_event_bytes().await.unwrap();
    assert!(after <= baseline + 1024, "{after} bytes left in the outbox");
    assert_eq!(title(&outbox, "p").await, Some(Value::from(photo)));
    let record = outbox.record(&key("p")).await.unwrap().unwrap();
    assert_eq!((record.pending, record.base_version), (0, Some(1)));
}

#[wasm_bindgen_test]
async fn with_a_retention_synced_events_stay_until_it_ends() {
    let config = StoreConfig {
        synced_retention_ms: 60_000,
        ..StoreConfig::default()
    };
    let (outbox, _) = fresh_with(config).await;
    outbox.enqueue(put("a", "kept"), 0).await.unwrap();
    let engine = Engine::new(
        &outbox,
        Applies::default(),
        BrowserEnv,
        EngineConfig::default(),
    );
    assert_eq!(engine.drain().await.unwrap().synced, 1);
    assert_eq!(outbox.count(EventState::Synced).await.unwrap(), 1);
    // Past the retention, the next drain's pass removes it.
    let later = js_sys::Date::now() as u64 + 120_000;
    assert_eq!(outbox.purge_synced(later - 60_000).await.unwrap(), 1);
    assert_eq!(total(&outbox).await, 0);
}

#[wasm_bindgen_test]
async fn a_relaxed_outbox_saves_and_syncs_like_a_strict_one() {
    let config = StoreConfig {
        durability: Durability::Relaxed,
        ..StoreConfig::default()
    };
    let (outbox, _) = fresh_with(config).await;
    outbox.enqueue(put("r", "quick"), 0).await.unwrap();
    assert_eq!(title(&outbox, "r").await, Some(Value::from("quick")));
    let engine = Engine::new(
        &outbox,
        Applies::default(),
        BrowserEnv,
        EngineConfig::default(),
    );
    assert_eq!(engine.drain().await.unwrap().synced, 1);
    assert_eq!(total(&outbox).await, 0);
}

#[wasm_bindgen_test]
async fn a_strict_outbox_flushes_the_users_changes_and_not_the_syncs_bookkeeping() {
    let (outbox, _) = fresh().await;
    let changes = (0..10).map(|i| put(&format!("r{i}"), "x")).collect();
    let strict = outbox.strict_transactions();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    assert_eq!(
        outbox.strict_transactions() - strict,
        1,
        "a save is flushed"
    );
    let engine = Engine::new(
        &outbox,
        Applies::default(),
        BrowserEnv,
        EngineConfig::default(),
    );
    let (strict, writes) = (outbox.strict_transactions(), outbox.write_transactions());
    let report = engine.drain().await.unwrap();
    assert_eq!((report.synced, &report.halt), (10, &None), "{report:?}");
    let pulled = Record {
        collection: "notes".into(),
        record_id: "from-server".into(),
        version: 11,
        deleted: false,
        data: Value::Object(Default::default()),
    };
    outbox.apply_pulled(&[pulled], "token-1", 0).await.unwrap();
    assert!(
        outbox.write_transactions() - writes >= 3,
        "taken, settled, pulled"
    );
    assert_eq!(
        outbox.strict_transactions() - strict,
        0,
        "leases, outcomes and pulled pages are what the server tells again: \
         committed relaxed"
    );
    assert_eq!(total(&outbox).await, 0);
    assert_eq!(
        outbox.sync_token().await.unwrap().as_deref(),
        Some("token-1")
    );
}

#[wasm_bindgen_test]
async fn a_drain_round_writes_its_outcomes_and_takes_its_next_batch_in_one_transaction() {
    let (outbox, _) = fresh().await;
    let changes = (0..300).map(|i| put(&format!("r{i}"), "x")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let config = EngineConfig {
        batch_size: 100,
        ..EngineConfig::default()
    };
    let engine = Engine::new(&outbox, Applies::default(), BrowserEnv, config);
    let before = outbox.write_transactions();
    let report = engine.drain().await.unwrap();
    assert_eq!((report.requests, report.synced), (3, 300), "{report:?}");
    assert_eq!(
        outbox.write_transactions() - before,
        5,
        "the first batch taken, the second beside the first push, then one per \
         answer: its outcomes and the next take (the last finding none)"
    );
    assert_eq!(total(&outbox).await, 0);
}

#[wasm_bindgen_test]
async fn a_drained_event_costs_few_requests() {
    let (outbox, _) = fresh().await;
    let changes = (0..100).map(|i| put(&format!("r{i}"), "x")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let engine = Engine::new(
        &outbox,
        Applies::default(),
        BrowserEnv,
        EngineConfig::default(),
    );
    let before = outbox.requests_sent();
    let report = engine.drain().await.unwrap();
    assert_eq!((report.synced, &report.halt), (100, &None), "{report:?}");
    let per_event = (outbox.requests_sent() - before) as f64 / 100.0;
    web_sys::console::log_1(&format!("requests per drained event: {per_event}").into());
    // Taken: nothing per event (one lease for the batch). Settled: its
    // record rewritten; the batch's records read with one range read, its
    // events deleted with one range delete, its lease with one more; the
    // leases read once per transaction.
    assert!(per_event < 1.2, "{per_event} requests per event");
    assert_eq!(total(&outbox).await, 0);
}

/// A server that applies every event after a turn of the event loop and
/// sends them all back on a first pull, counting the store's write
/// transactions opened while each push was on its way.
struct Echoes<'a> {
    outbox: &'a outbox_sync::store::IdbOutbox,
    applies: Applies,
    pushed: std::cell::RefCell<Vec<Record>>,
    opened_meanwhile: Cell<u64>,
}

impl Transport for Echoes<'_> {
    async fn push(&self, events: &[OutboxEvent]) -> PushReply {
        let before = self.outbox.write_transactions();
        // The answer comes after whatever the drain does beside it.
        let turn = js_sys::Promise::resolve(&wasm_bindgen::JsValue::NULL);
        wasm_bindgen_futures::JsFuture::from(turn).await.unwrap();
        let opened = self.outbox.write_transactions() - before;
        self.opened_meanwhile
            .set(self.opened_meanwhile.get() + opened);
        let reply = self.applies.push(events).await;
        if let PushReply::Answer(answer) = &reply {
            for result in &answer.results {
                if let Outcome::Applied { record, .. } = &result.outcome {
                    self.pushed.borrow_mut().push(record.clone());
                }
            }
        }
        reply
    }
    async fn pull(&self, since: Option<&str>, _: u32) -> PullReply {
        let changes = match since {
            None => self.pushed.borrow().clone(),
            Some(_) => Vec::new(),
        };
        PullReply::Answer(outbox_sync_protocol::ChangesResponse {
            changes,
            next_token: "after".into(),
            has_more: false,
        })
    }
}

#[wasm_bindgen_test]
async fn a_sync_of_a_few_changes_leaves_the_outbox_to_saves_while_its_requests_are_out() {
    let (outbox, _) = fresh().await;
    let changes = (0..3).map(|i| put(&format!("r{i}"), "x")).collect();
    outbox.enqueue_batch(changes, 0).await.unwrap();
    let echoes = Echoes {
        outbox: &outbox,
        applies: Applies::default(),
        pushed: Default::default(),
        opened_meanwhile: Cell::new(0),
    };
    let engine = Engine::new(&outbox, echoes, BrowserEnv, EngineConfig::default());
    let drain = engine.drain().await.unwrap();
    assert_eq!((drain.synced, drain.requests), (3, 1), "{drain:?}");
    assert_eq!(
        engine.transport().opened_meanwhile.get(),
        0,
        "a batch shorter than the limit held every event that could go: \
         nothing is taken beside its push (a save would wait for that)"
    );
    // The pull brings back the three changes just confirmed: their records
    // are not read (the page's token is saved alone, on the meta store).
    let before = outbox.requests_sent();
    let pulled = engine.pull_after(&drain.known).await.unwrap();
    let requests = outbox.requests_sent() - before;
    assert_eq!((pulled.pages, pulled.changed), (1, 0), "{pulled:?}");
    assert_eq!(outbox.sync_token().await.unwrap().as_deref(), Some("after"));
    if cfg!(debug_assertions) {
        assert_eq!(requests, 1, "the token read only: no record read, no probe");
    }
    let record = outbox.record(&key("r1")).await.unwrap().unwrap();
    assert_eq!((record.base_version, record.pending), (Some(2), 0));
}

#[wasm_bindgen_test]
async fn a_save_in_progress_commits_before_the_syncs_next_write() {
    let (outbox, _) = fresh().await;
    let order = std::cell::RefCell::new(Vec::new());
    let saving = async {
        outbox.enqueue(put("r1", "mine"), 0).await.unwrap();
        order.borrow_mut().push("saved");
    };
    let syncing = async {
        // The sync's next write (a pulled page's token), asked for while
        // the save is in progress: it goes after the save, not beside it.
        assert_eq!(outbox.saves_in_progress(), 1);
        outbox.apply_pulled(&[], "after", 0).await.unwrap();
        order.borrow_mut().push("synced");
    };
    futures::future::join(saving, syncing).await;
    assert_eq!(*order.borrow(), ["saved", "synced"]);
    assert_eq!(outbox.saves_in_progress(), 0);
    assert_eq!(outbox.sync_token().await.unwrap().as_deref(), Some("after"));
}
