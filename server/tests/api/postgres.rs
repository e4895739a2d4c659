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

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_waiting_for_the_lock_go_in_one_group_and_a_failing_one_rolls_back_alone() {
    let Some(schema) = postgres_only("postgres::pushes_waiting_for_the_lock_go_in_one_group").await
    else {
        return;
    };
    let server = Arc::new(TestServer::start_in(Some(schema.clone()), |c| c).await);
    put(&server, ALICE, "items", "before", None, json!({})).await;
    let url = schema.url();
    let sql = move |statement: String| {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                let rows = client.simple_query(&statement).unwrap();
                rows.into_iter()
                    .filter_map(|m| match m {
                        postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                        _ => None,
                    })
                    .collect::<Vec<String>>()
            })
            .await
            .unwrap()
        }
    };
    // A record named `boom` makes its batch fail inside the transaction, as
    // a storage error would.
    sql(
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.record_id = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER boom BEFORE INSERT ON records FOR EACH ROW EXECUTE FUNCTION boom();"
            .to_owned(),
    )
    .await;

    // Another session holds the seq row, as a slow writer would.
    let (held_tx, held) = mpsc::channel::<i32>();
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
        let pid: i32 = tx.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        held_tx.send(pid).unwrap();
        released.recv().unwrap();
        tx.rollback().unwrap();
    });
    let holder_pid = tokio::task::spawn_blocking(move || held.recv().unwrap())
        .await
        .unwrap();

    let batches: Vec<Vec<serde_json::Value>> = ["a", "b", "c", "d"]
        .iter()
        .map(|name| {
            let second = if *name == "c" {
                "boom".to_owned()
            } else {
                format!("{name}2")
            };
            vec![
                event(&id(), "items", &format!("{name}1"), "put", None, json!({})),
                event(&id(), "items", &second, "put", None, json!({})),
            ]
        })
        .collect();
    // Sessions waiting for the holder's lock (other tests' sessions never
    // wait for it).
    let waiting_for_the_lock = || {
        sql(format!(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE {holder_pid} = ANY(pg_blocking_pids(pid))"
        ))
    };
    let first = {
        let (server, events) = (server.clone(), batches[0].clone());
        tokio::spawn(async move { server.push(ALICE, events).await })
    };
    while waiting_for_the_lock().await != ["1"] {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let rest: Vec<_> = batches[1..]
        .iter()
        .map(|events| {
            let (server, events) = (server.clone(), events.clone());
            tokio::spawn(async move { server.push(ALICE, events).await })
        })
        .collect();
    // The three wait in this instance for the running group, not each on
    // a connection of its own for the lock.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(waiting_for_the_lock().await, ["1"]);

    release.send(()).unwrap();
    tokio::task::spawn_blocking(move || holder.join().unwrap())
        .await
        .unwrap();
    let (status, body) = first.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut answers = Vec::new();
    for push in rest {
        answers.push(push.await.unwrap());
    }
    assert_eq!(answers[0].0, StatusCode::OK, "{}", answers[0].1);
    assert_eq!(
        answers[1].0,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        answers[1].1
    );
    assert_eq!(answers[2].0, StatusCode::OK, "{}", answers[2].1);
    for (_, body) in [&answers[0], &answers[2]] {
        for result in body["results"].as_array().unwrap() {
            assert_eq!(result["status"], "applied", "{result}");
        }
    }
    // The failing batch left nothing, and versions stayed contiguous.
    let changes = server.pull_all(ALICE).await;
    let mut ids: Vec<&str> = changes
        .iter()
        .map(|c| c["record_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a1", "a2", "b1", "b2", "before", "d1", "d2"]);
    let mut versions: Vec<u64> = changes
        .iter()
        .map(|c| c["version"].as_u64().unwrap())
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=7).collect::<Vec<u64>>());
    let failed_keys: Vec<String> = batches[2]
        .iter()
        .map(|e| format!("'{}'", e["event_id"].as_str().unwrap()))
        .collect();
    let kept = format!(
        "SELECT COUNT(*) FROM idempotency WHERE idem_key IN ({})",
        failed_keys.join(", ")
    );
    assert_eq!(
        sql(kept).await,
        ["0"],
        "the failed batch's keys are not stored"
    );
    assert_eq!(sql("SELECT COUNT(*) FROM audit".to_owned()).await, ["7"]);
}

/// `pushes` pushes of `size` new events each, one after the other.
async fn push_batches(server: &TestServer, pushes: usize, size: usize) {
    for _ in 0..pushes {
        let events = (0..size)
            .map(|n| event(&id(), "items", &format!("r{n}"), "put", None, json!({})))
            .collect();
        server.push_ok(ALICE, events).await;
    }
}

/// How many index entries the scans of the idempotency keys' primary key
/// read in `schema`, by the statistics.
async fn key_entries_read(schema: &Schema) -> i64 {
    let sql = format!(
        "SELECT COALESCE(SUM(idx_tup_read), 0)::bigint FROM pg_stat_user_indexes
         WHERE schemaname = '{}' AND indexrelname = 'idempotency_pkey'",
        schema.name()
    );
    schema.admin(sql).await[0].get(0)
}

/// How many times the statistics show the idempotency table was scanned
/// in `schema`: (by an index, sequentially).
async fn key_scans(schema: &Schema) -> (i64, i64) {
    let sql = format!(
        "SELECT COALESCE(idx_scan, 0), seq_scan FROM pg_stat_user_tables
         WHERE schemaname = '{}' AND relname = 'idempotency'",
        schema.name()
    );
    let row = &schema.admin(sql).await[0];
    (row.get(0), row.get(1))
}

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_reads_only_its_own_keys_once_the_table_grew_from_empty() {
    // PostgreSQL's default plan cache may keep, for the life of a pooled
    // connection, a generic plan made while the table was nearly empty,
    // one that reads all of the user's keys for every push: slower with
    // every key stored.
    let Some(schema) = postgres_only("postgres::a_push_reads_only_its_own_keys").await else {
        return;
    };
    let server = TestServer::start_in(Some(schema.clone()), |c| c).await;
    // Past the sixth execution on every connection the pool opened, while
    // the table is small (pushes of 100, as a client sends them).
    push_batches(&server, 20, 100).await;
    // Many more of the user's keys (no ANALYZE, which would also drop
    // cached plans).
    let stored = 50_000;
    schema
        .admin(format!(
            "INSERT INTO {}.idempotency (user_id, idem_key, request_hash, outcome, created_at)
             SELECT 'alice', 'key-' || g, '0', '{{}}', 0 FROM generate_series(1, {stored}) g",
            schema.name()
        ))
        .await;
    let later = 40;
    push_batches(&server, later, 5).await;
    // Closing the connections makes their backends report their counts.
    let TestServer { server, .. } = server;
    server.stop().await;
    // Each push looks its keys up twice: without the lock (are they all
    // replays?), then under it; all 120 pushes at least that often.
    let lookups = 2 * (20 + later as i64);
    let mut scans = (0, 0);
    for _ in 0..100 {
        scans = key_scans(&schema).await;
        if scans.0 + scans.1 >= lookups {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        scans.0 + scans.1 >= lookups,
        "the statistics arrived: {scans:?}"
    );
    let read = key_entries_read(&schema).await;
    // Every key pushed is new, so a lookup by the keys themselves reads
    // none; one by the user alone reads all the user's keys. The first 20
    // pushes' 40 lookups read at most the 2000 keys there were each time
    // (80 000 in all); the later 80 by the user alone would read 4 000 000.
    let bound = 10 * stored as i64;
    assert!(
        read < bound,
        "the pushes read {read} stored keys (bound {bound}); each should find only its own"
    );
}

#[ignore = "needs PostgreSQL: scripts/postgres.sh cargo test -p outbox-sync-server --test api -- --include-ignored"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_step_keeps_every_row_and_every_answer_of_a_database_made_before_it() {
    use outbox_sync_server::store::schema::POSTGRES_STEPS;
    let Some(schema) = postgres_only("postgres::the_audit_step_keeps_every_row").await else {
        return;
    };
    // The schema as servers before step 4 left it, with keys, audit rows,
    // an unkeyed row, a row whose key expired and one event id of two users.
    // Recent times: the server's maintenance pass at start must not
    // expire these keys or audit rows.
    let t = outbox_sync_server::routes::now_ms() - 100_000;
    let url = schema.url();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .batch_execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            .unwrap();
        for (step, sql) in (1..).zip(&POSTGRES_STEPS[..3]) {
            client.batch_execute(sql).unwrap();
            client
                .execute("INSERT INTO schema_version VALUES ($1)", &[&step])
                .unwrap();
        }
        client
            .batch_execute(&format!(
                "INSERT INTO meta (name, value) VALUES ('epoch', 'e0');
                 INSERT INTO idempotency VALUES ('alice', 'k1', 'h1', 'o1', {});
                 INSERT INTO idempotency VALUES ('alice', 'k2', 'h2', 'o2', {});
                 INSERT INTO idempotency VALUES ('bob', 'k2', 'h3', 'o3', {});
                 INSERT INTO audit VALUES (1, 'alice', 'k0', 'items', 'a', 1, 'put', 'applied', {});
                 INSERT INTO audit VALUES (2, 'alice', 'k1', 'items', 'a', 2, 'put', 'applied', {});
                 INSERT INTO audit VALUES (3, 'alice', NULL, 'items', 'b', 3, 'put', 'applied', {});
                 INSERT INTO audit VALUES (4, 'alice', 'k2', 'items', 'a', 2, 'patch', 'conflict', {});
                 INSERT INTO audit VALUES (5, 'bob', 'k2', 'items', 'a', 4, 'put', 'applied', {});
                 UPDATE counters SET value = 5 WHERE name = 'audit';
                 UPDATE counters SET value = 4 WHERE name = 'seq';",
                t + 100,
                t + 200,
                t + 300,
                t + 50,
                t + 100,
                t + 150,
                t + 200,
                t + 300,
            ))
            .unwrap();
    })
    .await
    .unwrap();
    let server = TestServer::start_in(Some(schema.clone()), |c| c).await;
    let store = server.server.store();
    let find = |event: &'static str, user: Option<&'static str>| {
        let store = store.clone();
        async move {
            tokio::task::spawn_blocking(move || store.find_event(event, user))
                .await
                .unwrap()
                .unwrap()
                .iter()
                .map(|e| e.id)
                .collect::<Vec<u64>>()
        }
    };
    assert_eq!(find("k0", None).await, [1], "key expired");
    assert_eq!(find("k1", Some("alice")).await, [2]);
    assert_eq!(find("k2", None).await, [4, 5]);
    assert_eq!(find("k2", Some("bob")).await, [5]);
    assert!(find("k9", None).await.is_empty());
    let history: Vec<u64> = server
        .history(ALICE, "items", "a")
        .await
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(history, [1, 2, 4]);
    // New events number on, found through their key; once the keys
    // expire, by the scan.
    let fresh = id();
    server
        .push_ok(
            ALICE,
            vec![event(&fresh, "items", "c", "put", None, json!({}))],
        )
        .await;
    let fresh: &'static str = Box::leak(fresh.into_boxed_str());
    assert_eq!(find(fresh, None).await, [6]);
    server
        .expire(outbox_sync_server::config::Retention {
            keys: std::time::Duration::ZERO,
            ..Default::default()
        })
        .await;
    assert_eq!(find(fresh, None).await, [6]);
    assert_eq!(find("k2", None).await, [4, 5]);
    let name = schema.name();
    let indexes = schema
        .admin(format!(
            "SELECT indexname FROM pg_indexes WHERE schemaname = '{name}' AND tablename = 'audit' ORDER BY 1"
        ))
        .await;
    let indexes: Vec<String> = indexes.iter().map(|r| r.get(0)).collect();
    assert_eq!(indexes, ["audit_by_age", "audit_by_record", "audit_pkey"]);
    let version = schema
        .admin(format!("SELECT MAX(version) FROM {name}.schema_version"))
        .await;
    assert_eq!(version[0].get::<_, i32>(0), POSTGRES_STEPS.len() as i32);
}
