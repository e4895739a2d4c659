//! What only the PostgreSQL store does: waiting for the write lock, riding
//! over connections the database dropped, and TLS as the URL's sslmode
//! says. They need `OUTBOX_SYNC_TEST_DATABASE_URL` (and, for TLS,
//! `OUTBOX_SYNC_TEST_DATABASE_CA`), so they are `#[ignore]`d: a plain
//! `cargo test` counts them as skipped, and scripts/test.sh runs them with
//! `--include-ignored` through scripts/postgres.sh.

use std::path::PathBuf;
use std::sync::{mpsc, Arc};

use outbox_sync_server::{serve, Database, StartError};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test]
async fn a_write_kept_waiting_for_the_lock_answers_503_and_reads_go_on() {
    let Some(schema) = postgres_only("postgres::a_write_kept_waiting_for_the_lock").await else {
        return;
    };
    let server = TestServer::start_in(Some(schema.clone()), |c| c).await;
    put(&server, ALICE, "items", "before", None, json!({})).await;

    // Another session holds the seq row, as a stalled writer would.
    let (held_tx, held) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let url = schema.url();
    let holder = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut tx = client.transaction().unwrap();
        tx.query_one(
            "SELECT value FROM counters WHERE name = 'seq' FOR UPDATE",
            &[],
        )
        .unwrap();
        held_tx.send(()).unwrap();
        released.recv().unwrap();
        tx.rollback().unwrap();
    });
    tokio::task::spawn_blocking(move || held.recv().unwrap())
        .await
        .unwrap();

    let (status, page) = server.pull(ALICE, None, 10).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "pulls do not wait for the write lock"
    );
    assert_eq!(page["changes"].as_array().unwrap().len(), 1);

    // The server gives up after its lock_timeout (5 s) and says when to retry.
    let e = event(&id(), "items", "during", "put", None, json!({}));
    let (status, headers, body) = server
        .call(
            Method::POST,
            "/v1/push",
            Some(ALICE),
            Some(&json!({ "events": [e.clone()] })),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(headers["retry-after"], "1");

    release.send(()).unwrap();
    tokio::task::spawn_blocking(move || holder.join().unwrap())
        .await
        .unwrap();
    let results = server.push_ok(ALICE, vec![e]).await;
    assert_eq!(results[0]["status"], "applied", "the retry goes through");
    assert_eq!(server.pull_all(ALICE).await.len(), 2);
}

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_database_dropped_are_replaced_without_an_error() {
    let Some(schema) = postgres_only("postgres::connections_the_database_dropped").await else {
        return;
    };
    // A name of its own, so only this server's connections are ended.
    let name = schema.name().to_owned();
    let url = format!("{}&application_name={name}", schema.url());
    let server = TestServer::start_in(Some(schema.clone()), |mut c| {
        c.database = Database::Postgres {
            url,
            pool: 4,
            ca_file: None,
        };
        c
    })
    .await;
    // Several requests at once, so the pool holds several connections.
    let sends = (0..8).map(|i| {
        let e = event(
            &id(),
            "items",
            &format!("r{i}"),
            "put",
            None,
            json!({ "i": i }),
        );
        server.push_ok(ALICE, vec![e])
    });
    for results in futures::future::join_all(sends).await {
        assert_eq!(results[0]["status"], "applied");
    }

    // What a database restart or a failover does to every pooled connection.
    let ended = schema
        .admin(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{name}'"
        ))
        .await;
    assert!(!ended.is_empty(), "the server had open connections");

    let e = event(&id(), "items", "after", "put", None, json!({}));
    let results = server.push_ok(ALICE, vec![e]).await;
    assert_eq!(results[0]["status"], "applied", "{}", results[0]);
    assert_eq!(server.pull_all(ALICE).await.len(), 9);
    let (status, _, _) = server
        .call(
            Method::GET,
            "/v1/collections/items/records/after",
            Some(ALICE),
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// The variable naming the CA that signed the test database's certificate
/// (scripts/postgres.sh makes one and sets it).
const CA_ENV: &str = "OUTBOX_SYNC_TEST_DATABASE_CA";

/// A fresh schema and the test CA's PEM file, or `None` after saying on
/// stderr why the test is skipped.
async fn tls_only(test: &str) -> Option<(Arc<Schema>, PathBuf)> {
    let schema = postgres_only(test).await?;
    match std::env::var_os(CA_ENV).filter(|ca| !ca.is_empty()) {
        Some(ca) => Some((schema, PathBuf::from(ca))),
        None => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "{test} skipped: it needs PostgreSQL with TLS and {CA_ENV} naming the CA \
                 that signed its certificate (scripts/postgres.sh sets both)"
            );
            None
        }
    }
}

/// The schema's URL with `params` added, under a connection name of its own.
fn url_with(schema: &Schema, name: &str, params: &str) -> String {
    format!("{}&application_name={name}{params}", schema.url())
}

/// How many of the connections named `name` use TLS, and how many do not.
async fn connections(schema: &Schema, name: &str) -> (i64, i64) {
    let rows = schema
        .admin(format!(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
             WHERE a.application_name = '{name}'"
        ))
        .await;
    (rows[0].get(0), rows[0].get(1))
}

/// A server on `url` trusting `ca_file`, in the test's schema.
async fn start_tls(schema: &Arc<Schema>, url: String, ca_file: Option<PathBuf>) -> TestServer {
    TestServer::start_in(Some(schema.clone()), |mut c| {
        c.database = Database::Postgres {
            url,
            pool: 2,
            ca_file,
        };
        c
    })
    .await
}

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test]
async fn sslmode_require_with_the_ca_file_syncs_over_tls() {
    let Some((schema, ca)) = tls_only("postgres::sslmode_require_with_the_ca_file").await else {
        return;
    };
    let name = format!("{}_tls", schema.name());
    let url = url_with(&schema, &name, "&sslmode=require");
    let server = start_tls(&schema, url, Some(ca)).await;
    put(&server, ALICE, "items", "a", None, json!({ "n": 1 })).await;
    let e = event(&id(), "items", "b", "put", None, json!({ "n": 2 }));
    assert_eq!(server.push_ok(ALICE, vec![e]).await[0]["status"], "applied");
    let changes = server.pull_all(ALICE).await;
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1]["data"]["n"], 2.0);
    let (tls, plain) = connections(&schema, &name).await;
    assert!(tls >= 1, "the server's connections use TLS");
    assert_eq!(plain, 0, "and none goes without");
}

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test]
async fn sslmode_require_without_the_ca_file_fails_at_start_saying_what_to_pass() {
    let Some((schema, _ca)) = tls_only("postgres::sslmode_require_without_the_ca_file").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.database = Database::postgres(format!("{}&sslmode=require", schema.url()));
    let error = serve(config)
        .await
        .err()
        .expect("the certificate is refused");
    assert!(matches!(error, StartError::Postgres(..)));
    let message = error.to_string();
    assert!(
        message.contains("not signed by a known CA"),
        "says why: {message}"
    );
    assert!(
        message.contains("--database-ca-file"),
        "says what to pass: {message}"
    );
}

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test]
async fn sslmode_prefer_uses_tls_when_the_certificate_verifies_and_plain_otherwise() {
    let Some((schema, ca)) = tls_only("postgres::sslmode_prefer").await else {
        return;
    };
    // No sslmode in the URL: prefer, libpq's default.
    let verified = format!("{}_ca", schema.name());
    let server = start_tls(&schema, url_with(&schema, &verified, ""), Some(ca)).await;
    put(&server, ALICE, "items", "a", None, json!({})).await;
    let (tls, plain) = connections(&schema, &verified).await;
    assert!(tls >= 1 && plain == 0, "TLS: {tls} with, {plain} without");

    // Without the CA the certificate does not verify: plain, as before TLS.
    let unverified = format!("{}_noca", schema.name());
    let server = start_tls(&schema, url_with(&schema, &unverified, ""), None).await;
    put(&server, ALICE, "items", "b", None, json!({})).await;
    assert_eq!(server.pull_all(ALICE).await.len(), 2);
    let (tls, plain) = connections(&schema, &unverified).await;
    assert!(
        tls == 0 && plain >= 1,
        "plain: {tls} with TLS, {plain} without"
    );

    // sslmode=disable never tries TLS, whatever CA is given.
    let disabled = format!("{}_off", schema.name());
    let url = url_with(&schema, &disabled, "&sslmode=disable");
    let ca = std::env::var_os(CA_ENV).map(PathBuf::from);
    let server = start_tls(&schema, url, ca).await;
    put(&server, ALICE, "items", "c", None, json!({})).await;
    let (tls, plain) = connections(&schema, &disabled).await;
    assert!(
        tls == 0 && plain >= 1,
        "plain: {tls} with TLS, {plain} without"
    );
}
