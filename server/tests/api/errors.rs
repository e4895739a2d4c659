//! Bad input gets a clear 4xx error and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

async fn raw_push(server: &TestServer, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let response = server
        .http
        .post(server.url("/v1/push"))
        .bearer_auth(ALICE)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn malformed_json_and_wrong_types_name_the_problem() {
    let server = TestServer::start().await;
    let (status, body) = raw_push(&server, r#"{"events": [}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_json");

    let wrong = json!({"events": [event(&id(), "items", "a", "put", None, json!({})),
        {"event_id": id(), "collection": "items", "record_id": "b", "op": "put", "base_version": "7", "payload": {}}]});
    let (status, body) = raw_push(&server, wrong.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_field");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("events[1].base_version"), "{message}");

    let (status, body) = raw_push(
        &server,
        r#"{"events": [{"event_id": "x", "op": "upsert"}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("events[0]"),
        "{body}"
    );

    let (status, body) = raw_push(&server, r#"{"evts": []}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("events"),
        "{body}"
    );

    let (status, _, body) = server
        .call(
            Method::PUT,
            "/v1/collections/items/records/r",
            Some(ALICE),
            Some(&json!([1])),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invalid_payload");

    assert!(
        server.pull_all(ALICE).await.is_empty(),
        "nothing was applied"
    );
}

#[tokio::test]
async fn oversized_bodies_and_batches_get_413() {
    let server = TestServer::start_with(|mut c| {
        c.limits.max_body_bytes = 64 * 1024;
        c.limits.max_batch = 5;
        c
    })
    .await;
    let big = json!({"events": [event(&id(), "items", "a", "put", None, json!({"blob": "x".repeat(100_000)}))]});
    let (status, body) = raw_push(&server, big.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "body_too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains("65536"));

    let many: Vec<Value> = (0..6)
        .map(|i| event(&id(), "items", &format!("r{i}"), "put", None, json!({})))
        .collect();
    let (status, body) = server.push(ALICE, many).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "batch_too_large");
    assert!(server.pull_all(ALICE).await.is_empty());
}

#[tokio::test]
async fn a_ten_megabyte_payload_fits_the_default_limit() {
    let server = TestServer::start().await;
    let blob = "x".repeat(10 * 1024 * 1024);
    let results = server
        .push_ok(
            ALICE,
            vec![event(
                &id(),
                "items",
                "big",
                "put",
                None,
                json!({"blob": blob}),
            )],
        )
        .await;
    assert_eq!(results[0]["status"], "applied");
    assert_eq!(
        results[0]["record"]["data"]["blob"].as_str().unwrap().len(),
        blob.len()
    );
}

#[tokio::test]
async fn invalid_events_are_rejected_one_by_one_and_change_nothing() {
    let server = TestServer::start().await;
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!([deep]);
    }
    let good = event(&id(), "items", "ok", "put", None, json!({}));
    let results = server
        .push_ok(
            ALICE,
            vec![
                event(&id(), "unknown", "a", "put", None, json!({})),
                event("not-a-uuid", "items", "a", "put", None, json!({})),
                event(&id(), "items", "", "put", None, json!({})),
                event(&id(), "items", "a", "put", None, json!("text")),
                event(&id(), "items", "a", "delete", None, json!({})),
                event(&id(), "items", "a", "put", None, json!({"deep": deep})),
                event(&id(), "bad name", "a", "put", None, json!({})),
                good,
            ],
        )
        .await;
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r["code"].as_str().unwrap_or(r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            "unknown_collection",
            "invalid_event_id",
            "invalid_record_id",
            "invalid_payload",
            "invalid_payload",
            "payload_too_deep",
            "invalid_collection",
            "applied"
        ]
    );
    assert!(results[0]["message"]
        .as_str()
        .unwrap()
        .contains("--collection"));
    let changes = server.pull_all(ALICE).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["record_id"], "ok");

    let (status, _, body) = server
        .call(
            Method::PUT,
            "/v1/collections/unknown/records/a",
            Some(ALICE),
            Some(&json!({})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "unknown_collection");
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let server = TestServer::start().await;
    let (status, _, body) = server
        .call(Method::GET, "/v1/nothing", Some(ALICE), None, &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _, body) = server
        .call(Method::GET, "/v1/push", Some(ALICE), None, &[])
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}
