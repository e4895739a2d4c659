//! Error answers: a status, a stable code and a sentence a person can act on,
//! always as `{"error": {"code", "message"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use outbox_sync_protocol::api::etag as version_etag;
use outbox_sync_protocol::{ErrorBody, ErrorResponse, Record, UploadStatus};

use crate::store::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable snake_case code.
    pub code: &'static str,
    /// A sentence a person can act on.
    pub message: String,
    /// The record as the server holds it (412, and 404 for a tombstone).
    pub current: Option<Box<Record>>,
    /// Seconds for `Retry-After` (429, 503, 409).
    pub retry_after: Option<u64>,
    /// How much of a blob the server holds (errors of a chunk upload), sent
    /// as `upload` beside `error` and as `Upload-Offset`.
    pub upload: Option<Box<UploadStatus>>,
}

impl ApiError {
    /// An error with no extras.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            current: None,
            retry_after: None,
            upload: None,
        }
    }

    /// Adds the upload's status (and `Upload-Offset`).
    pub fn with_upload(mut self, upload: UploadStatus) -> Self {
        self.upload = Some(Box::new(upload));
        self
    }

    /// Adds the current record (and its `ETag`).
    pub fn with_current(mut self, record: Record) -> Self {
        self.current = Some(Box::new(record));
        self
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// `400` for a body or query that does not parse.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `404` for a path the API does not have.
    pub fn no_route(path: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("There is no API endpoint at {path}; see docs/protocol.md for the paths."),
        )
    }

    /// `503` with `Retry-After`, or `500`, for a storage failure.
    pub fn store(error: StoreError) -> Self {
        match error {
            StoreError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The server is busy; retry after the delay in Retry-After.",
            )
            .retry_after(1),
            StoreError::Other(text) => {
                tracing::error!(error = %text, "storage failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "The server failed to read or write its data; retry later, and tell the operator if it persists.",
                )
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::store(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let tag = self
            .current
            .as_ref()
            .map(|record| version_etag(record.version));
        let body = ErrorResponse {
            error: ErrorBody {
                code: self.code.to_owned(),
                message: self.message,
            },
            current: self.current.map(|record| *record),
        };
        let offset = self.upload.as_ref().map(|upload| upload.offset);
        let mut response = match self.upload {
            None => (self.status, Json(body)).into_response(),
            Some(upload) => {
                let mut value = serde_json::to_value(&body).unwrap_or_default();
                if let (Some(object), Ok(upload)) =
                    (value.as_object_mut(), serde_json::to_value(*upload))
                {
                    object.insert("upload".to_owned(), upload);
                }
                (self.status, Json(value)).into_response()
            }
        };
        let headers = response.headers_mut();
        if let Some(offset) = offset {
            headers.insert(
                header::HeaderName::from_static("upload-offset"),
                HeaderValue::from(offset),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(tag) = tag.and_then(|t| HeaderValue::from_str(&t).ok()) {
            headers.insert(header::ETAG, tag);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
