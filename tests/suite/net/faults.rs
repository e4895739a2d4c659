//! Faults injected by the server (`/v1/_faults`), timeouts and no server at
//! all. The fault settings are global: each test sets all of them and resets
//! them before it asserts anything.

use outbox_sync::core::drain::PushReply;
use outbox_sync::core::pull::PullReply;
use outbox_sync::net::{pull, push, Endpoint};
use outbox_sync_protocol::Outcome;
use wasm_bindgen_test::wasm_bindgen_test;

use super::*;

#[wasm_bindgen_test]
async fn an_injected_503_carries_a_readable_retry_after() {
    set_faults(r#"{"fail_next": 1, "retry_after_s": 7}"#).await;
    let batch = [put(&fresh_collection(), "a", "x")];
    let reply = push(&endpoint(), &batch).await;
    let retry = push(&endpoint(), &batch).await;
    reset_faults().await;
    match reply {
        PushReply::Status {
            status: 503,
            retry_after_ms,
            code,
            ..
        } => {
            // The CORS answer must expose Retry-After, or scripts read `None`.
            assert_eq!(retry_after_ms, Some(7000));
            assert_eq!(code.as_deref(), Some("injected_failure"));
        }
        other => panic!("expected 503, got {other:?}"),
    }
    // Nothing was applied the first time.
    applied(&results(retry).results[0].outcome);
}

#[wasm_bindgen_test]
async fn an_injected_429_carries_retry_after() {
    set_faults(r#"{"throttle_next": 1, "retry_after_s": 2}"#).await;
    let reply = push(&endpoint(), &[put(&fresh_collection(), "a", "x")]).await;
    reset_faults().await;
    match reply {
        PushReply::Status {
            status: 429,
            retry_after_ms,
            code,
            ..
        } => {
            assert_eq!(retry_after_ms, Some(2000));
            assert_eq!(code.as_deref(), Some("rate_limited"));
        }
        other => panic!("expected 429, got {other:?}"),
    }
}

/// The version an original outcome of a duplicate applied.
fn duplicate_of_applied(reply: PushReply) -> u64 {
    match &results(reply).results[0].outcome {
        Outcome::Duplicate { original } => applied(original).0,
        other => panic!("expected duplicate (applied once), got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn a_closed_connection_after_commit_is_no_answer_and_the_retry_a_duplicate() {
    set_faults(r#"{"drop_next": 1, "drop_mode": "close"}"#).await;
    let batch = [put(&fresh_collection(), "a", "x")];
    let lost = push(&endpoint(), &batch).await;
    let retry = push(&endpoint(), &batch).await;
    reset_faults().await;
    let version = duplicate_of_applied(retry);
    // Chromium itself resends a request whose reused keep-alive connection
    // closed before any answer; the server then answers `duplicate`. On a
    // fresh connection the fetch fails instead.
    if lost != PushReply::Unreachable {
        assert_eq!(duplicate_of_applied(lost), version, "applied once");
    }
}

#[wasm_bindgen_test]
async fn a_502_after_commit_is_a_status_and_the_retry_a_duplicate() {
    set_faults(r#"{"drop_next": 1, "drop_mode": "bad_gateway"}"#).await;
    let batch = [put(&fresh_collection(), "a", "x")];
    let lost = push(&endpoint(), &batch).await;
    let retry = push(&endpoint(), &batch).await;
    reset_faults().await;
    match lost {
        PushReply::Status {
            status: 502,
            retry_after_ms: None,
            code,
            ..
        } => assert_eq!(code.as_deref(), Some("injected_drop")),
        other => panic!("expected 502, got {other:?}"),
    }
    duplicate_of_applied(retry);
}

#[wasm_bindgen_test]
async fn latency_beyond_the_timeout_is_a_timeout() {
    set_faults(r#"{"latency_ms": 2000}"#).await;
    let slow = endpoint().with_timeout_ms(300);
    let pushed = push(&slow, &[put(&fresh_collection(), "a", "x")]).await;
    let pulled = pull(&slow, None, 1).await;
    reset_faults().await;
    assert_eq!(pushed, PushReply::Timeout);
    assert_eq!(pulled, PullReply::Timeout);
}

#[wasm_bindgen_test]
async fn an_unreachable_server_while_online_is_told_apart_from_no_internet() {
    // Port 2 has no listener here, and browsers do not block it. The browser
    // is online, so the server is what cannot be reached.
    let nowhere = Endpoint::new("http://127.0.0.1:2").with_token(TOKEN);
    assert_eq!(
        push(&nowhere, &[put(&fresh_collection(), "a", "x")]).await,
        PushReply::Unreachable
    );
    assert_eq!(pull(&nowhere, None, 1).await, PullReply::Unreachable);
}

#[wasm_bindgen_test]
async fn an_error_without_a_json_body_has_no_code() {
    // A static path of the server: it answers POST with a bare 405.
    let statics = Endpoint::new(format!("{}/malformed", server())).with_token(TOKEN);
    match push(&statics, &[put(&fresh_collection(), "a", "x")]).await {
        PushReply::Status {
            status: 405,
            code: None,
            message: None,
            ..
        } => {}
        other => panic!("expected a bare 405, got {other:?}"),
    }
}
