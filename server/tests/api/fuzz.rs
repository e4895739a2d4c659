//! Property tests of request decoding: pushes, record writes and pulls built
//! from valid and invalid parts, then cut, spliced and garbled. Whatever
//! arrives, the server answers without a 5xx, every error is a JSON body
//! with a code and a message, and a refused request writes nothing.
//!
//! Cases run against one server, each checked against the changes it made
//! (read through the sync token of the previous case).

use std::cell::{Cell, RefCell};

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::runtime::Runtime;

use crate::common::*;

/// Cases per property; `PROPTEST_CASES` raises it for a longer hunt.
fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    })
}

/// One server and the sync token after everything seen so far.
struct Harness {
    runtime: Runtime,
    server: TestServer,
    token: RefCell<Option<String>>,
}

impl Harness {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(TestServer::start());
        Harness {
            runtime,
            server,
            token: RefCell::new(None),
        }
    }

    /// Sends one request as Alice and returns its status and body text.
    fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> (StatusCode, String) {
        self.runtime.block_on(async {
            let mut request = self
                .server
                .http
                .request(method, self.server.url(path))
                .bearer_auth(ALICE)
                .header("content-type", "application/json")
                .body(body);
            for (name, value) in headers {
                request = request.header(name.as_str(), value.as_str());
            }
            let response = request.send().await.expect("the server answers");
            let status = response.status();
            (status, response.text().await.unwrap())
        })
    }

    /// Every change since the previous call, moving the token on.
    fn new_changes(&self) -> Vec<Value> {
        let mut token = self.token.borrow_mut();
        let mut changes = Vec::new();
        loop {
            let (status, page) =
                self.runtime
                    .block_on(self.server.pull(ALICE, token.as_deref(), 1000));
            assert_eq!(status, StatusCode::OK, "{page}");
            changes.extend(page["changes"].as_array().unwrap().iter().cloned());
            *token = Some(page["next_token"].as_str().unwrap().to_owned());
            if !page["has_more"].as_bool().unwrap() {
                return changes;
            }
        }
    }
}

/// Checks one answer: no 5xx, a readable body, and for a refusal no change.
fn check_answer(
    harness: &Harness,
    status: StatusCode,
    text: &str,
) -> Result<Option<Value>, TestCaseError> {
    prop_assert!(
        !status.is_server_error(),
        "a {status} for bad input: {text}"
    );
    let body: Value = serde_json::from_str(text)
        .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text}")))?;
    if status.is_success() {
        return Ok(Some(body));
    }
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    prop_assert!(
        !code.is_empty() && message.len() > 10,
        "an error without a code and a message: {text}"
    );
    let changed = harness.new_changes();
    prop_assert!(
        changed.is_empty(),
        "a refused request ({status} {code}) changed records: {changed:?}"
    );
    Ok(None)
}

/// Values of every JSON kind, valid and not, for any field.
fn any_field() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(1)),
        ".{0,12}".prop_map(Value::from),
        Just(Value::from("x".repeat(300))),
        Just(Value::from("\u{0}\u{7f}\u{202e}")),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field that is valid most of the time, so cases reach deep checks.
fn mostly<T: Strategy<Value = Value> + 'static>(valid: T) -> BoxedStrategy<Value> {
    prop_oneof![20 => valid, 1 => any_field()].boxed()
}

/// A payload nested `depth` arrays deep.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

/// One event, mostly well formed.
fn event() -> impl Strategy<Value = Value> {
    let event_id = mostly(prop_oneof![
        8 => Just(()).prop_map(|_| Value::from(id())),
        1 => Just(Value::from("0190a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b")),
    ]);
    let collection = mostly(
        prop_oneof![
            8 => prop::sample::select(vec!["items", "notes", "tasks"]),
            1 => prop::sample::select(vec!["unknown", "a b", ""]),
        ]
        .prop_map(Value::from),
    );
    let record_id = mostly(prop_oneof![
        8 => "[a-d]{1,2}".prop_map(Value::from),
        1 => Just(Value::from("r\u{0}")),
        1 => Just(Value::from("r".repeat(257))),
    ]);
    let op = mostly(prop::sample::select(vec!["put", "patch", "delete"]).prop_map(Value::from));
    let base_version = mostly(prop_oneof![
        Just(Value::Null),
        (0u64..5).prop_map(Value::from)
    ]);
    let payload = mostly(prop_oneof![
        4 => Just(json!({})),
        4 => Just(json!({"title": "a", "done": false})),
        1 => Just(json!({"deep": nested(40)})),
        2 => Just(json!({"ok": nested(10)})),
        1 => Just(Value::Null),
    ]);
    (
        event_id,
        collection,
        record_id,
        op,
        base_version,
        payload,
        any::<u8>(),
    )
        .prop_map(
            |(event_id, collection, record_id, op, base_version, payload, drop)| {
                let mut event = json!({
                    "event_id": event_id,
                    "collection": collection,
                    "record_id": record_id,
                    "op": op,
                    "base_version": base_version,
                    "payload": payload,
                });
                // Now and then a field is missing altogether.
                if drop < 8 {
                    let names = [
                        "event_id",
                        "collection",
                        "record_id",
                        "op",
                        "base_version",
                        "payload",
                    ];
                    event
                        .as_object_mut()
                        .unwrap()
                        .remove(names[drop as usize % names.len()]);
                }
                event
            },
        )
}

/// How a request body is damaged after it is written.
#[derive(Debug, Clone)]
enum Damage {
    None,
    CutAt(usize),
    Replace(usize, u8),
    Insert(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        6 => Just(Damage::None),
        1 => any::<usize>().prop_map(Damage::CutAt),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Damage::Replace(at, b)),
        1 => (any::<usize>(), prop::sample::select(vec![
            b"{".to_vec(), b"]".to_vec(), b"\"".to_vec(), b",".to_vec(),
            b"\xff\xfe".to_vec(), b"null".to_vec(), b"\\u0000".to_vec(), b"1e999".to_vec(),
        ])).prop_map(|(at, bytes)| Damage::Insert(at, bytes)),
    ]
}

fn apply_damage(mut body: Vec<u8>, damage: &Damage) -> Vec<u8> {
    let at = |i: usize| if body.is_empty() { 0 } else { i % body.len() };
    match damage {
        Damage::None => {}
        Damage::CutAt(i) => body.truncate(at(*i)),
        Damage::Replace(i, b) => {
            if !body.is_empty() {
                let i = at(*i);
                body[i] = *b;
            }
        }
        Damage::Insert(i, bytes) => {
            let i = at(*i);
            body.splice(i..i, bytes.iter().copied());
        }
    }
    body
}

/// A string field of an event given as an object or as an array of fields.
fn field(event: &Value, name: &str, index: usize) -> String {
    let value = match event {
        Value::Array(fields) => fields.get(index).cloned().unwrap_or_default(),
        _ => event[name].clone(),
    };
    value.as_str().unwrap_or_default().to_owned()
}

#[test]
fn pushes_of_any_shape_get_an_answer_and_refusals_write_nothing() {
    let harness = Harness::start();
    let body = prop_oneof![
        8 => prop::collection::vec(event(), 0..4).prop_map(|events| json!({ "events": events })),
        1 => any_field().prop_map(|events| json!({ "events": events })),
        1 => any_field(),
    ];
    // What the cases reached, so the generators are known to reach every check.
    let (refused, applied_total, rejected_total) = (Cell::new(0), Cell::new(0), Cell::new(0));
    runner()
        .run(&(body, damage()), |(body, damage)| {
            let bytes = apply_damage(serde_json::to_vec(&body).unwrap(), &damage);
            let (status, text) = harness.send(Method::POST, "/v1/push", &[], bytes.clone());
            let Some(answer) = check_answer(&harness, status, &text)? else {
                refused.set(refused.get() + 1);
                return Ok(());
            };
            // Accepted: one result per event, and only applied events changed
            // records. What counts is the body as sent: damage can leave it
            // valid with other values. (Like any serde struct, a request or an
            // event may also come as an array of its fields in order.)
            let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
                TestCaseError::fail(format!("accepted a body that is not JSON: {e}"))
            })?;
            let events = match &body {
                Value::Array(fields) => fields.first().cloned().unwrap_or_default(),
                _ => body["events"].clone(),
            };
            let events = events.as_array().cloned().unwrap_or_default();
            let results = answer["results"].as_array().cloned().unwrap_or_default();
            prop_assert_eq!(results.len(), events.len(), "{}", text);
            let mut applied = std::collections::HashSet::new();
            for (result, event) in results.iter().zip(&events) {
                let status = result["status"].as_str().unwrap_or_default();
                prop_assert!(
                    ["applied", "duplicate", "conflict", "rejected"].contains(&status),
                    "unknown result {}",
                    result
                );
                if status == "rejected" {
                    rejected_total.set(rejected_total.get() + 1);
                    prop_assert!(result["message"].as_str().is_some_and(|m| m.len() > 10));
                }
                if status == "applied" {
                    applied_total.set(applied_total.get() + 1);
                    applied.insert((field(event, "collection", 1), field(event, "record_id", 2)));
                }
            }
            for change in harness.new_changes() {
                let key = (
                    field(&change, "collection", 99),
                    field(&change, "record_id", 99),
                );
                prop_assert!(
                    applied.contains(&key),
                    "{:?} changed but was not applied",
                    key
                );
            }
            Ok(())
        })
        .unwrap();
    assert!(
        refused.get() > 10 && applied_total.get() > 10 && rejected_total.get() > 10,
        "the cases reached too little: {} refused requests, {} applied and {} rejected events",
        refused.get(),
        applied_total.get(),
        rejected_total.get()
    );
}

#[test]
fn record_writes_with_any_headers_get_an_answer_and_refusals_write_nothing() {
    let harness = Harness::start();
    let header_value = prop_oneof![
        Just("\"1\"".to_owned()),
        Just("*".to_owned()),
        Just("W/\"1\"".to_owned()),
        Just("\"18446744073709551616\"".to_owned()),
        "[ -~]{0,20}",
        Just("k".repeat(200)),
    ];
    let headers = prop::collection::vec(
        (
            prop::sample::select(vec!["if-match", "idempotency-key", "if-none-match"]),
            header_value,
        ),
        0..3,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect::<Vec<_>>()
    });
    let method = prop::sample::select(vec![
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::GET,
        Method::POST,
    ]);
    let path = (
        prop::sample::select(vec!["items", "tasks", "notes", "nope", "a%20b", "%00"]),
        prop::sample::select(vec!["a", "b", "%00", "a%2Fb", ""]),
    )
        .prop_map(|(c, r)| format!("/v1/collections/{c}/records/{r}"));
    runner()
        .run(
            &(method, path, headers, any_field(), damage()),
            |(method, path, headers, body, damage)| {
                let bytes = apply_damage(serde_json::to_vec(&body).unwrap(), &damage);
                let (status, text) = harness.send(method.clone(), &path, &headers, bytes);
                if check_answer(&harness, status, &text)?.is_some() && method != Method::GET {
                    // A write that succeeded changed at most its own record.
                    let changes = harness.new_changes();
                    prop_assert!(changes.len() <= 1, "{:?}", changes);
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn pulls_with_any_query_get_an_answer() {
    let harness = Harness::start();
    let value = prop_oneof![
        "[ -~]{0,30}",
        Just("-1".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("v1.AAAA.5".to_owned()),
    ];
    let query = prop::collection::vec(
        (prop::sample::select(vec!["since", "limit", "other"]), value),
        0..4,
    );
    runner()
        .run(&query, |pairs| {
            let query: Vec<String> = pairs
                .iter()
                .map(|(name, value)| format!("{name}={}", value.replace(['&', '#', ' '], "")))
                .collect();
            let path = format!("/v1/changes?{}", query.join("&"));
            let (status, text) = harness.send(Method::GET, &path, &[], Vec::new());
            prop_assert!(
                !status.is_server_error(),
                "{} for {}: {}",
                status,
                path,
                text
            );
            let body: Value = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text}")))?;
            if !status.is_success() {
                prop_assert!(body["error"]["code"].is_string(), "{}", text);
                prop_assert!(body["error"]["message"].is_string(), "{}", text);
            }
            Ok(())
        })
        .unwrap();
}
