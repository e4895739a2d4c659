//! Starting a server per test, and small HTTP helpers.

use outbox_sync_server::{serve, Collections, Config, Policy, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

/// Alice's token.
pub const ALICE: &str = "token-alice";
/// Bob's token.
pub const BOB: &str = "token-bob";

/// A running server, its HTTP client and its temporary data directory.
pub struct TestServer {
    pub server: Server,
    pub http: reqwest::Client,
    _dir: TempDir,
}

/// The test collections: `notes` merge, `tasks` strict, `items` lww.
pub fn config(dir: &TempDir) -> Config {
    let mut config = Config::new(dir.path().join("data").join("test.sqlite3"))
        .token(ALICE, "alice")
        .token(BOB, "bob");
    config.durable_commits = false;
    config.collections = Collections::default()
        .with("notes", Policy::Merge)
        .with("tasks", Policy::Strict)
        .with("items", Policy::Lww);
    config
}

impl TestServer {
    /// Starts a server with the test configuration.
    pub async fn start() -> Self {
        Self::start_with(|c| c).await
    }

    /// Starts a server with the test configuration changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(Config) -> Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(adjust(config(&dir))).await.expect("server starts");
        TestServer {
            server,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// Sends a request with an optional token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    /// Pushes events as `token`; returns the status and body.
    pub async fn push(&self, token: &str, events: Vec<Value>) -> (StatusCode, Value) {
        let (status, _, body) = self
            .call(
                Method::POST,
                "/v1/push",
                Some(token),
                Some(&json!({ "events": events })),
                &[],
            )
            .await;
        (status, body)
    }

    /// Pushes events that must all get a result; returns the results.
    pub async fn push_ok(&self, token: &str, events: Vec<Value>) -> Vec<Value> {
        let (status, body) = self.push(token, events).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["results"].as_array().unwrap().clone()
    }

    /// One page of changes.
    pub async fn pull(
        &self,
        token: &str,
        since: Option<&str>,
        limit: usize,
    ) -> (StatusCode, Value) {
        let mut path = format!("/v1/changes?limit={limit}");
        if let Some(since) = since {
            path.push_str(&format!("&since={since}"));
        }
        let (status, _, body) = self.call(Method::GET, &path, Some(token), None, &[]).await;
        (status, body)
    }

    /// Every change from the start, following `has_more`.
    pub async fn pull_all(&self, token: &str) -> Vec<Value> {
        let mut since: Option<String> = None;
        let mut all = Vec::new();
        loop {
            let (status, page) = self.pull(token, since.as_deref(), 1000).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            all.extend(page["changes"].as_array().unwrap().iter().cloned());
            since = Some(page["next_token"].as_str().unwrap().to_owned());
            if !page["has_more"].as_bool().unwrap() {
                return all;
            }
        }
    }
}

/// A fresh event id.
pub fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An event as JSON.
pub fn event(
    event_id: &str,
    collection: &str,
    record_id: &str,
    op: &str,
    base: Option<u64>,
    payload: Value,
) -> Value {
    json!({
        "event_id": event_id,
        "collection": collection,
        "record_id": record_id,
        "op": op,
        "base_version": base,
        "payload": payload,
    })
}

/// Puts a record with a new event; returns its version.
pub async fn put(
    server: &TestServer,
    token: &str,
    collection: &str,
    record_id: &str,
    base: Option<u64>,
    data: Value,
) -> u64 {
    let results = server
        .push_ok(
            token,
            vec![event(&id(), collection, record_id, "put", base, data)],
        )
        .await;
    assert_eq!(results[0]["status"], "applied", "{}", results[0]);
    results[0]["version"].as_u64().unwrap()
}
