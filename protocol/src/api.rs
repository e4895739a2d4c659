//! Paths, headers and limits that both sides name.

/// `POST`: push a batch of events ([`crate::PushRequest`]).
pub const PUSH_PATH: &str = "/v1/push";
/// `GET ?since=TOKEN&limit=N`: pull changes ([`crate::ChangesResponse`]).
pub const CHANGES_PATH: &str = "/v1/changes";
/// `GET`: `200` when the server is up; needs no credentials.
pub const HEALTH_PATH: &str = "/v1/health";
/// Prefix of the single-record form:
/// `/v1/collections/{collection}/records/{record_id}`.
pub const COLLECTIONS_PATH: &str = "/v1/collections";

/// Request header carrying the idempotency key of a single-record write.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// Response header set to `true` when a stored outcome was replayed.
pub const IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";

/// The `ETag`/`If-Match` value for a version: the number in double quotes.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// Reads a version from an `ETag` or `If-Match` value: `"12"`, `W/"12"` or
/// a bare `12`.
pub fn parse_etag(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Whether `id` looks like a UUID in its usual text form
/// (`8-4-4-4-12` hex digits, any case).
pub fn is_uuid(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}
