//! Blobs over HTTP, per user:
//!
//! - `GET /v1/blobs/{sha256}/upload`: how much of the blob the server holds;
//! - `PUT /v1/blobs/{sha256}/upload?offset=N&size=TOTAL`: one chunk (the
//!   raw bytes), taken only at the server's offset;
//! - `GET`/`HEAD /v1/blobs/{sha256}`: the complete blob, `Range` honoured;
//!
//! and the check every write makes: a change referencing a blob is written
//! only when the user holds that blob complete.

use std::collections::BTreeSet;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use outbox_sync_protocol::blob::{blob_refs, is_sha256_hex, BLOB_KEY, BLOB_MISSING};
use outbox_sync_protocol::{UploadStatus, Value};

use super::{now_ms, AppState};
use crate::auth::User;
use crate::blobs::range::{wanted, Wanted};
use crate::blobs::{BlobState, BlobStore, Chunk, ChunkError, Taken};
use crate::error::ApiError;
use crate::store::StoreError;
use crate::validate::Rejection;

/// How many bytes one read of a download takes from the store.
const PIECE: u64 = 1 << 20;

/// Handles `GET /v1/blobs/{sha256}/upload`.
pub async fn upload_status(
    State(state): State<AppState>,
    User(user): User,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    let sha256 = blob_id(&sha256)?;
    let id = sha256.clone();
    let found = blocking(&state, move |blobs| blobs.state(&user, &id)).await?;
    Ok(status_answer(StatusCode::OK, status(&sha256, found)))
}

/// Handles `PUT /v1/blobs/{sha256}/upload?offset=N&size=TOTAL`.
pub async fn put_chunk(
    State(state): State<AppState>,
    User(user): User,
    Path(sha256): Path<String>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let sha256 = blob_id(&sha256)?;
    let offset = number(query.as_deref(), "offset")?;
    let size = number(query.as_deref(), "size")?;
    let limits = &state.limits;
    if size > limits.max_blob_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "blob_too_large",
            format!(
                "This file is {size} bytes; the server accepts files up to {} bytes.",
                limits.max_blob_bytes
            ),
        ));
    }
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "blob_chunk_too_large",
                format!(
                    "This chunk is larger than the server's limit of {} bytes per chunk; send smaller chunks.",
                    limits.max_blob_chunk_bytes
                ),
            )
        } else {
            ApiError::bad_request(
                "unreadable_body",
                "The chunk broke off while it was being read; ask for the upload's offset and send it again.",
            )
        }
    })?;
    let length = bytes.len() as u64;
    let (who, id, sent) = (user.clone(), sha256.clone(), bytes.clone());
    let answer = tokio::task::spawn_blocking({
        let blobs = state.blobs.clone();
        move || {
            let taken = blobs.append(Chunk {
                user: &who,
                sha256: &id,
                size,
                offset,
                bytes: &sent,
                now_ms: now_ms(),
            });
            // Logged here, with the write: a client gone meanwhile (a
            // stopped worker, a dropped connection) drops the request's
            // future, but the chunk is written all the same.
            log_taken(&taken, &who, &id, offset, length, size);
            taken
        }
    })
    .await
    .map_err(|e| ApiError::store(StoreError::Other(format!("blob task failed: {e}"))))?;
    let refused = |code: &'static str| {
        tracing::info!(
            user,
            sha256,
            offset,
            length,
            size,
            code,
            "blob chunk refused"
        );
    };
    match answer {
        Ok(Taken { state, .. }) => Ok(status_answer(StatusCode::OK, status(&sha256, state))),
        Err(ChunkError::WrongOffset(held)) => {
            refused("blob_offset_mismatch");
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "blob_offset_mismatch",
                format!(
                    "This chunk starts at byte {offset}, but the server holds {} bytes of this file; send the chunk that starts there.",
                    held.offset()
                ),
            )
            .with_upload(status(&sha256, held)))
        }
        Err(ChunkError::SizeMismatch(held)) if offset + length > size => {
            refused("blob_chunk_past_end");
            Err(ApiError::bad_request(
                "blob_chunk_past_end",
                format!(
                    "This chunk ends at byte {}, past the file's size of {size} bytes.",
                    offset + length
                ),
            )
            .with_upload(status(&sha256, held)))
        }
        Err(ChunkError::SizeMismatch(held)) => {
            refused("blob_size_mismatch");
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "blob_size_mismatch",
                format!(
                    "The upload of this file in progress is for {} bytes, not {size}; continue it with its size, or restart it with a chunk at offset 0.",
                    held.size().unwrap_or(0)
                ),
            )
            .with_upload(status(&sha256, held)))
        }
        Err(ChunkError::HashMismatch { actual }) => {
            refused("blob_hash_mismatch");
            tracing::warn!(
                user,
                sha256,
                actual,
                "blob discarded: its bytes hash to another id"
            );
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "blob_hash_mismatch",
                format!(
                    "The file's bytes do not match its SHA-256 (they hash to {actual}); the upload was discarded: read the file again and upload it from the start."
                ),
            )
            .with_upload(status(&sha256, BlobState::Absent)))
        }
        Err(ChunkError::Store(error)) => Err(ApiError::store(error)),
    }
}

/// Logs a chunk the store took: `blob chunk` when it was written (one line
/// per write, with the user, file, offset and length), `blob chunk skipped`
/// when the file was complete before it.
fn log_taken(
    taken: &Result<Taken, ChunkError>,
    user: &str,
    sha256: &str,
    offset: u64,
    length: u64,
    size: u64,
) {
    match taken {
        Ok(Taken { written: false, .. }) => tracing::info!(
            user,
            sha256,
            offset,
            length,
            size,
            "blob chunk skipped: already complete"
        ),
        Ok(Taken { state, .. }) => tracing::info!(
            user,
            sha256,
            offset,
            length,
            size,
            received = state.offset(),
            complete = matches!(state, BlobState::Complete { .. }),
            "blob chunk"
        ),
        Err(_) => {}
    }
}

/// Handles `GET` and `HEAD /v1/blobs/{sha256}`.
pub async fn download(
    State(state): State<AppState>,
    User(user): User,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let sha256 = blob_id(&sha256)?;
    let (who, id) = (user.clone(), sha256.clone());
    let found = blocking(&state, move |blobs| blobs.state(&who, &id)).await?;
    let BlobState::Complete { size } = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "blob_not_found",
            "No complete file with this SHA-256 is stored for you; upload it first (GET …/upload says how much the server holds).",
        ));
    };
    let tag = format!("\"{sha256}\"");
    let tag_value = HeaderValue::from_str(&tag).expect("hex digits and quotes are valid");
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let cached = header_text(header::IF_NONE_MATCH)
        .is_some_and(|list| list.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    if cached {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag_value)]).into_response());
    }
    let range = match header_text(header::IF_RANGE) {
        Some(condition) if condition.trim() != tag => None,
        _ => header_text(header::RANGE),
    };
    let (status, start, end) = match wanted(range, size) {
        Wanted::Whole => (StatusCode::OK, 0, size),
        Wanted::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end + 1),
        Wanted::Unsatisfiable => {
            let mut refused = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("The file has {size} bytes; ask for a range inside them."),
            )
            .into_response();
            let content_range = HeaderValue::from_str(&format!("bytes */{size}")).expect("digits");
            refused
                .headers_mut()
                .insert(header::CONTENT_RANGE, content_range);
            return Ok(refused);
        }
    };
    let body = Body::from_stream(pieces(state.blobs.clone(), user, sha256, start, end));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(header::ETAG, tag_value);
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        let content_range = format!("bytes {start}-{}/{size}", end - 1);
        out.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&content_range).expect("digits"),
        );
    }
    Ok(response)
}

/// The bytes `start..end`, read from the store a piece at a time, so a
/// large download never sits whole in memory.
fn pieces(
    blobs: std::sync::Arc<dyn BlobStore>,
    user: String,
    sha256: String,
    start: u64,
    end: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(start, move |at| {
        let (blobs, user, sha256) = (blobs.clone(), user.clone(), sha256.clone());
        async move {
            if at >= end {
                return None;
            }
            let len = PIECE.min(end - at);
            let read =
                tokio::task::spawn_blocking(move || blobs.read(&user, &sha256, at, len)).await;
            match read {
                Ok(Ok(Some(bytes))) if bytes.len() as u64 == len => {
                    Some((Ok(Bytes::from(bytes)), at + len))
                }
                // Expired (or failed) while being sent: end the response
                // short, so the client sees a broken download.
                _ => Some((
                    Err(std::io::Error::other("the blob could not be read")),
                    end,
                )),
            }
        }
    })
}

/// Checks every `$blob` reference of `payloads` (one per change) for
/// `user`: `None` when each names a blob the user holds complete (each
/// confirmed, so it cannot expire before the change is written), else why
/// not: `blob_missing` (retryable: upload it, then send the change again)
/// or `invalid_blob_reference`.
pub async fn check_references(
    state: &AppState,
    user: &str,
    payloads: &[&Value],
) -> Result<Vec<Option<Rejection>>, ApiError> {
    // Most changes hold no file: one walk that allocates nothing tells
    // them apart, and a push without any answers at once (no store call).
    let parsed: Vec<_> = payloads
        .iter()
        .map(|payload| {
            if mentions_blob(payload) {
                blob_refs(payload)
            } else {
                Ok(Vec::new())
            }
        })
        .collect();
    let wanted: BTreeSet<String> = parsed
        .iter()
        .flat_map(|refs| refs.iter().flatten().map(|r| r.sha256.clone()))
        .collect();
    if wanted.is_empty() && parsed.iter().all(Result::is_ok) {
        return Ok(vec![None; payloads.len()]);
    }
    let ids: Vec<String> = wanted.into_iter().collect();
    let (who, asked) = (user.to_owned(), ids.clone());
    let sizes = blocking(state, move |blobs| blobs.confirm(&who, &asked, now_ms())).await?;
    let held = |sha256: &str| {
        ids.binary_search_by(|id| id.as_str().cmp(sha256))
            .ok()
            .and_then(|i| sizes[i])
    };
    Ok(parsed
        .into_iter()
        .map(|refs| {
            let refs = match refs {
                Ok(refs) => refs,
                Err(bad) => return Some(rejection("invalid_blob_reference", bad.0)),
            };
            refs.iter().find_map(|blob| match held(&blob.sha256) {
                None => {
                    tracing::info!(user, sha256 = blob.sha256, "change refused: blob not uploaded");
                    Some(rejection(
                        BLOB_MISSING,
                        "This change refers to a file that has not finished uploading; it stays queued and is sent again once the file is uploaded.".to_owned(),
                    ))
                }
                Some(size) if size != blob.size => Some(rejection(
                    "invalid_blob_reference",
                    format!(
                        "A file reference says {} bytes, but the uploaded file with that SHA-256 has {size}; correct the size.",
                        blob.size
                    ),
                )),
                Some(_) => None,
            })
        })
        .collect())
}

/// Whether any object in `value` has the key `$blob`: only such a payload
/// can hold a reference, good or malformed (`blob_refs` finds or refuses
/// them).
fn mentions_blob(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.contains_key(BLOB_KEY) || map.values().any(mentions_blob),
        Value::Array(items) => items.iter().any(mentions_blob),
        _ => false,
    }
}

fn rejection(code: &'static str, message: String) -> Rejection {
    Rejection { code, message }
}

fn status(sha256: &str, state: BlobState) -> UploadStatus {
    UploadStatus {
        sha256: sha256.to_owned(),
        size: state.size(),
        offset: state.offset(),
        complete: matches!(state, BlobState::Complete { .. }),
    }
}

fn status_answer(code: StatusCode, upload: UploadStatus) -> Response {
    let offset = HeaderValue::from(upload.offset);
    (
        code,
        [
            (header::HeaderName::from_static("upload-offset"), offset),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Json(upload),
    )
        .into_response()
}

/// The path's blob id in lower case, or `400 invalid_blob_id`.
fn blob_id(raw: &str) -> Result<String, ApiError> {
    if is_sha256_hex(raw) {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(ApiError::bad_request(
            "invalid_blob_id",
            "A file's id is its SHA-256 as 64 hex digits; check the path.",
        ))
    }
}

/// A whole number from the query, or `400 invalid_<name>`.
fn number(query: Option<&str>, name: &'static str) -> Result<u64, ApiError> {
    let value = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value);
    let code = if name == "offset" {
        "invalid_offset"
    } else {
        "invalid_size"
    };
    match value.map(str::parse::<u64>) {
        Some(Ok(n)) => Ok(n),
        _ => Err(ApiError::bad_request(
            code,
            format!("Send the chunk with ?offset=<first byte>&size=<file size in bytes>: {name} is missing or not a whole number."),
        )),
    }
}

async fn blocking<T: Send + 'static>(
    state: &AppState,
    call: impl FnOnce(&dyn BlobStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let blobs = state.blobs.clone();
    tokio::task::spawn_blocking(move || call(blobs.as_ref()))
        .await
        .map_err(|e| ApiError::store(StoreError::Other(format!("blob task failed: {e}"))))?
        .map_err(ApiError::store)
}
