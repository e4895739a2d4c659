//! Users never see or replay each other's data.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn records_changes_and_keys_are_per_user() {
    let server = TestServer::start().await;
    let key = id();
    let alice = server
        .push_ok(
            ALICE,
            vec![event(
                &key,
                "items",
                "shared-id",
                "put",
                None,
                json!({"owner": "alice"}),
            )],
        )
        .await;
    assert_eq!(alice[0]["status"], "applied");

    let path = "/v1/collections/items/records/shared-id";
    let (status, _, _) = server.call(Method::GET, path, Some(BOB), None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(server.pull_all(BOB).await.is_empty());

    // Bob's event with Alice's key is his own: neither a duplicate of hers
    // nor a key reuse.
    let bob = server
        .push_ok(
            BOB,
            vec![event(
                &key,
                "items",
                "shared-id",
                "put",
                None,
                json!({"owner": "bob"}),
            )],
        )
        .await;
    assert_eq!(bob[0]["status"], "applied", "{}", bob[0]);
    let (_, _, body) = server.call(Method::GET, path, Some(ALICE), None, &[]).await;
    assert_eq!(body["data"]["owner"], "alice");
    let (_, _, body) = server.call(Method::GET, path, Some(BOB), None, &[]).await;
    assert_eq!(body["data"]["owner"], "bob");
    assert_eq!(server.pull_all(ALICE).await.len(), 1);
    assert_eq!(server.pull_all(BOB).await.len(), 1);

    // Alice's token from Bob's pull cannot reveal her changes either.
    let (_, page) = server.pull(BOB, None, 10).await;
    let (status, page_again) = server.pull(ALICE, page["next_token"].as_str(), 10).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page_again["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["data"]["owner"] == "alice"));
}

#[tokio::test]
async fn missing_or_wrong_credentials_get_401() {
    let server = TestServer::start().await;
    for (token, code) in [
        (None, "missing_credentials"),
        (Some("nope"), "invalid_credentials"),
    ] {
        for (method, path) in [
            (Method::POST, "/v1/push"),
            (Method::GET, "/v1/changes"),
            (Method::GET, "/v1/collections/items/records/x"),
        ] {
            let (status, headers, body) = server
                .call(method, path, token, Some(&json!({"events": []})), &[])
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(body["error"]["code"], code);
            assert_eq!(headers["www-authenticate"], "Bearer");
        }
    }
}
