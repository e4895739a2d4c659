//! The HTTP adapter against a real `outbox-sync-server`.
//!
//! `scripts/test.sh` starts the server (token `test-token` for user
//! `tester`, `--any-collection`, `net_strict=strict`, `net_merge=merge`,
//! fault injection on, a `www/malformed/v1/changes` file holding cut-off
//! JSON) and bakes its URL into the build as `OUTBOX_SYNC_TEST_SERVER`.
//! The page and the worker run against the same server, one after the
//! other, so every test writes to records no other test (or run) uses, and
//! every fault test resets the faults it set. Tests run one at a time
//! (wasm-bindgen-test's concurrency is 1), which fault injection needs: its
//! settings are global.

mod blobs;
mod engine;
mod faults;
mod pull;
mod push;

use gloo_net::http::Request;
use outbox_sync::core::drain::PushReply;
use outbox_sync::core::{NewEvent, Operation, OutboxEvent};
use outbox_sync::net::Endpoint;
use outbox_sync_protocol::{Map, Outcome, PushResponse, Record, Value};
use uuid::Uuid;

const TOKEN: &str = "test-token";

/// The test server's URL; fails the test when the build did not get one.
fn server() -> &'static str {
    // A runtime failure, not `env!`: the native and clippy builds of the
    // suite must compile without a server.
    match option_env!("OUTBOX_SYNC_TEST_SERVER") {
        Some(url) => url,
        None => panic!(
            "OUTBOX_SYNC_TEST_SERVER was not set when the wasm tests were built: run \
             scripts/test.sh (npm test), which starts outbox-sync-server and sets it, or start \
             the server yourself and build with OUTBOX_SYNC_TEST_SERVER=http://127.0.0.1:PORT"
        ),
    }
}

fn endpoint() -> Endpoint {
    let mut endpoint = Endpoint::new(server()).with_token(TOKEN);
    endpoint.debug = true;
    endpoint
}

/// A collection name (any-collection, last write wins) no other test uses.
fn fresh_collection() -> String {
    format!("net-{}", Uuid::now_v7().simple())
}

fn event(collection: &str, record: &str, op: Operation, payload: Value) -> OutboxEvent {
    let change = NewEvent {
        collection: collection.into(),
        record_id: record.into(),
        op,
        payload,
    };
    OutboxEvent::queued(change, Uuid::now_v7(), None, 0)
}

fn fields(pairs: &[(&str, f64)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect::<Map>(),
    )
}

fn put(collection: &str, record: &str, title: &str) -> OutboxEvent {
    let payload = Map::from([("title".to_owned(), Value::from(title))]);
    event(collection, record, Operation::Put, Value::Object(payload))
}

fn with_base(mut event: OutboxEvent, base_version: u64) -> OutboxEvent {
    event.base_version = Some(base_version);
    event
}

fn results(reply: PushReply) -> PushResponse {
    match reply {
        PushReply::Answer(response) => response,
        other => panic!("expected results, got {other:?}"),
    }
}

/// The record an `applied` outcome left.
fn applied(outcome: &Outcome) -> (u64, Record) {
    match outcome {
        Outcome::Applied { version, record } => (*version, record.clone()),
        other => panic!("expected applied, got {other:?}"),
    }
}

/// Replaces the server's fault settings with `settings` (JSON).
async fn set_faults(settings: &str) {
    let url = format!("{}/v1/_faults", server());
    let response = Request::post(&url)
        .header("Content-Type", "application/json")
        .body(settings)
        .unwrap()
        .send()
        .await
        .expect("the fault endpoint answers");
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn reset_faults() {
    let url = format!("{}/v1/_faults", server());
    let response = Request::delete(&url).send().await.expect("faults reset");
    assert_eq!(response.status(), 200);
}

/// One entry of the server's audit trail, as its history endpoint answers.
#[derive(Debug, Clone, serde::Deserialize)]
struct AuditEntry {
    event_id: Option<String>,
    outcome: String,
    version: Option<u64>,
}

#[derive(serde::Deserialize)]
struct HistoryPage {
    entries: Vec<AuditEntry>,
    next_after: u64,
    has_more: bool,
}

/// The server's audit trail of one record (`GET /v1/records/.../history`),
/// oldest first: every time the server really applied (or refused) an event.
async fn audit_trail(collection: &str, record: &str) -> Vec<AuditEntry> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let url = format!(
            "{}/v1/records/{collection}/{record}/history?after={after}&limit=1000",
            server()
        );
        let response = Request::get(&url)
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send()
            .await
            .expect("the history endpoint answers");
        let text = response.text().await.unwrap();
        assert_eq!(response.status(), 200, "{text}");
        let js = js_sys::JSON::parse(&text).expect("history is JSON");
        let page: HistoryPage = serde_wasm_bindgen::from_value(js).expect("a history page");
        all.extend(page.entries);
        after = page.next_after;
        if !page.has_more {
            return all;
        }
    }
}

/// Checks the server's audit trail of `records`: each event of `sent` was
/// applied exactly once (none missing, none twice), and no other event was.
/// Returns the version each event was applied as.
async fn assert_applied_once(
    collection: &str,
    records: &[&str],
    sent: &[Uuid],
) -> std::collections::HashMap<String, u64> {
    let mut applied: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for record in records {
        for entry in audit_trail(collection, record).await {
            if entry.outcome == "applied" {
                let id = entry.event_id.clone().unwrap_or_default();
                applied
                    .entry(id)
                    .or_default()
                    .push(entry.version.unwrap_or(0));
            }
        }
    }
    let mut once = std::collections::HashMap::new();
    for id in sent {
        let id = id.to_string();
        match applied.get(&id).map(Vec::as_slice) {
            Some([version]) => {
                once.insert(id, *version);
            }
            None => panic!("event {id} was never applied by the server (lost)"),
            Some(versions) => panic!(
                "event {id} was applied {} times: {versions:?}",
                versions.len()
            ),
        }
    }
    let others: Vec<&String> = applied
        .keys()
        .filter(|id| !once.contains_key(*id))
        .collect();
    assert!(
        others.is_empty(),
        "events applied that were never sent: {others:?}"
    );
    once
}
