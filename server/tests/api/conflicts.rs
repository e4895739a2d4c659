//! Conflict policies per collection, and the single-record preconditions.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

async fn one(server: &TestServer, e: Value) -> Value {
    server.push_ok(ALICE, vec![e]).await.remove(0)
}

#[tokio::test]
async fn lww_keeps_the_last_arrival_whatever_the_base() {
    let server = TestServer::start().await;
    let v1 = put(&server, ALICE, "items", "x", None, json!({"title": "v1"})).await;
    let phone = one(
        &server,
        event(
            &id(),
            "items",
            "x",
            "put",
            Some(v1),
            json!({"title": "phone"}),
        ),
    )
    .await;
    assert_eq!(phone["status"], "applied");
    let laptop = one(
        &server,
        event(
            &id(),
            "items",
            "x",
            "put",
            Some(v1),
            json!({"title": "laptop"}),
        ),
    )
    .await;
    assert_eq!(
        laptop["status"], "applied",
        "a stale base does not matter under lww"
    );
    assert_eq!(server.pull_all(ALICE).await[0]["data"]["title"], "laptop");
}

#[tokio::test]
async fn merge_combines_other_fields_and_conflicts_on_the_same_field() {
    let server = TestServer::start().await;
    let v1 = put(
        &server,
        ALICE,
        "notes",
        "n",
        None,
        json!({"title": "t", "body": "b", "tag": "x"}),
    )
    .await;
    let title = one(
        &server,
        event(
            &id(),
            "notes",
            "n",
            "patch",
            Some(v1),
            json!({"title": "phone title"}),
        ),
    )
    .await;
    assert_eq!(title["status"], "applied");

    let body = one(
        &server,
        event(
            &id(),
            "notes",
            "n",
            "patch",
            Some(v1),
            json!({"body": "laptop body", "tag": null}),
        ),
    )
    .await;
    assert_eq!(body["status"], "applied", "{body}");
    assert_eq!(
        body["record"]["data"],
        json!({"title": "phone title", "body": "laptop body"})
    );

    let clash = one(
        &server,
        event(
            &id(),
            "notes",
            "n",
            "patch",
            Some(v1),
            json!({"title": "laptop title", "body": "laptop body"}),
        ),
    )
    .await;
    assert_eq!(clash["status"], "conflict", "{clash}");
    assert_eq!(
        clash["fields"],
        json!(["title"]),
        "the same value on both sides is no conflict"
    );
    assert_eq!(clash["current"]["data"]["title"], "phone title");
    assert_eq!(clash["current"]["version"], body["version"]);
    assert!(clash["message"].as_str().unwrap().contains("title"));

    let rebased = one(
        &server,
        event(
            &id(),
            "notes",
            "n",
            "patch",
            body["version"].as_u64(),
            json!({"title": "laptop title"}),
        ),
    )
    .await;
    assert_eq!(rebased["status"], "applied");
}

#[tokio::test]
async fn strict_needs_the_current_version() {
    let server = TestServer::start().await;
    let v1 = put(&server, ALICE, "tasks", "t", None, json!({"done": false})).await;
    let creating_again = one(
        &server,
        event(&id(), "tasks", "t", "put", None, json!({"done": true})),
    )
    .await;
    assert_eq!(creating_again["status"], "conflict");
    let v2 = one(
        &server,
        event(
            &id(),
            "tasks",
            "t",
            "patch",
            Some(v1),
            json!({"done": true}),
        ),
    )
    .await;
    assert_eq!(v2["status"], "applied");
    let stale = one(
        &server,
        event(&id(), "tasks", "t", "patch", Some(v1), json!({"note": "x"})),
    )
    .await;
    assert_eq!(stale["status"], "conflict");
    assert_eq!(stale["current"]["version"], v2["version"]);
    assert_eq!(stale["fields"], json!([]));
    let deleted = one(
        &server,
        event(
            &id(),
            "tasks",
            "t",
            "delete",
            v2["version"].as_u64(),
            Value::Null,
        ),
    )
    .await;
    assert_eq!(deleted["status"], "applied");
    let patch_tombstone = one(
        &server,
        event(
            &id(),
            "tasks",
            "t",
            "patch",
            deleted["version"].as_u64(),
            json!({"a": 1}),
        ),
    )
    .await;
    assert_eq!(patch_tombstone["status"], "conflict");
    assert_eq!(patch_tombstone["current"]["deleted"], true);
}

#[tokio::test]
async fn if_match_gives_412_with_the_current_record_and_strict_needs_it() {
    let server = TestServer::start().await;
    let path = "/v1/collections/tasks/records/t1";
    let (status, _, body) = server
        .call(Method::PUT, path, Some(ALICE), Some(&json!({"a": 1})), &[])
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(body["error"]["code"], "precondition_required");

    let create = [("If-None-Match", "*")];
    let (status, headers, body) = server
        .call(
            Method::PUT,
            path,
            Some(ALICE),
            Some(&json!({"a": 1})),
            &create,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(tag, format!("\"{}\"", body["version"]));

    let (status, headers, body) = server.call(Method::GET, path, Some(ALICE), None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["etag"].to_str().unwrap(), tag);
    assert_eq!(body["data"], json!({"a": 1.0}));

    let matching = [("If-Match", tag.as_str())];
    let (status, headers, _) = server
        .call(
            Method::PATCH,
            path,
            Some(ALICE),
            Some(&json!({"b": 2})),
            &matching,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_tag = headers["etag"].to_str().unwrap().to_owned();

    let (status, headers, body) = server
        .call(
            Method::PATCH,
            path,
            Some(ALICE),
            Some(&json!({"c": 3})),
            &matching,
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(body["error"]["code"], "version_mismatch");
    assert_eq!(body["current"]["data"], json!({"a": 1.0, "b": 2.0}));
    assert_eq!(headers["etag"].to_str().unwrap(), new_tag);
    assert!(!headers.contains_key("idempotent-replayed"));

    // The same refused write again with its key: the stored 412, marked replayed.
    let keyed: Vec<(&str, &str)> = matching
        .iter()
        .copied()
        .chain([("Idempotency-Key", "refused-once")])
        .collect();
    for replay in [false, true] {
        let (status, headers, body) = server
            .call(
                Method::PATCH,
                path,
                Some(ALICE),
                Some(&json!({"c": 3})),
                &keyed,
            )
            .await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(body["current"]["data"], json!({"a": 1.0, "b": 2.0}));
        assert_eq!(headers.contains_key("idempotent-replayed"), replay);
    }

    let (status, _, body) = server
        .call(
            Method::PUT,
            path,
            Some(ALICE),
            Some(&json!({})),
            &[("If-Match", "soon")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_if_match");

    let current = [("If-Match", new_tag.as_str())];
    let (status, _, body) = server
        .call(Method::DELETE, path, Some(ALICE), None, &current)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["deleted"], true);
    let (status, _, body) = server.call(Method::GET, path, Some(ALICE), None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "record_deleted");
    assert_eq!(body["current"]["deleted"], true);
}

#[tokio::test]
async fn lww_and_merge_collections_accept_unconditional_writes() {
    let server = TestServer::start().await;
    for collection in ["items", "notes"] {
        let path = format!("/v1/collections/{collection}/records/r%2F1");
        let (status, _, body) = server
            .call(Method::PUT, &path, Some(ALICE), Some(&json!({"a": 1})), &[])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["record_id"], "r/1", "ids are percent-decoded");
        let (status, _, body) = server
            .call(
                Method::PATCH,
                &path,
                Some(ALICE),
                Some(&json!({"a": null})),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"], json!({}));
    }
    let (status, _, body) = server
        .call(
            Method::GET,
            "/v1/collections/items/records/none",
            Some(ALICE),
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "record_not_found");
}

#[tokio::test]
async fn one_push_applies_in_order_and_a_refused_event_does_not_stop_the_rest() {
    let server = TestServer::start().await;
    let v1 = put(&server, ALICE, "tasks", "t1", None, json!({"n": 1})).await;
    let repeated = id();
    let results = server
        .push_ok(
            ALICE,
            vec![
                event(&id(), "items", "a", "put", None, json!({"n": 1})),
                // Strict, stale: a conflict.
                event(&id(), "tasks", "t1", "patch", Some(v1 + 5), json!({"n": 2})),
                // The same record again in the same push sees the first.
                event(&repeated, "items", "a", "patch", None, json!({"m": 2})),
                event(&id(), "nowhere", "x", "put", None, json!({})),
                // The same event id again in the same push: a duplicate.
                event(&repeated, "items", "a", "patch", None, json!({"m": 2})),
                event(&id(), "tasks", "t1", "patch", Some(v1), json!({"n": 3})),
            ],
        )
        .await;
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "applied",
            "conflict",
            "applied",
            "rejected",
            "duplicate",
            "applied"
        ]
    );
    assert_eq!(results[2]["record"]["data"], json!({"n": 1.0, "m": 2.0}));
    let versions: Vec<u64> = [0, 2, 5]
        .iter()
        .map(|i| results[*i]["version"].as_u64().unwrap())
        .collect();
    assert_eq!(
        versions,
        [v1 + 1, v1 + 2, v1 + 3],
        "one version after another"
    );
    assert_eq!(results[4]["original"]["version"], results[2]["version"]);
}
