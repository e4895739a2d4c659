//! No secret reaches the logs: every request of this test is logged at the
//! most detailed level, and the tokens it used must not appear.
//!
//! A test binary of its own: `tracing` caches, per log site, whether anyone
//! listens, and tests running alongside (with no subscriber) would make this
//! test's subscriber miss lines.

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::json;

#[path = "api/common.rs"]
#[allow(dead_code)]
mod common;

use common::*;

/// A log writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn tokens_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // This thread only, and the server runs on it (current_thread runtime).
    let _guard = tracing::subscriber::set_default(subscriber);

    let wrong = "wrong-token-3f9a1c";
    let server = TestServer::start().await;
    put(&server, ALICE, "items", "a", None, json!({"x": 1})).await;
    server.pull(ALICE, None, 10).await;
    server
        .call(Method::GET, "/v1/changes", Some(wrong), None, &[])
        .await;
    server
        .call(Method::GET, &format!("/?token={ALICE}"), None, None, &[])
        .await;
    server
        .call(
            Method::PUT,
            "/v1/collections/items/records/b",
            Some(ALICE),
            Some(&json!({"x": 2})),
            &[("Idempotency-Key", "key-1")],
        )
        .await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("/v1/push") && logs.contains("/v1/changes"),
        "the requests were logged: {logs}"
    );
    for secret in [ALICE, wrong] {
        assert!(!logs.contains(secret), "{secret} is in the logs:\n{logs}");
    }
}
