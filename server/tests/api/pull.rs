//! Pulling changes: order, pages, tombstones, horizons and tokens.

use std::collections::BTreeMap;
use std::time::Duration;

use outbox_sync_server::Retention;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

/// Follows pages of `limit` from `since`; returns the pages.
async fn pages(server: &TestServer, since: Option<String>, limit: usize) -> Vec<Value> {
    let mut since = since;
    let mut pages = Vec::new();
    loop {
        let (status, page) = server.pull(ALICE, since.as_deref(), limit).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        since = Some(page["next_token"].as_str().unwrap().to_owned());
        let more = page["has_more"].as_bool().unwrap();
        pages.push(page);
        if !more {
            return pages;
        }
    }
}

#[tokio::test]
async fn pages_are_deterministic_and_complete_with_tombstones() {
    let server = TestServer::start().await;
    let mut events = Vec::new();
    for i in 0..25 {
        events.push(event(
            &id(),
            "items",
            &format!("r{i:02}"),
            "put",
            None,
            json!({"i": i}),
        ));
    }
    for i in (0..25).step_by(3) {
        events.push(event(
            &id(),
            "items",
            &format!("r{i:02}"),
            "patch",
            None,
            json!({"edited": true}),
        ));
    }
    for i in (0..25).step_by(5) {
        events.push(event(
            &id(),
            "items",
            &format!("r{i:02}"),
            "delete",
            None,
            Value::Null,
        ));
    }
    let results = server.push_ok(ALICE, events).await;
    assert!(results.iter().all(|r| r["status"] == "applied"));

    let first = pages(&server, None, 7).await;
    let again = pages(&server, None, 7).await;
    assert_eq!(first, again, "the same tokens give the same pages");
    assert_eq!(first.len(), 4);

    let changes: Vec<&Value> = first
        .iter()
        .flat_map(|p| p["changes"].as_array().unwrap())
        .collect();
    assert_eq!(changes.len(), 25, "each record once, at its latest version");
    let versions: Vec<u64> = changes
        .iter()
        .map(|c| c["version"].as_u64().unwrap())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "server order");
    let by_id: BTreeMap<&str, &Value> = changes
        .iter()
        .map(|c| (c["record_id"].as_str().unwrap(), *c))
        .collect();
    for i in 0..25 {
        let change = by_id[format!("r{i:02}").as_str()];
        if i % 5 == 0 {
            assert_eq!(change["deleted"], true);
            assert_eq!(change["data"], Value::Null);
        } else {
            assert_eq!(change["deleted"], false);
            assert_eq!(change["data"]["i"], i as f64);
            assert_eq!(change["data"].get("edited").is_some(), i % 3 == 0);
        }
    }

    // Resuming from a middle token gives exactly the rest.
    let middle = first[1]["next_token"].as_str().unwrap().to_owned();
    let rest = pages(&server, Some(middle), 100).await;
    assert_eq!(rest[0]["changes"].as_array().unwrap().len(), 25 - 14);

    // An up-to-date token gives nothing and keeps its place.
    let last = first.last().unwrap()["next_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, empty) = server.pull(ALICE, Some(&last), 7).await;
    assert_eq!(empty["changes"], json!([]));
    assert_eq!(empty["next_token"], last.as_str());
    assert_eq!(empty["has_more"], false);
}

#[tokio::test]
async fn a_record_changed_again_moves_to_its_new_position() {
    let server = TestServer::start().await;
    put(&server, ALICE, "items", "a", None, json!({})).await;
    put(&server, ALICE, "items", "b", None, json!({})).await;
    let (_, page) = server.pull(ALICE, None, 1).await;
    let token = page["next_token"].as_str().unwrap().to_owned();
    put(&server, ALICE, "items", "a", None, json!({"again": true})).await;
    let (_, rest) = server.pull(ALICE, Some(&token), 10).await;
    let ids: Vec<&str> = rest["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["record_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b", "a"]);
}

#[tokio::test]
async fn tokens_older_than_the_tombstone_horizon_get_410() {
    let server = TestServer::start().await;
    put(&server, ALICE, "items", "keep", None, json!({})).await;
    put(&server, ALICE, "items", "gone", None, json!({})).await;
    let (_, page) = server.pull(ALICE, None, 100).await;
    let before = page["next_token"].as_str().unwrap().to_owned();
    let results = server
        .push_ok(
            ALICE,
            vec![event(&id(), "items", "gone", "delete", None, Value::Null)],
        )
        .await;
    assert_eq!(results[0]["status"], "applied");
    let (_, page) = server.pull(ALICE, Some(&before), 100).await;
    assert_eq!(page["changes"][0]["deleted"], true);
    let after = page["next_token"].as_str().unwrap().to_owned();

    // Bob's data is untouched by Alice's horizon.
    put(&server, BOB, "items", "b", None, json!({})).await;
    let (_, bob_page) = server.pull(BOB, None, 100).await;
    let bob_token = bob_page["next_token"].as_str().unwrap().to_owned();

    let retention = Retention {
        keys: Duration::from_secs(3600),
        tombstones: Duration::ZERO,
        interval: Duration::from_secs(3600),
        ..Retention::default()
    };
    let expired = server.expire(retention).await;
    assert_eq!(expired.tombstones, 1);

    let (status, body) = server.pull(ALICE, Some(&before), 100).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(body["error"]["code"], "resync_required");
    let (status, page) = server.pull(ALICE, Some(&after), 100).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a token past the horizon still works"
    );
    assert_eq!(page["changes"], json!([]));
    let (status, page) = server.pull(ALICE, None, 100).await;
    assert_eq!(status, StatusCode::OK, "a full resync always works");
    assert_eq!(page["changes"].as_array().unwrap().len(), 1);
    let (status, _) = server.pull(BOB, Some(&bob_token), 100).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn foreign_and_malformed_tokens_are_refused() {
    let server = TestServer::start().await;
    let (status, body) = server.pull(ALICE, Some("0000000000000000.5"), 10).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    let (status, body) = server.pull(ALICE, Some("garbage"), 10).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_token");
    let (status, body) = server.pull(ALICE, None, 0).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_limit");
}

#[tokio::test]
async fn expired_keys_are_forgotten() {
    let server = TestServer::start().await;
    let e = event(&id(), "items", "i", "patch", None, json!({"x": 1}));
    assert_eq!(
        server.push_ok(ALICE, vec![e.clone()]).await[0]["status"],
        "applied"
    );
    let retention = Retention {
        keys: Duration::ZERO,
        ..Retention::default()
    };
    let expired = server.expire(retention).await;
    assert_eq!(expired.keys, 1);
    assert_eq!(
        server.push_ok(ALICE, vec![e]).await[0]["status"],
        "applied",
        "the key is gone"
    );
}

/// Pushes `events` (as JSON) as `token` and expects each to apply.
async fn apply_all(server: &TestServer, token: &str, events: Vec<Value>) {
    for result in server.push_ok(token, events).await {
        assert_eq!(result["status"], "applied", "{result}");
    }
}

#[tokio::test]
async fn a_full_resync_after_tombstones_expired_gives_a_usable_token() {
    let server = TestServer::start().await;
    apply_all(
        &server,
        ALICE,
        vec![
            event(&id(), "items", "n1", "put", None, json!({"t": "one"})),
            event(&id(), "items", "n2", "put", None, json!({"t": "two"})),
            event(&id(), "items", "n3", "put", None, json!({"t": "three"})),
            event(&id(), "items", "n2", "delete", None, Value::Null),
        ],
    )
    .await;
    // Bob's only record is deleted, then purged.
    apply_all(
        &server,
        BOB,
        vec![
            event(&id(), "items", "only", "put", None, json!({})),
            event(&id(), "items", "only", "delete", None, Value::Null),
        ],
    )
    .await;
    let retention = Retention {
        tombstones: Duration::ZERO,
        ..Retention::default()
    };
    assert_eq!(server.expire(retention).await.tombstones, 2);

    for limit in [100, 1] {
        let mut since: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let (status, page) = server.pull(ALICE, since.as_deref(), limit).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "limit {limit}, since {since:?}: {page}"
            );
            for change in page["changes"].as_array().unwrap() {
                seen.push(change["record_id"].as_str().unwrap().to_owned());
            }
            since = Some(page["next_token"].as_str().unwrap().to_owned());
            if !page["has_more"].as_bool().unwrap() {
                break;
            }
        }
        assert_eq!(seen, ["n1", "n3"], "limit {limit}");
        let (status, page) = server.pull(ALICE, since.as_deref(), limit).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the resync's last token works: {page}"
        );
        assert_eq!(page["changes"], json!([]));
    }

    // A purge in the middle of a full resync restarts it: a tombstone of a
    // record the client may hold could be gone.
    let (_, first_page) = server.pull(ALICE, None, 1).await;
    assert_eq!(first_page["has_more"], true);
    apply_all(
        &server,
        ALICE,
        vec![event(&id(), "items", "n3", "delete", None, Value::Null)],
    )
    .await;
    let retention = Retention {
        tombstones: Duration::ZERO,
        ..Retention::default()
    };
    assert_eq!(server.expire(retention).await.tombstones, 1);
    let (status, _) = server
        .pull(ALICE, first_page["next_token"].as_str(), 1)
        .await;
    assert_eq!(status, StatusCode::GONE);

    let (status, page) = server.pull(BOB, None, 100).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["changes"], json!([]));
    let token = page["next_token"].as_str().unwrap().to_owned();
    let (status, page) = server.pull(BOB, Some(&token), 100).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // A later change still arrives after that token.
    put(&server, BOB, "items", "later", None, json!({})).await;
    let (_, page) = server.pull(BOB, Some(&token), 100).await;
    assert_eq!(page["changes"][0]["record_id"], "later");
}

#[tokio::test]
async fn a_position_the_server_never_issued_is_an_invalid_token() {
    let server = TestServer::start().await;
    put(&server, ALICE, "items", "a", None, json!({})).await;
    let (_, page) = server.pull(ALICE, None, 100).await;
    let token = page["next_token"].as_str().unwrap().to_owned();
    let (epoch, position) = token.rsplit_once('.').unwrap();
    let position: u64 = position.parse().unwrap();
    for beyond in [position + 1, 999_999, u64::MAX] {
        let (status, body) = server
            .pull(ALICE, Some(&format!("{epoch}.{beyond}")), 100)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{beyond}: {body}");
        assert_eq!(body["error"]["code"], "invalid_token");
    }
    // Bob's own token may be below other users' positions: still fine.
    let (status, page) = server.pull(BOB, None, 100).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.pull(BOB, page["next_token"].as_str(), 100).await;
    assert_eq!(status, StatusCode::OK);
    // Alice's position, issued, stays valid once Bob writes more.
    put(&server, BOB, "items", "b", None, json!({})).await;
    let (status, _) = server.pull(ALICE, Some(&token), 100).await;
    assert_eq!(status, StatusCode::OK);
}
