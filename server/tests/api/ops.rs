//! Operating the server: start-up errors, health, faults, static files, CORS.

use std::time::Duration;

use outbox_sync_server::{serve, Database, StartError};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn health_answers_without_credentials() {
    let server = TestServer::start().await;
    let (status, _, body) = server
        .call(Method::GET, "/v1/health", None, None, &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_start_up_error() {
    let first = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.listen = first.server.addr();
    let error = serve(config).await.err().expect("second bind fails");
    assert!(matches!(error, StartError::Listen(..)));
    let message = error.to_string();
    assert!(
        message.contains("already in use") && message.contains("--listen"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unwritable_data_path_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let mut config = config(&dir);
    config.database = Database::Sqlite {
        path: blocker.join("db.sqlite3"),
        durable: false,
    };
    let error = serve(config)
        .await
        .err()
        .expect("cannot create the directory");
    assert!(error.to_string().contains("--data"), "{error}");
}

#[tokio::test]
async fn fault_endpoints_are_absent_unless_enabled() {
    let server = TestServer::start().await;
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let (status, _, _) = server
            .call(method, "/v1/_faults", Some(ALICE), Some(&json!({})), &[])
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn faults_throttle_fail_and_reset() {
    let server = TestServer::start_with(|mut c| {
        c.fault_injection = true;
        c
    })
    .await;
    let settings =
        json!({"throttle_next": 1, "fail_next": 1, "retry_after_s": 7, "latency_ms": 20});
    let (status, _, body) = server
        .call(Method::POST, "/v1/_faults", None, Some(&settings), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["fail_status"], 503);

    let e = event(&id(), "items", "f", "put", None, json!({}));
    let (status, headers, body) = server
        .call(
            Method::POST,
            "/v1/push",
            Some(ALICE),
            Some(&json!({"events": [e.clone()]})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(body["error"]["code"], "rate_limited");
    let (status, headers, _) = server
        .call(
            Method::POST,
            "/v1/push",
            Some(ALICE),
            Some(&json!({"events": [e.clone()]})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "7");
    assert!(
        server.pull_all(ALICE).await.is_empty(),
        "failed requests change nothing"
    );

    let (_, _, body) = server
        .call(Method::GET, "/v1/_faults", None, None, &[])
        .await;
    assert_eq!(body["fail_next"], 0);
    assert_eq!(body["latency_ms"], 20);
    let (status, _, body) = server
        .call(
            Method::POST,
            "/v1/_faults",
            None,
            Some(&json!({"fail_rate": 2})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("fail_rate"));
    let (status, _, body) = server
        .call(Method::DELETE, "/v1/_faults", None, None, &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["latency_ms"], 0);
    assert_eq!(server.push_ok(ALICE, vec![e]).await[0]["status"], "applied");
}

#[tokio::test]
async fn a_held_write_is_committed_and_waits_for_its_release() {
    let server = std::sync::Arc::new(
        TestServer::start_with(|mut c| {
            c.fault_injection = true;
            c
        })
        .await,
    );
    let (status, _, _) = server
        .call(
            Method::POST,
            "/v1/_faults",
            None,
            Some(&json!({"hold_next": 1})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let e = event(&id(), "items", "held", "put", None, json!({"n": 1.0}));
    let pushing = {
        let server = server.clone();
        let e = e.clone();
        tokio::spawn(async move { server.push_ok(ALICE, vec![e]).await })
    };
    let mut held = json!(null);
    for _ in 0..200 {
        held = server
            .call(Method::GET, "/v1/_faults/held", None, None, &[])
            .await
            .2;
        if held["held"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(held, json!({"held": 1, "total": 1}));
    assert!(!pushing.is_finished(), "the answer waits");
    assert_eq!(
        server.history(ALICE, "items", "held").await.len(),
        1,
        "the change committed before the hold"
    );
    let (status, _, _) = server
        .call(Method::POST, "/v1/_faults/release", None, None, &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    let results = pushing.await.unwrap();
    assert_eq!(results[0]["status"], "applied");
    let (_, _, held) = server
        .call(Method::GET, "/v1/_faults/held", None, None, &[])
        .await;
    assert_eq!(held, json!({"held": 0, "total": 1}));
    // Used up: the next write is answered at once.
    assert_eq!(
        server.push_ok(ALICE, vec![e]).await[0]["status"],
        "duplicate"
    );
}

#[tokio::test]
async fn static_files_have_web_platform_types() {
    let files = tempfile::tempdir().unwrap();
    let www = files.path().join("www");
    let pkg = files.path().join("pkg");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(www.join("index.html"), "<!doctype html><title>app</title>").unwrap();
    std::fs::write(
        www.join("sw.js"),
        "self.addEventListener('fetch', () => {});",
    )
    .unwrap();
    std::fs::write(www.join("app.webmanifest"), "{}").unwrap();
    std::fs::write(pkg.join("outbox_sync_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(pkg.join("outbox_sync.js"), "export {};").unwrap();
    let server = TestServer::start_with(|mut c| {
        c.www = Some(www.clone());
        c.pkg = Some(pkg.clone());
        c
    })
    .await;
    for (path, mime) in [
        ("/", "text/html"),
        ("/sw.js", "text/javascript"),
        ("/app.webmanifest", "application/manifest+json"),
        ("/pkg/outbox_sync_bg.wasm", "application/wasm"),
        ("/pkg/outbox_sync.js", "text/javascript"),
    ] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(content_type.starts_with(mime), "{path}: {content_type}");
        assert_eq!(response.headers()["cache-control"], "no-cache");
    }
    let missing = server
        .http
        .get(server.url("/missing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cors_is_off_unless_an_origin_is_given() {
    let origin = "http://localhost:5173";
    let plain = TestServer::start().await;
    let response = plain
        .http
        .get(plain.url("/v1/health"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert!(!response
        .headers()
        .contains_key("access-control-allow-origin"));

    let open = TestServer::start_with(|mut c| {
        c.cors_origins = vec![origin.to_owned()];
        c
    })
    .await;
    let response = open
        .http
        .request(Method::OPTIONS, open.url("/v1/push"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], origin);
}
