//! Blobs over HTTP: resumable chunked uploads, offsets, hash checks,
//! downloads with `Range`, users kept apart, limits, changes that wait for
//! their blob, expiry, and an upload surviving a hard kill of the server.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::blob_store::{bytes, sha};
use crate::common::*;

/// Sends one chunk; returns the status, the `Upload-Offset` header and the body.
async fn send(
    server: &TestServer,
    token: &str,
    id: &str,
    size: usize,
    offset: usize,
    chunk: &[u8],
) -> (StatusCode, Option<u64>, Value) {
    let response = server
        .http
        .put(server.url(&format!(
            "/v1/blobs/{id}/upload?offset={offset}&size={size}"
        )))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(chunk.to_vec())
        .send()
        .await
        .unwrap();
    answer(response).await
}

async fn answer(response: reqwest::Response) -> (StatusCode, Option<u64>, Value) {
    let status = response.status();
    let offset = response
        .headers()
        .get("upload-offset")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let text = response.text().await.unwrap();
    (
        status,
        offset,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// How much of the blob the server holds, as `token` sees it.
async fn upload_status(server: &TestServer, token: &str, id: &str) -> Value {
    let (status, _, body) = server
        .call(
            Method::GET,
            &format!("/v1/blobs/{id}/upload"),
            Some(token),
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Uploads `data` whole in chunks of `chunk` bytes; returns its id.
async fn upload(server: &TestServer, token: &str, data: &[u8], chunk: usize) -> String {
    let id = sha(data);
    let mut offset = upload_status(server, token, &id).await["offset"]
        .as_u64()
        .unwrap() as usize;
    loop {
        let end = (offset + chunk).min(data.len());
        let (status, _, body) =
            send(server, token, &id, data.len(), offset, &data[offset..end]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["complete"] == true {
            return id;
        }
        offset = body["offset"].as_u64().unwrap() as usize;
    }
}

async fn download(
    server: &TestServer,
    token: &str,
    id: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = server
        .http
        .get(server.url(&format!("/v1/blobs/{id}")))
        .bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn reference(id: &str, size: usize) -> Value {
    json!({"$blob": {"sha256": id, "size": size, "type": "image/jpeg"}})
}

#[tokio::test]
async fn an_interrupted_upload_resumes_from_the_servers_offset() {
    let server = TestServer::start().await;
    let data = bytes(300_000, 3);
    let id = sha(&data);
    let fresh = upload_status(&server, ALICE, &id).await;
    assert_eq!(
        fresh,
        json!({"sha256": id, "size": null, "offset": 0, "complete": false})
    );
    for offset in [0, 64_000] {
        let (status, header, body) = send(
            &server,
            ALICE,
            &id,
            data.len(),
            offset,
            &data[offset..offset + 64_000],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(header, Some(offset as u64 + 64_000));
    }
    // The connection drops; later the client asks where to go on.
    let held = upload_status(&server, ALICE, &id).await;
    assert_eq!(
        held,
        json!({"sha256": id, "size": 300_000, "offset": 128_000, "complete": false})
    );
    let again = upload(&server, ALICE, &data, 100_000).await;
    assert_eq!(again, id);
    assert_eq!(upload_status(&server, ALICE, &id).await["complete"], true);
    let response = download(&server, ALICE, &id, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], format!("\"{id}\"").as_str());
    assert_eq!(response.headers()["content-length"], "300000");
    let body = response.bytes().await.unwrap();
    assert_eq!(sha(&body), id);
}

#[tokio::test]
async fn a_chunk_at_the_wrong_offset_gets_409_with_the_servers_offset() {
    let server = TestServer::start().await;
    let data = bytes(10_000, 4);
    let id = sha(&data);
    let (status, header, body) = send(&server, ALICE, &id, 10_000, 500, &data[500..1000]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "blob_offset_mismatch");
    assert_eq!(body["upload"]["offset"], 0);
    assert_eq!(header, Some(0));
    send(&server, ALICE, &id, 10_000, 0, &data[..4000]).await;
    // The same chunk again, and one beyond the end of what arrived.
    for wrong in [0, 6000] {
        let (status, header, body) = send(
            &server,
            ALICE,
            &id,
            10_000,
            wrong,
            &data[wrong..wrong + 1000],
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(
            body["upload"],
            json!({"sha256": id, "size": 10_000, "offset": 4000, "complete": false})
        );
        assert_eq!(header, Some(4000));
        assert!(
            body["error"]["message"].as_str().unwrap().contains("4000"),
            "{body}"
        );
    }
    // Another size for the upload in progress is refused, except at 0.
    let (status, _, body) = send(&server, ALICE, &id, 12_000, 4000, &data[4000..5000]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "blob_size_mismatch");
    let (status, _, body) = send(&server, ALICE, &id, 10_000, 9000, &data[4000..5001]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _, body) = send(&server, ALICE, &id, 10_000, 4000, &data[4000..]).await;
    assert_eq!(
        (status, body["complete"].clone()),
        (StatusCode::OK, json!(true)),
        "{body}"
    );
}

#[tokio::test]
async fn a_hash_mismatch_discards_the_upload() {
    let server = TestServer::start().await;
    let data = bytes(5000, 5);
    let id = sha(&data);
    let mut wrong = data.clone();
    wrong[4999] ^= 1;
    send(&server, ALICE, &id, 5000, 0, &wrong[..2500]).await;
    let (status, header, body) = send(&server, ALICE, &id, 5000, 2500, &wrong[2500..]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "blob_hash_mismatch");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&sha(&wrong)),
        "{body}"
    );
    assert_eq!(body["upload"]["offset"], 0);
    assert_eq!(header, Some(0));
    assert_eq!(upload_status(&server, ALICE, &id).await["offset"], 0);
    assert_eq!(
        download(&server, ALICE, &id, &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    // The real bytes then upload from the start.
    assert_eq!(upload(&server, ALICE, &data, 2500).await, id);
}

#[tokio::test]
async fn a_blob_uploaded_again_is_complete_at_once() {
    let server = TestServer::start().await;
    let data = bytes(20_000, 6);
    let id = upload(&server, ALICE, &data, 8000).await;
    // Another device sends the same file: the first chunk answers complete.
    let (status, header, body) = send(&server, ALICE, &id, 20_000, 0, &data[..8000]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"sha256": id, "size": 20_000, "offset": 20_000, "complete": true})
    );
    assert_eq!(header, Some(20_000));
    // Upper-case ids name the same blob.
    let upper = upload_status(&server, ALICE, &id.to_ascii_uppercase()).await;
    assert_eq!(upper["complete"], true);
    assert_eq!(upper["sha256"], id.as_str());
}

#[tokio::test]
async fn downloads_honour_range_if_range_and_etag() {
    let server = TestServer::start().await;
    let data = bytes(1000, 8);
    let id = upload(&server, ALICE, &data, 1000).await;
    let tag = format!("\"{id}\"");
    let cases: [(&str, &[u8], &str); 3] = [
        ("bytes=0-99", &data[..100], "bytes 0-99/1000"),
        ("bytes=990-", &data[990..], "bytes 990-999/1000"),
        ("bytes=-10", &data[990..], "bytes 990-999/1000"),
    ];
    for (range, want, content_range) in cases {
        let response = download(&server, ALICE, &id, &[("range", range)]).await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(response.headers()["content-range"], content_range);
        assert_eq!(response.headers()["accept-ranges"], "bytes");
        assert_eq!(&response.bytes().await.unwrap()[..], want, "{range}");
    }
    let past = download(&server, ALICE, &id, &[("range", "bytes=1000-")]).await;
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.headers()["content-range"], "bytes */1000");
    let body: Value = past.json().await.unwrap();
    assert_eq!(body["error"]["code"], "range_not_satisfiable");
    // If-Range with another tag: the whole blob.
    let stale = download(
        &server,
        ALICE,
        &id,
        &[("range", "bytes=0-9"), ("if-range", "\"other\"")],
    )
    .await;
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(stale.bytes().await.unwrap().len(), 1000);
    let fresh = download(
        &server,
        ALICE,
        &id,
        &[("range", "bytes=0-9"), ("if-range", &tag)],
    )
    .await;
    assert_eq!(fresh.status(), StatusCode::PARTIAL_CONTENT);
    let cached = download(&server, ALICE, &id, &[("if-none-match", &tag)]).await;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    let head = server
        .http
        .head(server.url(&format!("/v1/blobs/{id}")))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "1000");
    // A blob of several read pieces (1 MiB each) arrives whole.
    let large = bytes(2_500_000, 9);
    let large_id = upload(&server, ALICE, &large, 1_000_000).await;
    let whole = download(&server, ALICE, &large_id, &[])
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha(&whole), large_id);
    let tail = download(
        &server,
        ALICE,
        &large_id,
        &[("range", "bytes=1048570-2097160")],
    )
    .await;
    assert_eq!(
        &tail.bytes().await.unwrap()[..],
        &large[1_048_570..=2_097_160]
    );
}

#[tokio::test]
async fn blobs_are_kept_apart_per_user() {
    let server = TestServer::start().await;
    let data = bytes(3000, 10);
    let id = upload(&server, ALICE, &data, 3000).await;
    let bob = upload_status(&server, BOB, &id).await;
    assert_eq!(bob["offset"], 0);
    assert_eq!(bob["complete"], false);
    let response = download(&server, BOB, &id, &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "blob_not_found");
    let results = server
        .push_ok(
            BOB,
            vec![event(
                &crate::common::id(),
                "items",
                "i1",
                "put",
                None,
                json!({"photo": reference(&id, 3000)}),
            )],
        )
        .await;
    assert_eq!(results[0]["code"], "blob_missing", "{}", results[0]);
    // Bob's own upload of the same bytes is his.
    send(&server, BOB, &id, 3000, 0, &data[..1000]).await;
    assert_eq!(upload_status(&server, ALICE, &id).await["complete"], true);
    assert_eq!(upload_status(&server, BOB, &id).await["offset"], 1000);
    let (status, _, _) = server
        .call(
            Method::GET,
            &format!("/v1/blobs/{id}/upload"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn limits_and_bad_requests_get_clear_errors() {
    let server = TestServer::start_with(|mut config| {
        config.limits.max_blob_bytes = 100_000;
        config.limits.max_blob_chunk_bytes = 10_000;
        config
    })
    .await;
    let data = bytes(50_000, 11);
    let id = sha(&data);
    let (status, _, body) = send(&server, ALICE, &id, 100_001, 0, &data[..10]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "blob_too_large");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("100000"),
        "{body}"
    );
    let (status, _, body) = send(&server, ALICE, &id, 50_000, 0, &data[..10_001]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "blob_chunk_too_large");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("10000"),
        "{body}"
    );
    let (status, _, body) = send(&server, ALICE, &id, 5, 0, &data[..10]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "blob_chunk_past_end");
    assert_eq!(
        upload_status(&server, ALICE, &id).await["offset"],
        0,
        "nothing was kept"
    );
    for (path, code) in [
        (
            format!("/v1/blobs/{}/upload?offset=0&size=1", "xyz"),
            "invalid_blob_id",
        ),
        (format!("/v1/blobs/{id}/upload?size=10"), "invalid_offset"),
        (format!("/v1/blobs/{id}/upload?offset=0"), "invalid_size"),
        (
            format!("/v1/blobs/{id}/upload?offset=-1&size=10"),
            "invalid_offset",
        ),
    ] {
        let response = server
            .http
            .put(server.url(&path))
            .bearer_auth(ALICE)
            .body("x")
            .send()
            .await
            .unwrap();
        let (status, _, body) = answer(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}");
    }
    // Within the limits all is well (chunks may exceed nothing else).
    assert_eq!(upload(&server, ALICE, &data, 10_000).await, id);
}

#[tokio::test]
async fn a_change_waits_until_its_blob_is_complete() {
    let server = TestServer::start().await;
    let data = bytes(6000, 12);
    let id = sha(&data);
    let change = event(
        &crate::common::id(),
        "notes",
        "n1",
        "put",
        None,
        json!({"title": "pump", "photo": reference(&id, 6000)}),
    );
    let results = server.push_ok(ALICE, vec![change.clone()]).await;
    assert_eq!(results[0]["status"], "rejected");
    assert_eq!(results[0]["code"], "blob_missing");
    assert!(results[0]["message"]
        .as_str()
        .unwrap()
        .contains("stays queued"));
    assert!(
        server.pull_all(ALICE).await.is_empty(),
        "nothing was stored"
    );
    send(&server, ALICE, &id, 6000, 0, &data[..3000]).await;
    let results = server.push_ok(ALICE, vec![change.clone()]).await;
    assert_eq!(
        results[0]["code"], "blob_missing",
        "half uploaded is not enough"
    );
    send(&server, ALICE, &id, 6000, 3000, &data[3000..]).await;
    // The same event, retried, is applied: the refusal was not stored.
    let results = server.push_ok(ALICE, vec![change.clone()]).await;
    assert_eq!(results[0]["status"], "applied", "{}", results[0]);
    let pulled = server.pull_all(ALICE).await;
    assert_eq!(pulled[0]["data"]["photo"]["$blob"]["sha256"], id.as_str());
    // Wrong or malformed references are refused for good, the others of
    // the batch applied.
    let wrong_size = event(
        &crate::common::id(),
        "notes",
        "n2",
        "put",
        None,
        json!({"photo": reference(&id, 5999)}),
    );
    let malformed = event(
        &crate::common::id(),
        "notes",
        "n3",
        "patch",
        None,
        json!({"photo": {"$blob": {"sha256": "nope", "size": 1}}}),
    );
    let plain = event(
        &crate::common::id(),
        "notes",
        "n4",
        "put",
        None,
        json!({"title": "plain"}),
    );
    let results = server
        .push_ok(ALICE, vec![wrong_size, malformed, plain])
        .await;
    assert_eq!(
        results[0]["code"], "invalid_blob_reference",
        "{}",
        results[0]
    );
    assert_eq!(
        results[1]["code"], "invalid_blob_reference",
        "{}",
        results[1]
    );
    assert!(results[1]["message"]
        .as_str()
        .unwrap()
        .contains("field photo"));
    assert_eq!(results[2]["status"], "applied");
    // The single-record form answers 409 until the blob is there.
    let other = bytes(100, 13);
    let other_id = sha(&other);
    let path = "/v1/collections/items/records/r1";
    let body = json!({"file": reference(&other_id, 100)});
    let (status, _, answer) = server
        .call(Method::PUT, path, Some(ALICE), Some(&body), &[])
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "blob_missing");
    upload(&server, ALICE, &other, 100).await;
    let (status, _, answer) = server
        .call(Method::PUT, path, Some(ALICE), Some(&body), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn blobs_no_record_references_expire_after_the_key_retention() {
    let server = TestServer::start().await;
    let kept = bytes(1000, 14);
    let kept_id = upload(&server, ALICE, &kept, 1000).await;
    put(
        &server,
        ALICE,
        "items",
        "r1",
        None,
        json!({"photo": reference(&kept_id, 1000)}),
    )
    .await;
    let loose = bytes(1000, 15);
    let loose_id = upload(&server, ALICE, &loose, 1000).await;
    let partial = bytes(1000, 16);
    let partial_id = sha(&partial);
    send(&server, ALICE, &partial_id, 1000, 0, &partial[..500]).await;

    let expired = server
        .expire(outbox_sync_server::Retention::default())
        .await;
    assert_eq!(expired.blobs, 0, "all younger than the key retention");
    let now = outbox_sync_server::Retention {
        keys: std::time::Duration::ZERO,
        ..Default::default()
    };
    let expired = server.expire(now.clone()).await;
    assert_eq!(expired.blobs, 2, "the loose blob and the unfinished upload");
    assert_eq!(
        download(&server, ALICE, &kept_id, &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        download(&server, ALICE, &loose_id, &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        upload_status(&server, ALICE, &partial_id).await["offset"],
        0
    );
    // Once its record is deleted, the kept blob goes too.
    let results = server
        .push_ok(
            ALICE,
            vec![event(
                &crate::common::id(),
                "items",
                "r1",
                "delete",
                None,
                Value::Null,
            )],
        )
        .await;
    assert_eq!(results[0]["status"], "applied");
    assert_eq!(server.expire(now).await.blobs, 1);
    assert_eq!(
        download(&server, ALICE, &kept_id, &[]).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_chunk_whose_answer_was_lost_is_not_taken_twice() {
    let server = TestServer::start_with(|mut config| {
        config.fault_injection = true;
        config
    })
    .await;
    let data = bytes(8000, 17);
    let id = sha(&data);
    let faults = json!({"drop_next": 1, "drop_mode": "bad_gateway"});
    let (status, _, body) = server
        .call(Method::POST, "/v1/_faults", None, Some(&faults), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = send(&server, ALICE, &id, 8000, 0, &data[..4000]).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    // The client sends the chunk again: the server says it has it.
    let (status, header, body) = send(&server, ALICE, &id, 8000, 0, &data[..4000]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(header, Some(4000));
    let (status, _, body) = send(&server, ALICE, &id, 8000, 4000, &data[4000..]).await;
    assert_eq!(
        (status, body["complete"].clone()),
        (StatusCode::OK, json!(true))
    );
}
