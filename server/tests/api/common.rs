//! Starting a server per test, and small HTTP helpers.
//!
//! With `OUTBOX_SYNC_TEST_DATABASE_URL` set (scripts/postgres.sh sets it),
//! every test server uses PostgreSQL instead of SQLite, each in a fresh
//! schema of that database, dropped afterwards.

use std::sync::Arc;

use outbox_sync_server::maintenance::run_once;
use outbox_sync_server::store::Expired;
use outbox_sync_server::{serve, Collections, Config, Database, Policy, Retention, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

/// Alice's token.
pub const ALICE: &str = "token-alice";
/// Bob's token.
pub const BOB: &str = "token-bob";

/// The variable naming the PostgreSQL database the tests use.
pub const POSTGRES_ENV: &str = "OUTBOX_SYNC_TEST_DATABASE_URL";

/// The test database's URL, when the tests run on PostgreSQL.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A fresh schema in the test database; dropped with its last handle.
pub struct Schema {
    base: String,
    name: String,
}

impl Schema {
    /// Creates a schema with a random name in the database at `base`.
    pub async fn create(base: &str) -> Arc<Schema> {
        assert!(
            base.starts_with("postgres://") || base.starts_with("postgresql://"),
            "{POSTGRES_ENV} must be a postgres:// URL, e.g. postgres://postgres@127.0.0.1:5432/outbox_test"
        );
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let (url, sql) = (base.to_owned(), format!("CREATE SCHEMA {name}"));
        tokio::task::spawn_blocking(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap_or_else(|e| {
                panic!("cannot reach {POSTGRES_ENV}={url} ({e}); scripts/postgres.sh starts a throwaway cluster and sets it")
            });
            client.batch_execute(&sql).expect("create a test schema");
        })
        .await
        .unwrap();
        Arc::new(Schema {
            base: base.to_owned(),
            name,
        })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` on the test database (outside this schema), as the
    /// test database's user, off the async threads.
    pub async fn admin(&self, sql: String) -> Vec<postgres::Row> {
        let url = self.base.clone();
        tokio::task::spawn_blocking(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            client.query(&sql, &[]).unwrap()
        })
        .await
        .unwrap()
    }

    /// The base URL with this schema first on the search path.
    pub fn url(&self) -> String {
        let join = if self.base.contains('?') { '&' } else { '?' };
        format!(
            "{}{join}options=-c%20search_path%3D{}",
            self.base, self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, sql) = (
            self.base.clone(),
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
        // The sync client cannot run inside the test's async runtime.
        let dropped = std::thread::spawn(move || {
            postgres::Client::connect(&url, postgres::NoTls)
                .and_then(|mut client| client.batch_execute(&sql))
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop a test schema: {e}");
        }
    }
}

/// A fresh schema for a test that needs PostgreSQL, or `None` after saying
/// on stderr why the test is skipped (cargo shows it even for passing tests).
pub async fn postgres_only(test: &str) -> Option<Arc<Schema>> {
    let Some(base) = postgres_url() else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "{test} skipped: it needs PostgreSQL; set {POSTGRES_ENV} \
             (scripts/postgres.sh starts a throwaway cluster and sets it; \
             scripts/test.sh runs these tests that way)"
        );
        return None;
    };
    Some(Schema::create(&base).await)
}

/// A running server, its HTTP client and its temporary data directory (or
/// PostgreSQL schema).
pub struct TestServer {
    pub server: Server,
    pub http: reqwest::Client,
    /// Where its data lives (for tools that read the database).
    pub database: Database,
    _dir: TempDir,
    _schema: Option<Arc<Schema>>,
}

/// The test collections: `notes` merge, `tasks` strict, `items` lww.
pub fn config(dir: &TempDir) -> Config {
    let path = dir.path().join("data").join("test.sqlite3");
    let mut config = Config::new(&path).token(ALICE, "alice").token(BOB, "bob");
    config.database = Database::Sqlite {
        path,
        durable: false,
    };
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

    /// Starts a server with the test configuration changed by `adjust`, on
    /// PostgreSQL when [`POSTGRES_ENV`] is set.
    pub async fn start_with(adjust: impl FnOnce(Config) -> Config) -> Self {
        let schema = match postgres_url() {
            Some(base) => Some(Schema::create(&base).await),
            None => None,
        };
        Self::start_in(schema, adjust).await
    }

    /// Starts a server in `schema` (SQLite when `None`).
    pub async fn start_in(
        schema: Option<Arc<Schema>>,
        adjust: impl FnOnce(Config) -> Config,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(&dir);
        if let Some(schema) = &schema {
            config.database = Database::postgres(schema.url());
        }
        let config = adjust(config);
        let database = config.database.clone();
        let server = serve(config).await.expect("server starts");
        TestServer {
            server,
            http: reqwest::Client::new(),
            database,
            _dir: dir,
            _schema: schema,
        }
    }

    /// Runs one expiry pass as if it were `now_ms() + 1000`, on the
    /// blocking pool as the server's own maintenance does (store calls
    /// block, and PostgreSQL's client must not block an async thread).
    pub async fn expire(&self, retention: Retention) -> Expired {
        let (store, blobs) = (self.server.store(), self.server.blobs());
        let now = outbox_sync_server::routes::now_ms() + 1000;
        tokio::task::spawn_blocking(move || {
            run_once(store.as_ref(), blobs.as_ref(), &retention, now)
        })
        .await
        .unwrap()
        .expect("expiry runs")
    }

    /// One page of `token`'s audit history of a record.
    pub async fn history_page(
        &self,
        token: &str,
        collection: &str,
        record_id: &str,
        query: &str,
    ) -> (StatusCode, Value) {
        let path = format!("/v1/records/{collection}/{record_id}/history?{query}");
        let (status, _, body) = self.call(Method::GET, &path, Some(token), None, &[]).await;
        (status, body)
    }

    /// Every audit entry of a record, following `has_more`.
    pub async fn history(&self, token: &str, collection: &str, record_id: &str) -> Vec<Value> {
        let mut after = 0;
        let mut all = Vec::new();
        loop {
            let query = format!("after={after}&limit=1000");
            let (status, page) = self
                .history_page(token, collection, record_id, &query)
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            all.extend(page["entries"].as_array().unwrap().iter().cloned());
            after = page["next_after"].as_u64().unwrap();
            if !page["has_more"].as_bool().unwrap() {
                return all;
            }
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
