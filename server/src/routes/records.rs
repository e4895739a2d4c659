//! The single-record form:
//! `GET/PUT/PATCH/DELETE /v1/collections/{collection}/records/{record_id}`.
//!
//! `If-Match: "<version>"` makes a write conditional (any policy);
//! `If-None-Match: *` makes it create-only. Without either, `strict`
//! collections answer `428`, others apply the write (last write wins).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use outbox_sync_protocol::api::{etag, parse_etag, IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
use outbox_sync_protocol::blob::BLOB_MISSING;
use outbox_sync_protocol::{Event, Op, Outcome, Record, Value};

use super::blobs::check_references;
use super::{blocking, read_json, write, AppState, InFlight, Written};
use crate::auth::User;
use crate::config::Policy;
use crate::error::ApiError;
use crate::validate::{self, Rejection};

type Ids = Path<(String, String)>;

/// Handles `GET`: the record with its `ETag`, or `404`.
pub async fn get(
    State(state): State<AppState>,
    User(user): User,
    Path((collection, record_id)): Ids,
) -> Result<Response, ApiError> {
    check_names(&state, &collection, &record_id)?;
    let (c, r) = (collection.clone(), record_id.clone());
    let found = blocking(&state, move |store| store.get(&user, &c, &r)).await?;
    match found {
        Some(record) if !record.deleted => Ok(with_etag(StatusCode::OK, record, false)),
        Some(tombstone) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "record_deleted",
            format!(
                "Record {record_id} in {collection} was deleted (version {}).",
                tombstone.version
            ),
        )
        .with_current(tombstone)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "record_not_found",
            format!("There is no record {record_id} in {collection}."),
        )),
    }
}

/// Handles `PUT`: the body is the whole record.
pub async fn put(
    state: State<AppState>,
    user: User,
    ids: Ids,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let payload: Value = read_json(body, &state.limits)?;
    change(state, user, ids, headers, Op::Put, payload).await
}

/// Handles `PATCH`: the body holds the changed fields; `null` removes one.
pub async fn patch(
    state: State<AppState>,
    user: User,
    ids: Ids,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let payload: Value = read_json(body, &state.limits)?;
    change(state, user, ids, headers, Op::Patch, payload).await
}

/// Handles `DELETE`: leaves a tombstone.
pub async fn delete(
    state: State<AppState>,
    user: User,
    ids: Ids,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    change(state, user, ids, headers, Op::Delete, Value::Null).await
}

async fn change(
    State(state): State<AppState>,
    User(user): User,
    Path((collection, record_id)): Ids,
    headers: HeaderMap,
    op: Op,
    payload: Value,
) -> Result<Response, ApiError> {
    let configured = check_names(&state, &collection, &record_id)?;
    validate::payload(op, &payload, &state.limits).map_err(unprocessable)?;
    if let Some(rejection) = check_references(&state, &user, &[&payload])
        .await?
        .pop()
        .flatten()
    {
        let status = if rejection.code == BLOB_MISSING {
            StatusCode::CONFLICT
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        return Err(ApiError::new(status, rejection.code, rejection.message));
    }
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => {
            let key = value.to_str().unwrap_or("\u{0}").to_owned();
            validate::key(&key, &state.limits, false)
                .map_err(|r| ApiError::bad_request("invalid_idempotency_key", r.message))?;
            Some(validate::key_of(&key))
        }
    };
    let (base_version, policy) = precondition(&headers, configured)?;
    let event = Event {
        event_id: key.clone().unwrap_or_else(|| "-".to_owned()),
        collection,
        record_id,
        op,
        base_version,
        payload,
    };
    let (outcome, replayed) = match write(&state, &user, event, key, policy, InFlight::Refuse).await? {
        Written::Fresh(outcome) => (outcome, false),
        Written::Replayed(outcome) => (outcome, true),
        Written::KeyReused => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "This Idempotency-Key was already used for a different request; use a new key for every new change.",
            ))
        }
        Written::Busy => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_flight",
                "A request with this Idempotency-Key is still being processed; retry after the delay in Retry-After.",
            )
            .retry_after(1))
        }
    };
    match outcome {
        Outcome::Applied { record, .. } => Ok(with_etag(StatusCode::OK, record, replayed)),
        Outcome::Conflict {
            current, message, ..
        } => {
            let error = ApiError::new(StatusCode::PRECONDITION_FAILED, "version_mismatch", message)
                .with_current(current);
            if !replayed {
                return Err(error);
            }
            // The stored answer of the first request, marked as such.
            let mut response = error.into_response();
            response
                .headers_mut()
                .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
            Ok(response)
        }
        other => Err(ApiError::store(crate::store::StoreError::Other(format!(
            "unexpected stored outcome {}",
            other.status()
        )))),
    }
}

/// The base version and the policy a single-record write runs under.
fn precondition(
    headers: &HeaderMap,
    configured: Policy,
) -> Result<(Option<u64>, Policy), ApiError> {
    if let Some(value) = headers.get(header::IF_MATCH) {
        let version = value.to_str().ok().and_then(parse_etag).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_if_match",
                "If-Match must be a version in double quotes, as sent in ETag, e.g. If-Match: \"12\".",
            )
        })?;
        return Ok((Some(version), Policy::Strict));
    }
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        if value.as_bytes() != b"*" {
            return Err(ApiError::bad_request(
                "invalid_if_none_match",
                "Only If-None-Match: * (create only) is supported on writes.",
            ));
        }
        return Ok((None, Policy::Strict));
    }
    match configured {
        Policy::Strict => Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "This collection needs conditional writes: send If-Match with the record's ETag, or If-None-Match: * to create it.",
        )),
        _ => Ok((None, Policy::Lww)),
    }
}

/// The collection's policy, after checking both names (`404` for an
/// unknown collection, `400` for a malformed name).
pub(super) fn check_names(
    state: &AppState,
    collection: &str,
    record_id: &str,
) -> Result<Policy, ApiError> {
    let policy =
        validate::collection(collection, &state.limits, &state.collections).map_err(|r| {
            if r.code == "unknown_collection" {
                ApiError::new(StatusCode::NOT_FOUND, r.code, r.message)
            } else {
                ApiError::bad_request(r.code, r.message)
            }
        })?;
    validate::record_id(record_id, &state.limits)
        .map_err(|r| ApiError::bad_request(r.code, r.message))?;
    Ok(policy)
}

fn unprocessable(rejection: Rejection) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        rejection.code,
        rejection.message,
    )
}

fn with_etag(status: StatusCode, record: Record, replayed: bool) -> Response {
    let tag = HeaderValue::from_str(&etag(record.version)).expect("digits and quotes are valid");
    let mut response = (status, [(header::ETAG, tag)], Json(record)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}
