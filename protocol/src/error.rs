//! The body of every error answer.

use serde::{Deserialize, Serialize};

use crate::Record;

/// The body of every non-2xx answer: `{"error": {"code", "message"}}`,
/// plus `current` on `412` and on `404` for a deleted record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ErrorBody,
    /// The record as the server holds it, when that helps the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Record>,
}

/// A stable code and a human sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable snake_case code a program can match on.
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
}
