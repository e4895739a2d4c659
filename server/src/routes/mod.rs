//! The HTTP surface: shared state, the router, JSON body reading and the
//! write path that push and the single-record form share.

mod blobs;
mod history;
mod pull;
mod push;
mod records;

use std::ops::Deref;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::routing::{any, get, post};
use axum::Router;
use outbox_sync_protocol::{Event, Outcome};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::auth::Tokens;
use crate::blobs::BlobStore;
use crate::config::{Collections, Limits, Policy};
use crate::error::ApiError;
use crate::faults::Faults;
use crate::keys::KeyLocks;
use crate::store::{Applied, Batch, Store, StoreError, Write};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub struct Shared {
    /// Durable storage.
    pub store: Arc<dyn Store>,
    /// Blob storage.
    pub blobs: Arc<dyn BlobStore>,
    /// Bearer tokens.
    pub tokens: Tokens,
    /// Known collections and their policies.
    pub collections: Collections,
    /// Request limits.
    pub limits: Limits,
    /// Keys in flight.
    pub keys: KeyLocks,
    /// Runtime fault settings, when fault injection is enabled.
    pub faults: Option<Arc<Faults>>,
}

impl AppState {
    /// Wraps the shared state.
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The API routes, with fault injection when enabled. Static files are
/// added by the caller.
pub fn api(state: AppState) -> Router {
    let record = "/v1/collections/{collection}/records/{record_id}";
    let mut api = Router::new()
        .route("/v1/push", post(push::push))
        .route("/v1/changes", get(pull::changes))
        .route(
            record,
            get(records::get)
                .put(records::put)
                .patch(records::patch)
                .delete(records::delete),
        )
        .route(
            "/v1/records/{collection}/{record_id}/history",
            get(history::history),
        )
        .route("/v1/blobs/{sha256}", get(blobs::download))
        .route(
            "/v1/blobs/{sha256}/upload",
            get(blobs::upload_status)
                .put(blobs::put_chunk)
                .layer(DefaultBodyLimit::max(state.limits.max_blob_chunk_bytes)),
        );
    if let Some(faults) = &state.faults {
        api = api.layer(axum::middleware::from_fn_with_state(
            faults.clone(),
            crate::faults::layer,
        ));
        api = api.merge(crate::faults::routes(faults.clone()));
    }
    api.route("/v1/health", get(health))
        .route("/v1", any(no_route))
        .route("/v1/{*rest}", any(no_route))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError::no_route(uri.path())
}

async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not accept this method; see docs/protocol.md.",
            uri.path()
        ),
    )
}

/// Reads a JSON body, naming the offending field when a type is wrong.
pub fn read_json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limits: &Limits,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "The request body is larger than the server's limit of {} bytes; send less data per request.",
                    limits.max_body_bytes
                ),
            )
        } else {
            ApiError::bad_request("unreadable_body", "The request body could not be read; send it again.")
        }
    })?;
    // The fast path: a well-formed body parses once, without tracking
    // where the parser is; only a body that fails is parsed again to name
    // the offending field.
    if let Ok(value) = serde_json::from_slice(&bytes) {
        return Ok(value);
    }
    let not_json = |inner: serde_json::Error| {
        ApiError::bad_request(
            "invalid_json",
            format!("The request body is not valid JSON ({inner}); send a JSON document."),
        )
    };
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if !inner.is_data() {
            return not_json(inner);
        }
        let place = if path == "." {
            "body".to_owned()
        } else {
            format!("field {path}")
        };
        ApiError::bad_request("invalid_field", format!("The {place} is wrong: {inner}."))
    })?;
    deserializer.end().map_err(not_json)?;
    Ok(value)
}

/// How a write treats a key that is already in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InFlight {
    /// Wait for the other request, then answer as a duplicate.
    Wait,
    /// Refuse at once (`409`).
    Refuse,
}

/// What a write came to.
pub enum Written {
    /// Decided now.
    Fresh(Outcome),
    /// The stored outcome of an earlier request with the same key.
    Replayed(Outcome),
    /// The key was used before with a different request.
    KeyReused,
    /// The key is being applied by another request right now.
    Busy,
}

/// Applies one validated event for `user`, holding its key while it runs.
pub async fn write(
    state: &AppState,
    user: &str,
    event: Event,
    key: Option<String>,
    policy: Policy,
    in_flight: InFlight,
) -> Result<Written, ApiError> {
    let _held = match (&key, in_flight) {
        (None, _) => None,
        (Some(key), InFlight::Wait) => Some(state.keys.lock(user, key).await),
        (Some(key), InFlight::Refuse) => match state.keys.try_lock(user, key) {
            Some(held) => Some(held),
            None => return Ok(Written::Busy),
        },
    };
    let hash = request_hash(&event);
    let batch = Batch {
        user: user.to_owned(),
        writes: vec![Write {
            event,
            key,
            request_hash: hash,
            policy,
        }],
        now_ms: now_ms(),
    };
    let (batch, mut written) = apply_batch(state, batch).await?;
    let written = written.pop().ok_or_else(|| {
        ApiError::store(StoreError::Other(
            "the store answered no outcome".to_owned(),
        ))
    })?;
    log(user, &batch.writes[0].event, &written);
    Ok(written)
}

/// Applies a batch's events in one store transaction (shared with other
/// requests' batches where the store groups commits); one answer per
/// event, in order. The batch comes back for logging.
pub async fn apply_batch(
    state: &AppState,
    batch: Batch,
) -> Result<(Arc<Batch>, Vec<Written>), ApiError> {
    let batch = Arc::new(batch);
    let applied = match state.store.apply_queued(batch.clone()) {
        // SQLite: the writer thread answers; no blocking thread waits.
        Some(queued) => queued.await?,
        None => {
            let store = state.store.clone();
            let sent = batch.clone();
            tokio::task::spawn_blocking(move || store.apply(sent))
                .await
                .map_err(|e| {
                    ApiError::store(StoreError::Other(format!("apply task failed: {e}")))
                })??
        }
    };
    if applied.len() != batch.writes.len() {
        return Err(ApiError::store(StoreError::Other(format!(
            "the store answered {} outcomes for {} events",
            applied.len(),
            batch.writes.len()
        ))));
    }
    let written = applied
        .into_iter()
        .map(|applied| match applied {
            Applied::Fresh(outcome) => Written::Fresh(outcome),
            Applied::Replayed(outcome) => Written::Replayed(outcome),
            Applied::KeyReused => Written::KeyReused,
        })
        .collect();
    Ok((batch, written))
}

/// Logs what became of an event.
pub fn log(user: &str, event: &Event, written: &Written) {
    let (status, outcome) = match written {
        Written::Fresh(outcome) => (outcome.status(), Some(outcome)),
        Written::Replayed(outcome) => ("duplicate", Some(outcome)),
        Written::KeyReused => ("key_reused", None),
        Written::Busy => ("in_flight", None),
    };
    let version = match outcome.map(Outcome::effective) {
        Some(Outcome::Applied { version, .. }) => Some(*version),
        _ => None,
    };
    tracing::info!(
        event_id = %event.event_id,
        user,
        collection = %event.collection,
        record_id = %event.record_id,
        op = event.op.as_str(),
        status,
        version,
        "event"
    );
}

/// SHA-256 of everything that defines the request except its key.
pub fn request_hash(event: &Event) -> String {
    let canonical = serde_json::to_vec(&(
        &event.collection,
        &event.record_id,
        event.op,
        event.base_version,
        &event.payload,
    ))
    .unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs a blocking store call on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    state: &AppState,
    call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || call(store.as_ref()))
        .await
        .map_err(|e| ApiError::store(StoreError::Other(format!("store task failed: {e}"))))?
        .map_err(ApiError::store)
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}
