//! The audit trail: one entry per event the server decided, written with
//! the change; nothing for a replay; a record's history per user, paged;
//! the `audit` command; retention.

use std::process::Command;
use std::time::Duration;

use outbox_sync_server::{Database, Retention};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

fn ids(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["event_id"].as_str().unwrap_or("-"))
        .collect()
}

#[tokio::test]
async fn every_applied_event_is_written_once_and_a_replay_writes_nothing() {
    let server = TestServer::start().await;
    let (first, second) = (id(), id());
    let create = event(&first, "notes", "n1", "put", None, json!({"title": "a"}));
    let results = server.push_ok(ALICE, vec![create.clone()]).await;
    let v1 = results[0]["version"].as_u64().unwrap();
    let edit = event(
        &second,
        "notes",
        "n1",
        "patch",
        Some(v1),
        json!({"title": "b"}),
    );
    // The first event again (a lost response), then the edit twice in one push.
    let results = server
        .push_ok(ALICE, vec![create.clone(), edit.clone(), edit.clone()])
        .await;
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["duplicate", "applied", "duplicate"]);
    let v2 = results[1]["version"].as_u64().unwrap();

    let history = server.history(ALICE, "notes", "n1").await;
    assert_eq!(
        ids(&history),
        [first.as_str(), second.as_str()],
        "{history:?}"
    );
    assert_eq!(history[0]["op"], "put");
    assert_eq!(history[0]["outcome"], "applied");
    assert_eq!(history[0]["version"], v1);
    assert_eq!(history[1]["op"], "patch");
    assert_eq!(history[1]["version"], v2);
    assert!(history[0]["id"].as_u64() < history[1]["id"].as_u64());
    let at = history[0]["at_ms"].as_i64().unwrap();
    assert!(
        (at - outbox_sync_server::routes::now_ms()).abs() < 60_000,
        "{at}"
    );
}

#[tokio::test]
async fn conflicts_and_keyless_writes_are_in_the_history_too() {
    let server = TestServer::start().await;
    let version = put(&server, ALICE, "tasks", "t1", None, json!({"done": false})).await;
    let stale = id();
    let conflict = event(&stale, "tasks", "t1", "put", Some(version + 5), json!({}));
    let results = server.push_ok(ALICE, vec![conflict.clone()]).await;
    assert_eq!(results[0]["status"], "conflict");
    // Its replay is answered from the key and writes nothing.
    server.push_ok(ALICE, vec![conflict]).await;
    let (status, _, body) = server
        .call(
            Method::PUT,
            "/v1/collections/items/records/i1",
            Some(ALICE),
            Some(&json!({"n": 1.0})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let tasks = server.history(ALICE, "tasks", "t1").await;
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert_eq!(tasks[1]["event_id"], stale.as_str());
    assert_eq!(tasks[1]["outcome"], "conflict");
    assert_eq!(tasks[1]["version"], version, "the version it ran into");
    let items = server.history(ALICE, "items", "i1").await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["event_id"], Value::Null);
    assert_eq!(items[0]["outcome"], "applied");
}

#[tokio::test]
async fn a_history_is_per_user_and_paged() {
    let server = TestServer::start().await;
    let mut base = None;
    let mut sent = Vec::new();
    for n in 0..5 {
        let event_id = id();
        let e = event(
            &event_id,
            "items",
            "shared",
            "put",
            base,
            json!({"n": n as f64}),
        );
        let results = server.push_ok(ALICE, vec![e]).await;
        base = results[0]["version"].as_u64();
        sent.push(event_id);
    }
    put(&server, BOB, "items", "shared", None, json!({"bob": true})).await;

    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let query = format!("after={after}&limit=2");
        let (status, page) = server.history_page(ALICE, "items", "shared", &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages.push(page["entries"].as_array().unwrap().len());
        after = page["next_after"].as_u64().unwrap();
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(pages, [2, 2, 1]);
    let all = server.history(ALICE, "items", "shared").await;
    let sent: Vec<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(ids(&all), sent);
    assert_eq!(server.history(BOB, "items", "shared").await.len(), 1);
    assert!(server.history(BOB, "items", "other").await.is_empty());
}

#[tokio::test]
async fn bad_history_requests_say_what_to_send() {
    let server = TestServer::start().await;
    let (status, body) = server
        .history_page(ALICE, "items", "i1", "after=soon")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_after");
    let (status, body) = server.history_page(ALICE, "items", "i1", "limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_limit");
    let (status, body) = server.history_page(ALICE, "nope", "i1", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "unknown_collection");
    let (status, _, _) = server
        .call(Method::GET, "/v1/records/items/i1/history", None, None, &[])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn retention_expires_old_entries_and_forever_keeps_them() {
    let server = TestServer::start().await;
    put(&server, ALICE, "items", "i1", None, json!({})).await;
    let forever = Retention {
        audit: None,
        ..Retention::default()
    };
    assert_eq!(server.expire(forever).await.audit, 0);
    let a_year = Retention::default();
    assert_eq!(server.expire(a_year).await.audit, 0);
    assert_eq!(server.history(ALICE, "items", "i1").await.len(), 1);
    let none = Retention {
        audit: Some(Duration::ZERO),
        ..Retention::default()
    };
    assert_eq!(server.expire(none).await.audit, 1);
    assert!(server.history(ALICE, "items", "i1").await.is_empty());
    // Numbering goes on after an expiry emptied the trail.
    put(&server, ALICE, "items", "i2", None, json!({})).await;
    let later = server.history(ALICE, "items", "i2").await;
    assert_eq!(later[0]["id"], 2, "{later:?}");
}

/// The `audit` command's flags pointing at `server`'s database.
fn database_flags(server: &TestServer) -> Vec<String> {
    match &server.database {
        Database::Sqlite { path, .. } => vec!["--data".into(), path.display().to_string()],
        Database::Postgres { url, .. } => vec!["--database-url".into(), url.clone()],
    }
}

fn audit_command(flags: &[String]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_outbox-sync-server"))
        .arg("audit")
        .args(flags)
        .env_remove("OUTBOX_SYNC_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the server binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_operator_finds_one_event_from_the_command_line() {
    let server = TestServer::start().await;
    let event_id = id();
    let e = event(&event_id, "notes", "n7", "put", None, json!({"t": "x"}));
    let version = server.push_ok(ALICE, vec![e.clone()]).await[0]["version"]
        .as_u64()
        .unwrap();
    server.push_ok(ALICE, vec![e]).await;
    let mut flags = database_flags(&server);
    flags.extend(["--event-id".into(), event_id.clone()]);
    let run = {
        let flags = flags.clone();
        move || audit_command(&flags)
    };
    let (code, out, err) = tokio::task::spawn_blocking(run).await.unwrap();
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one application, the replay wrote nothing: {out}"
    );
    assert!(
        lines[0].contains(&format!(
            "user=alice event={event_id} notes/n7 put applied version={version}"
        )),
        "{out}"
    );

    flags.push("--json".into());
    let (code, out, err) = tokio::task::spawn_blocking(move || audit_command(&flags))
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    let entry: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (entry["user"].clone(), entry["version"].clone()),
        (json!("alice"), json!(version))
    );

    let mut other = database_flags(&server);
    other.extend(["--event-id".into(), id()]);
    let (code, out, err) = tokio::task::spawn_blocking(move || audit_command(&other))
        .await
        .unwrap();
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("never applied"), "{err}");
    let mut upper = database_flags(&server);
    upper.extend(["--event-id".into(), event_id.to_uppercase()]);
    let (code, out, err) = tokio::task::spawn_blocking(move || audit_command(&upper))
        .await
        .unwrap();
    assert_eq!(
        (code, out.lines().count()),
        (0, 1),
        "a UUID in any case: {err}"
    );
    let mut bob = database_flags(&server);
    bob.extend(["--event-id".into(), event_id, "--user".into(), "bob".into()]);
    let (code, _, _) = tokio::task::spawn_blocking(move || audit_command(&bob))
        .await
        .unwrap();
    assert_eq!(code, 1, "bob has no such event");
}

#[tokio::test]
async fn the_audit_command_never_creates_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sqlite3");
    let flags = vec![
        "--data".to_owned(),
        missing.display().to_string(),
        "--event-id".to_owned(),
        "e1".to_owned(),
    ];
    let (code, _, err) = audit_command(&flags);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("there is no database"), "{err}");
    assert!(!missing.exists());
}

#[tokio::test]
async fn a_database_from_before_the_audit_trail_gets_it_on_start() {
    use outbox_sync_server::store::schema::SCHEMA;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    let schema = match postgres_url() {
        Some(base) => {
            let schema = Schema::create(&base).await;
            let sql = format!(
                "SET search_path TO {name}; {SCHEMA}
                 CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version (version) VALUES (1);",
                name = schema.name()
            );
            let url = base.clone();
            tokio::task::spawn_blocking(move || {
                let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                client.batch_execute(&sql).unwrap();
            })
            .await
            .unwrap();
            Some(schema)
        }
        None => {
            let old = rusqlite::Connection::open(&path).unwrap();
            old.execute_batch(SCHEMA).unwrap();
            None
        }
    };
    let server = TestServer::start_in(schema, |mut config| {
        if let Database::Sqlite { path: file, .. } = &mut config.database {
            file.clone_from(&path);
        }
        config
    })
    .await;
    put(&server, ALICE, "items", "i1", None, json!({})).await;
    assert_eq!(server.history(ALICE, "items", "i1").await.len(), 1);
}
