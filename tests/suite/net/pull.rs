//! Pulls: paging, tombstones, refused tokens and cut-off pages.

use outbox_sync::core::pull::PullReply;
use outbox_sync::core::Operation;
use outbox_sync::net::{pull, push, Endpoint};
use outbox_sync_protocol::{Record, Value};
use wasm_bindgen_test::wasm_bindgen_test;

use super::*;

/// Pulls from `since` until `has_more` is false; returns the pages.
async fn pull_all(
    endpoint: &Endpoint,
    since: Option<String>,
    limit: u32,
) -> (Vec<Vec<Record>>, String) {
    let mut since = since;
    let mut pages = Vec::new();
    loop {
        match pull(endpoint, since.as_deref(), limit).await {
            PullReply::Answer(page) => {
                assert_ne!(since.as_deref(), Some(page.next_token.as_str()));
                pages.push(page.changes);
                since = Some(page.next_token);
                if !page.has_more {
                    return (pages, since.unwrap());
                }
            }
            other => panic!("expected a page, got {other:?}"),
        }
        assert!(pages.len() < 10_000, "has_more never became false");
    }
}

#[wasm_bindgen_test]
async fn pulls_page_through_changes_with_tombstones() {
    let endpoint = endpoint();
    // Everything the shared user has so far, to start after it.
    let (_, head) = pull_all(&endpoint, None, 1000).await;
    let collection = fresh_collection();
    let batch = [
        put(&collection, "a", "kept"),
        put(&collection, "b", "deleted"),
        put(&collection, "c", "kept"),
        event(&collection, "b", Operation::Delete, Value::Null),
    ];
    for result in results(push(&endpoint, &batch).await).results {
        applied(&result.outcome);
    }
    let (pages, _) = pull_all(&endpoint, Some(head), 2).await;
    assert!(pages.len() >= 2, "two per page: {pages:?}");
    let mine: Vec<Record> = pages
        .into_iter()
        .flatten()
        .filter(|r| r.collection == collection)
        .collect();
    let ids: Vec<&str> = mine.iter().map(|r| r.record_id.as_str()).collect();
    // Each record once, at its latest version, in server order.
    assert_eq!(ids, ["a", "c", "b"]);
    let tombstone = &mine[2];
    assert!(tombstone.deleted);
    assert_eq!(tombstone.data, Value::Null);
    assert!(!mine[0].deleted && !mine[1].deleted);
}

#[wasm_bindgen_test]
async fn a_pull_with_a_wrong_token_is_401() {
    let wrong = Endpoint::new(server()).with_token("not-a-token");
    match pull(&wrong, None, 10).await {
        PullReply::Status {
            status: 401, code, ..
        } => assert_eq!(code.as_deref(), Some("invalid_credentials")),
        other => panic!("expected 401, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn a_garbage_since_is_refused_or_asks_for_a_resync() {
    match pull(&endpoint(), Some("garbage & more"), 10).await {
        PullReply::Status {
            status: 400, code, ..
        } => assert_eq!(code.as_deref(), Some("invalid_token")),
        other => panic!("expected 400, got {other:?}"),
    }
    // Well-formed, but from another database.
    match pull(&endpoint(), Some("another-epoch.5"), 10).await {
        PullReply::Status {
            status: 410, code, ..
        } => {
            assert_eq!(code.as_deref(), Some("resync_required"))
        }
        other => panic!("expected 410, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn a_page_nested_too_deeply_is_malformed_not_a_crash() {
    // `scripts/test.sh` puts a page nested 100,000 arrays deep at
    // `/deep/v1/changes`: decoding it would run off the wasm stack.
    let statics = Endpoint::new(format!("{}/deep", server())).with_token(TOKEN);
    match pull(&statics, None, 10).await {
        PullReply::Malformed(why) => assert!(why.contains("100001 levels deep"), "{why}"),
        other => panic!("expected malformed, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn a_cut_off_page_is_malformed() {
    // `scripts/test.sh` puts cut-off JSON at `/malformed/v1/changes` among
    // the server's static files: a real 200 whose body is not a page.
    let statics = Endpoint::new(format!("{}/malformed", server())).with_token(TOKEN);
    match pull(&statics, None, 10).await {
        PullReply::Malformed(why) => assert!(why.starts_with("not JSON"), "{why}"),
        other => panic!("expected malformed, got {other:?}"),
    }
}
