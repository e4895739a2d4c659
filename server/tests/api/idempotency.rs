//! Each event is applied at most once, whatever the retries.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn the_same_event_twice_is_applied_once() {
    let server = TestServer::start().await;
    let e = event(&id(), "items", "i1", "put", None, json!({"n": 1}));
    let first = server.push_ok(ALICE, vec![e.clone()]).await;
    assert_eq!(first[0]["status"], "applied");
    let second = server.push_ok(ALICE, vec![e.clone()]).await;
    assert_eq!(second[0]["status"], "duplicate");
    assert_eq!(
        second[0]["original"],
        json!({
            "status": "applied",
            "version": first[0]["version"],
            "record": first[0]["record"],
        })
    );
    assert_eq!(server.pull_all(ALICE).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_copies_are_applied_once() {
    let server = TestServer::start().await;
    let base = put(&server, ALICE, "items", "counter", None, json!({"n": 0})).await;
    let e = event(
        &id(),
        "items",
        "counter",
        "patch",
        Some(base),
        json!({"n": 1}),
    );
    let sends = (0..1000).map(|_| server.push_ok(ALICE, vec![e.clone()]));
    let results: Vec<_> = join_all(sends)
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let applied: Vec<_> = results
        .iter()
        .filter(|r| r["status"] == "applied")
        .collect();
    assert_eq!(applied.len(), 1);
    let version = applied[0]["version"].as_u64().unwrap();
    for result in &results {
        if result["status"] == "duplicate" {
            assert_eq!(result["original"]["version"].as_u64(), Some(version));
        } else {
            assert_eq!(result["status"], "applied");
        }
    }
    let changes = server.pull_all(ALICE).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["version"].as_u64(), Some(version));
    assert_eq!(version, base + 1, "one change after the create, no more");
    let trail = server.history(ALICE, "items", "counter").await;
    assert_eq!(trail.len(), 2, "the create and one application: {trail:?}");
    assert_eq!(trail[1]["event_id"], e["event_id"]);
    assert_eq!(trail[1]["version"].as_u64(), Some(version));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_single_record_writes_with_one_key_apply_once() {
    let server = TestServer::start().await;
    let key = id();
    let body = json!({"n": 1});
    let headers = [("Idempotency-Key", key.as_str())];
    let sends = (0..200).map(|_| {
        server.call(
            Method::PATCH,
            "/v1/collections/items/records/r",
            Some(ALICE),
            Some(&body),
            &headers,
        )
    });
    let answers = join_all(sends).await;
    let fresh = answers
        .iter()
        .filter(|(status, headers, _)| {
            *status == StatusCode::OK && !headers.contains_key("idempotent-replayed")
        })
        .count();
    assert_eq!(fresh, 1);
    for (status, headers, body) in &answers {
        match *status {
            StatusCode::OK => assert_eq!(body["version"], answers_version(&answers)),
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "idempotency_key_in_flight");
                assert!(headers.contains_key("retry-after"));
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(server.pull_all(ALICE).await.len(), 1);
}

fn answers_version(
    answers: &[(StatusCode, reqwest::header::HeaderMap, serde_json::Value)],
) -> serde_json::Value {
    answers
        .iter()
        .find(|(s, _, _)| *s == StatusCode::OK)
        .unwrap()
        .2["version"]
        .clone()
}

#[tokio::test]
async fn a_dropped_response_is_answered_on_retry_with_the_stored_outcome() {
    let server = TestServer::start_with(|mut c| {
        c.fault_injection = true;
        c
    })
    .await;
    for mode in ["close", "bad_gateway"] {
        let faults = json!({"drop_next": 1, "drop_mode": mode});
        let (status, _, _) = server
            .call(Method::POST, "/v1/_faults", None, Some(&faults), &[])
            .await;
        assert_eq!(status, StatusCode::OK);
        let e = event(&id(), "items", mode, "put", None, json!({"mode": mode}));
        let lost = server
            .http
            .post(server.url("/v1/push"))
            .bearer_auth(ALICE)
            .json(&json!({"events": [e.clone()]}))
            .send()
            .await;
        match lost {
            Ok(response) if mode == "close" => {
                assert!(response.text().await.is_err(), "body must break")
            }
            Ok(response) => assert_eq!(response.status(), StatusCode::BAD_GATEWAY),
            Err(_) => assert_eq!(mode, "close"),
        }
        let retry = server.push_ok(ALICE, vec![e]).await;
        assert_eq!(retry[0]["status"], "duplicate", "{}", retry[0]);
        assert_eq!(retry[0]["original"]["status"], "applied");
        assert_eq!(retry[0]["original"]["record"]["data"]["mode"], mode);
    }
    assert_eq!(server.pull_all(ALICE).await.len(), 2);
}

#[tokio::test]
async fn a_key_reused_with_another_payload_is_refused() {
    let server = TestServer::start().await;
    let key = id();
    let first = server
        .push_ok(
            ALICE,
            vec![event(
                &key,
                "items",
                "i",
                "put",
                None,
                json!({"v": "first"}),
            )],
        )
        .await;
    assert_eq!(first[0]["status"], "applied");
    let reused = server
        .push_ok(
            ALICE,
            vec![event(
                &key,
                "items",
                "i",
                "put",
                None,
                json!({"v": "second"}),
            )],
        )
        .await;
    assert_eq!(reused[0]["status"], "rejected");
    assert_eq!(reused[0]["code"], "idempotency_key_reused");

    let path = "/v1/collections/items/records/j";
    let rest_key = [("Idempotency-Key", "rest-key-1")];
    let (status, _, _) = server
        .call(
            Method::PUT,
            path,
            Some(ALICE),
            Some(&json!({"v": 1})),
            &rest_key,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, body) = server
        .call(
            Method::PUT,
            path,
            Some(ALICE),
            Some(&json!({"v": 1})),
            &rest_key,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(body["data"]["v"], 1.0);
    let (status, _, body) = server
        .call(
            Method::PUT,
            path,
            Some(ALICE),
            Some(&json!({"v": 2})),
            &rest_key,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "idempotency_key_reused");

    let changes = server.pull_all(ALICE).await;
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0]["data"]["v"], "first");
    assert_eq!(changes[1]["data"]["v"], 1.0);
}

#[tokio::test]
async fn an_event_id_in_another_case_is_the_same_key() {
    let server = TestServer::start().await;
    let lower = "abcdef01-2345-4789-abcd-0123456789ab";
    let upper = "ABCDEF01-2345-4789-ABCD-0123456789AB";
    let first = server
        .push_ok(
            ALICE,
            vec![event(lower, "items", "c1", "put", None, json!({"n": 1}))],
        )
        .await;
    assert_eq!(first[0]["status"], "applied");
    let again = server
        .push_ok(
            ALICE,
            vec![event(upper, "items", "c1", "put", None, json!({"n": 1}))],
        )
        .await;
    assert_eq!(again[0]["status"], "duplicate", "{}", again[0]);
    assert_eq!(
        again[0]["event_id"], upper,
        "the result names the id as sent"
    );
    let other = server
        .push_ok(
            ALICE,
            vec![event(upper, "items", "c1", "put", None, json!({"n": 2}))],
        )
        .await;
    assert_eq!(other[0]["code"], "idempotency_key_reused", "{}", other[0]);
    // The single-record form's Idempotency-Key: a UUID in any case is one key.
    let mixed = "0190A1B2-3C4D-7E5F-8A9B-0C1D2E3F4A5B";
    let (status, _, _) = server
        .call(
            Method::PUT,
            "/v1/collections/items/records/c2",
            Some(ALICE),
            Some(&json!({"n": 3})),
            &[("Idempotency-Key", &mixed.to_lowercase())],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, _) = server
        .call(
            Method::PUT,
            "/v1/collections/items/records/c2",
            Some(ALICE),
            Some(&json!({"n": 3})),
            &[("Idempotency-Key", mixed)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("idempotent-replayed"), "{headers:?}");
    assert_eq!(server.pull_all(ALICE).await.len(), 2);
}
