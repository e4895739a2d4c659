//! Blobs: files (photos, videos, attachments) uploaded apart from records,
//! content-addressed by SHA-256, and referenced from a record's data.
//!
//! A record field refers to a blob with an object holding one key, `$blob`:
//! `{"$blob": {"sha256": "<64 hex>", "size": 1234, "type": "image/jpeg"}}`.
//! The server refuses a change referencing a blob it does not hold complete
//! for that user (code [`BLOB_MISSING`], retryable), so a change never
//! arrives before its files.

use serde::{Deserialize, Serialize};

use crate::{Map, Value};

/// The key of a blob reference object in record data.
pub const BLOB_KEY: &str = "$blob";

/// Prefix of the blob paths: `GET /v1/blobs/{sha256}` downloads,
/// `GET`/`PUT /v1/blobs/{sha256}/upload` resumes and sends chunks.
pub const BLOBS_PATH: &str = "/v1/blobs";

/// Response header with the number of bytes the server holds of an upload.
pub const UPLOAD_OFFSET: &str = "Upload-Offset";

/// The rejection code of a pushed change whose blob is not (completely)
/// uploaded yet. Unlike other rejections it is **retryable**: keep the
/// change queued, upload the blob, and push it again.
pub const BLOB_MISSING: &str = "blob_missing";

/// Rejection codes after which the same event may be pushed again later.
pub const RETRYABLE_REJECTIONS: &[&str] = &[BLOB_MISSING];

/// Whether a `rejected` outcome with this code may be retried as it is.
pub fn is_retryable_rejection(code: &str) -> bool {
    RETRYABLE_REJECTIONS.contains(&code)
}

/// A record's reference to a blob (the value under [`BLOB_KEY`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// SHA-256 of the bytes, 64 lower-case hex digits: the blob's id.
    pub sha256: String,
    /// Length in bytes.
    pub size: u64,
    /// The media type (`image/jpeg`), as the app gave it; may be empty.
    #[serde(rename = "type", default)]
    pub media_type: String,
}

impl BlobRef {
    /// The reference as a record field value (`{"$blob": {…}}`).
    pub fn to_value(&self) -> Value {
        let mut inner = Map::new();
        inner.insert("sha256".to_owned(), Value::String(self.sha256.clone()));
        inner.insert("size".to_owned(), Value::Number(self.size as f64));
        inner.insert("type".to_owned(), Value::String(self.media_type.clone()));
        let mut outer = Map::new();
        outer.insert(BLOB_KEY.to_owned(), Value::Object(inner));
        Value::Object(outer)
    }
}

/// How much of a blob the server holds: the answer of
/// `GET /v1/blobs/{sha256}/upload` and of every chunk `PUT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatus {
    /// The blob's id.
    pub sha256: String,
    /// The total size declared by the upload; `null` when nothing was sent.
    pub size: Option<u64>,
    /// Bytes received and confirmed (durable): the next chunk starts here.
    pub offset: u64,
    /// Whether the whole blob is stored and its hash verified.
    pub complete: bool,
}

/// Whether `text` is a blob id: 64 hex digits (compared in lower case).
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Why a `$blob` reference is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadBlobRef(pub String);

/// Every blob reference in `value` (at any depth), in document order, or
/// the first malformed one. An object is a reference when it has the key
/// [`BLOB_KEY`]; it must then have no other key, a 64-hex `sha256` (read
/// in lower case), a whole non-negative `size`, and a string `type` if any.
pub fn blob_refs(value: &Value) -> Result<Vec<BlobRef>, BadBlobRef> {
    let mut found = Vec::new();
    collect(value, "", &mut found)?;
    Ok(found)
}

fn collect(value: &Value, at: &str, found: &mut Vec<BlobRef>) -> Result<(), BadBlobRef> {
    match value {
        Value::Object(map) if map.contains_key(BLOB_KEY) => {
            found.push(parse_ref(map, at)?);
            Ok(())
        }
        Value::Object(map) => map
            .iter()
            .try_for_each(|(key, item)| collect(item, &join(at, key), found)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| collect(item, &join(at, &i.to_string()), found)),
        _ => Ok(()),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

fn parse_ref(map: &Map, at: &str) -> Result<BlobRef, BadBlobRef> {
    let place = if at.is_empty() {
        "the payload".to_owned()
    } else {
        format!("field {at}")
    };
    let bad = |why: &str| BadBlobRef(format!("The file reference in {place} {why}."));
    if map.len() != 1 {
        return Err(bad("must hold only the key $blob"));
    }
    let Some(Value::Object(inner)) = map.get(BLOB_KEY) else {
        return Err(bad("must be {\"$blob\": {\"sha256\", \"size\", \"type\"}}"));
    };
    let sha256 = match inner.get("sha256") {
        Some(Value::String(hash)) if is_sha256_hex(hash) => hash.to_ascii_lowercase(),
        _ => return Err(bad("needs sha256: the file's SHA-256 as 64 hex digits")),
    };
    let size = match inner.get("size") {
        Some(Value::Number(n))
            if *n >= 0.0 && n.fract() == 0.0 && *n <= 9_007_199_254_740_991.0 =>
        {
            *n as u64
        }
        _ => {
            return Err(bad(
                "needs size: the file's length in bytes, a whole number",
            ))
        }
    };
    let media_type = match inner.get("type") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(t)) => t.clone(),
        Some(_) => return Err(bad("has a type that is not a string")),
    };
    Ok(BlobRef {
        sha256,
        size,
        media_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    #[test]
    fn references_are_found_at_any_depth_and_round_trip() {
        let photo = BlobRef {
            sha256: "ab".repeat(32),
            size: 12,
            media_type: "image/jpeg".to_owned(),
        };
        let value = object(vec![
            ("title", Value::from("x")),
            ("photo", photo.to_value()),
            ("more", Value::Array(vec![Value::Null, photo.to_value()])),
        ]);
        assert_eq!(blob_refs(&value).unwrap(), vec![photo.clone(), photo]);
        assert_eq!(blob_refs(&Value::from("$blob")).unwrap(), vec![]);
    }

    #[test]
    fn malformed_references_name_the_field() {
        let inner = |pairs| object(vec![(BLOB_KEY, object(pairs))]);
        let hash = || Value::String("AB".repeat(32));
        let cases = [
            (inner(vec![("size", Value::Number(1.0))]), "sha256"),
            (
                inner(vec![
                    ("sha256", Value::from("abc")),
                    ("size", Value::Number(1.0)),
                ]),
                "sha256",
            ),
            (
                inner(vec![("sha256", hash()), ("size", Value::Number(1.5))]),
                "size",
            ),
            (
                inner(vec![("sha256", hash()), ("size", Value::Number(-1.0))]),
                "size",
            ),
            (
                inner(vec![
                    ("sha256", hash()),
                    ("size", Value::Number(1.0)),
                    ("type", Value::Number(1.0)),
                ]),
                "type",
            ),
            (object(vec![(BLOB_KEY, Value::Null)]), "$blob"),
        ];
        for (reference, word) in cases {
            let payload = object(vec![("photo", reference)]);
            let BadBlobRef(message) = blob_refs(&payload).unwrap_err();
            assert!(message.contains("field photo"), "{message}");
            assert!(message.contains(word), "{word}: {message}");
        }
        let upper = object(vec![(
            "p",
            inner(vec![("sha256", hash()), ("size", Value::Number(3.0))]),
        )]);
        assert_eq!(blob_refs(&upper).unwrap()[0].sha256, "ab".repeat(32));
    }

    #[test]
    fn only_blob_missing_is_retryable() {
        assert!(is_retryable_rejection(BLOB_MISSING));
        assert!(!is_retryable_rejection("invalid_payload"));
    }
}
