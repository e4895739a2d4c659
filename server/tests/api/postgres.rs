//! What only the PostgreSQL store does: waiting for the write lock, and
//! riding over connections the database dropped. Without
//! `OUTBOX_SYNC_TEST_DATABASE_URL` these print why and pass; scripts/test.sh
//! always runs them.

use std::sync::mpsc;

use outbox_sync_server::Database;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_database_dropped_are_replaced_without_an_error() {
    let Some(schema) = postgres_only("postgres::connections_the_database_dropped").await else {
        return;
    };
    // A name of its own, so only this server's connections are ended.
    let name = schema.name().to_owned();
    let url = format!("{}&application_name={name}", schema.url());
    let server = TestServer::start_in(Some(schema.clone()), |mut c| {
        c.database = Database::Postgres { url, pool: 4 };
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
