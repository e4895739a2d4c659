//! Several server instances on one PostgreSQL database: each event applied
//! once whichever instances receive it, sync tokens valid on every
//! instance, and pulls that never skip a change committed by another.
//!
//! These need PostgreSQL (`OUTBOX_SYNC_TEST_DATABASE_URL`), so they are
//! `#[ignore]`d: a plain `cargo test` counts them as skipped, and
//! scripts/test.sh runs them with `--include-ignored` through
//! scripts/postgres.sh.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use outbox_sync_server::{serve, Config, Database, Retention, StartError};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

/// Two servers sharing one fresh schema, or `None` on SQLite.
async fn two_instances(test: &str) -> Option<(TestServer, TestServer)> {
    let schema = postgres_only(&format!("instances::{test}")).await?;
    let a = TestServer::start_in(Some(schema.clone()), |c| c).await;
    let b = TestServer::start_in(Some(schema), |c| c).await;
    Some((a, b))
}

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_sent_to_two_instances_at_once_is_applied_once() {
    let Some((a, b)) =
        two_instances("the_same_event_sent_to_two_instances_at_once_is_applied_once").await
    else {
        return;
    };
    for round in 0..3 {
        let events: Vec<Value> = (0..50)
            .map(|i| {
                event(
                    &id(),
                    "items",
                    &format!("r{i}"),
                    "patch",
                    None,
                    json!({ "round": round }),
                )
            })
            .collect();
        let sends = events.iter().flat_map(|e| {
            [
                a.push_ok(ALICE, vec![e.clone()]),
                b.push_ok(ALICE, vec![e.clone()]),
            ]
        });
        let results: Vec<Value> = join_all(sends)
            .await
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        for pair in results.chunks(2) {
            let statuses = [pair[0]["status"].as_str(), pair[1]["status"].as_str()];
            let (applied, duplicate) = match statuses {
                [Some("applied"), Some("duplicate")] => (&pair[0], &pair[1]),
                [Some("duplicate"), Some("applied")] => (&pair[1], &pair[0]),
                _ => panic!("one copy must apply and the other be a duplicate: {pair:?}"),
            };
            assert_eq!(duplicate["original"]["version"], applied["version"]);
            assert_eq!(duplicate["original"]["record"], applied["record"]);
        }
    }
    // Each record was changed once per round: 3 rounds, 50 records, so the
    // versions are exactly 1..=150 and each record is at its last round.
    let changes = a.pull_all(ALICE).await;
    assert_eq!(changes.len(), 50);
    assert!(changes.iter().all(|c| c["data"]["round"] == 2.0));
    assert_eq!(changes.last().unwrap()["version"], 150);
    // The shared audit trail: each record has exactly its three rounds, each
    // event once, whichever instance is asked.
    for i in 0..50 {
        let record = format!("r{i}");
        let trail = b.history(ALICE, "items", &record).await;
        let mut ids: Vec<&str> = trail
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!((trail.len(), ids.len()), (3, 3), "{record}: {trail:?}");
    }
}

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_on_two_instances_writes_once() {
    let Some((a, b)) = two_instances("the_same_idempotency_key_on_two_instances_writes_once").await
    else {
        return;
    };
    let write = |server: &TestServer, i: usize, key: String| {
        let path = format!("/v1/collections/items/records/k{i}");
        let body = json!({ "i": i });
        let url = server.url(&path);
        let http = server.http.clone();
        async move {
            let response = http
                .request(Method::PUT, url)
                .bearer_auth(ALICE)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let replayed = response.headers().contains_key("idempotent-replayed");
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, replayed, body)
        }
    };
    let keys: Vec<String> = (0..20).map(|_| id()).collect();
    let sends = keys
        .iter()
        .enumerate()
        .flat_map(|(i, key)| [write(&a, i, key.clone()), write(&b, i, key.clone())]);
    let answers = join_all(sends).await;
    for pair in answers.chunks(2) {
        assert_eq!(pair[0].0, StatusCode::OK, "{:?}", pair[0].2);
        assert_eq!(pair[1].0, StatusCode::OK, "{:?}", pair[1].2);
        assert!(
            pair[0].1 != pair[1].1,
            "exactly one answer is a replay: {pair:?}"
        );
        assert_eq!(pair[0].2, pair[1].2, "the replay repeats the first answer");
    }
    let changes = b.pull_all(ALICE).await;
    assert_eq!(changes.len(), 20);
    let versions: Vec<u64> = changes
        .iter()
        .map(|c| c["version"].as_u64().unwrap())
        .collect();
    assert_eq!(
        versions,
        (1..=20).collect::<Vec<u64>>(),
        "each write took one version"
    );
}

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test]
async fn a_sync_token_from_one_instance_works_on_the_other() {
    let Some((a, b)) = two_instances("a_sync_token_from_one_instance_works_on_the_other").await
    else {
        return;
    };
    for i in 0..7 {
        put(
            &a,
            ALICE,
            "items",
            &format!("a{i}"),
            None,
            json!({ "i": i }),
        )
        .await;
    }
    let (status, first) = a.pull(ALICE, None, 3).await;
    assert_eq!(status, StatusCode::OK);
    let token = first["next_token"].as_str().unwrap().to_owned();
    let (_, on_a) = a.pull(ALICE, Some(&token), 100).await;
    let (status, on_b) = b.pull(ALICE, Some(&token), 100).await;
    assert_eq!(status, StatusCode::OK, "{on_b}");
    assert_eq!(on_a, on_b, "the same token yields the same changes");
    assert_eq!(on_b["changes"].as_array().unwrap().len(), 4);
    assert_eq!(a.pull_all(ALICE).await, b.pull_all(ALICE).await);

    // A change written on B continues A's token on either instance.
    let last = on_a["next_token"].as_str().unwrap().to_owned();
    put(&b, ALICE, "items", "b0", None, json!({})).await;
    let (_, more) = a.pull(ALICE, Some(&last), 100).await;
    assert_eq!(more["changes"][0]["record_id"], "b0");

    // Expiry run by one instance moves the horizon both answer from.
    let deleted = event(&id(), "items", "a0", "delete", None, Value::Null);
    assert_eq!(
        b.push_ok(ALICE, vec![deleted]).await[0]["status"],
        "applied"
    );
    let retention = Retention {
        tombstones: Duration::ZERO,
        ..Retention::default()
    };
    assert_eq!(a.expire(retention).await.tombstones, 1);
    let (status, body) = b.pull(ALICE, Some(&token), 100).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
}

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_both_instances_are_pulled_once_in_order() {
    let Some((a, b)) =
        two_instances("concurrent_writers_on_both_instances_are_pulled_once_in_order").await
    else {
        return;
    };
    let (a, b) = (Arc::new(a), Arc::new(b));
    // 8 writers, 4 per instance, 25 events each, one new record per event:
    // a record is never changed again, so a pull that skipped one would
    // never see it.
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let server = if w % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let mut versions = Vec::new();
                for i in 0..25 {
                    let record = format!("w{w}-{i}");
                    let e = event(&id(), "items", &record, "put", None, json!({ "w": w }));
                    let result = server.push_ok(ALICE, vec![e]).await;
                    assert_eq!(result[0]["status"], "applied", "{}", result[0]);
                    versions.push((result[0]["version"].as_u64().unwrap(), record));
                }
                versions
            })
        })
        .collect();
    // A puller alternating between the instances while the writers run.
    let done = Arc::new(AtomicBool::new(false));
    let puller = {
        let (a, b, done) = (a.clone(), b.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen: Vec<(u64, String)> = Vec::new();
            let mut token: Option<String> = None;
            let mut turn = 0usize;
            loop {
                let finished = done.load(Ordering::SeqCst);
                loop {
                    let server = if turn.is_multiple_of(2) { &a } else { &b };
                    turn += 1;
                    let (status, page) = server.pull(ALICE, token.as_deref(), 7).await;
                    assert_eq!(status, StatusCode::OK, "{page}");
                    for change in page["changes"].as_array().unwrap() {
                        let version = change["version"].as_u64().unwrap();
                        let record = change["record_id"].as_str().unwrap().to_owned();
                        seen.push((version, record));
                    }
                    token = Some(page["next_token"].as_str().unwrap().to_owned());
                    if !page["has_more"].as_bool().unwrap() {
                        break;
                    }
                }
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut written: Vec<(u64, String)> = Vec::new();
    for writer in writers {
        written.extend(writer.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    let seen = puller.await.unwrap();
    written.sort();
    assert_eq!(written.len(), 200);
    let versions: Vec<u64> = written.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        (1..=200).collect::<Vec<u64>>(),
        "no version is skipped or reused"
    );
    assert_eq!(
        seen, written,
        "the puller saw every change once, in version order"
    );
    let from_scratch: Vec<(u64, String)> = a
        .pull_all(ALICE)
        .await
        .iter()
        .map(|c| {
            let version = c["version"].as_u64().unwrap();
            (version, c["record_id"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(from_scratch, written, "a full pull gives the same order");
    assert_eq!(a.pull_all(ALICE).await, b.pull_all(ALICE).await);
}

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_set_up_one_database() {
    let Some(schema) =
        postgres_only("instances::instances_starting_together_set_up_one_database").await
    else {
        return;
    };
    let starts = (0..4).map(|_| TestServer::start_in(Some(schema.clone()), |c| c));
    let servers = join_all(starts).await;
    let epochs: Vec<String> = servers
        .iter()
        .map(|s| s.server.store().epoch().to_owned())
        .collect();
    assert!(epochs.iter().all(|e| e == &epochs[0]), "{epochs:?}");
    put(&servers[0], ALICE, "items", "x", None, json!({})).await;
    assert_eq!(servers[3].pull_all(ALICE).await.len(), 1);
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config: Config = config(&dir);
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    config.database = Database::postgres("postgres://outbox:s3cret@127.0.0.1:1/outbox");
    let error = serve(config).await.err().expect("no database to reach");
    assert!(matches!(error, StartError::Postgres(..)));
    let message = error.to_string();
    assert!(message.contains("--database-url"), "{message}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(
        !message.contains("s3cret"),
        "the password is never shown: {message}"
    );
}
