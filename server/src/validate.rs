//! Checks an event before it reaches the store: names, lengths, payload
//! kinds and depth, and whether its collection exists.

use outbox_sync_protocol::api::is_uuid;
use outbox_sync_protocol::{Event, Op, Value};

use crate::config::{Collections, Limits, Policy};

/// Why an event can never be applied as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable snake_case code.
    pub code: &'static str,
    /// A sentence a person can act on.
    pub message: String,
}

impl Rejection {
    fn new(code: &'static str, message: String) -> Self {
        Rejection { code, message }
    }
}

/// Checks an idempotency key: a UUID for pushed events, otherwise 1 to
/// `max_key_len` printable ASCII characters.
pub fn key(key: &str, limits: &Limits, must_be_uuid: bool) -> Result<(), Rejection> {
    if must_be_uuid && !is_uuid(key) {
        return Err(Rejection::new(
            "invalid_event_id",
            format!(
                "event_id {:?} is not a UUID; give every event a new UUID (v7 recommended).",
                clip(key)
            ),
        ));
    }
    if key.is_empty()
        || key.len() > limits.max_key_len
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Rejection::new(
            "invalid_idempotency_key",
            format!(
                "The idempotency key must be 1 to {} printable ASCII characters without spaces; a UUID works.",
                limits.max_key_len
            ),
        ));
    }
    Ok(())
}

/// The idempotency key a client's id stands for: a UUID in lower case
/// (UUIDs are case-insensitive, so `ABCDEF01-…` and `abcdef01-…` are one
/// key), any other key as it is.
pub fn key_of(id: &str) -> String {
    if is_uuid(id) {
        id.to_ascii_lowercase()
    } else {
        id.to_owned()
    }
}

/// Checks everything about `event` except its key; returns the policy of
/// its collection.
pub fn event(
    event: &Event,
    limits: &Limits,
    collections: &Collections,
) -> Result<Policy, Rejection> {
    let policy = collection(&event.collection, limits, collections)?;
    record_id(&event.record_id, limits)?;
    payload(event.op, &event.payload, limits)?;
    Ok(policy)
}

/// Checks a collection name and returns its policy.
pub fn collection(
    name: &str,
    limits: &Limits,
    collections: &Collections,
) -> Result<Policy, Rejection> {
    let well_formed = !name.is_empty()
        && name.len() <= limits.max_collection_len
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if !well_formed {
        return Err(Rejection::new(
            "invalid_collection",
            format!(
                "Collection name {:?} is not allowed: use 1 to {} letters, digits, '_', '-' or '.'.",
                clip(name),
                limits.max_collection_len
            ),
        ));
    }
    collections.policy(name).ok_or_else(|| {
        let known: Vec<&str> = collections.named.keys().map(String::as_str).collect();
        Rejection::new(
            "unknown_collection",
            format!(
                "Collection {name:?} is not configured on this server (known: {}); \
                 check the name or add it with --collection {name}=lww.",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        )
    })
}

/// Checks a record id: 1 to `max_record_id_len` bytes, no control characters.
pub fn record_id(id: &str, limits: &Limits) -> Result<(), Rejection> {
    if id.is_empty() || id.len() > limits.max_record_id_len || id.chars().any(char::is_control) {
        return Err(Rejection::new(
            "invalid_record_id",
            format!(
                "record_id {:?} is not allowed: use 1 to {} bytes without control characters.",
                clip(id),
                limits.max_record_id_len
            ),
        ));
    }
    Ok(())
}

/// Checks that the payload suits the operation and is not nested too deeply.
pub fn payload(op: Op, payload: &Value, limits: &Limits) -> Result<(), Rejection> {
    let kind_ok = match op {
        Op::Put | Op::Patch => payload.as_object().is_some(),
        Op::Delete => *payload == Value::Null,
    };
    if !kind_ok {
        let wanted = match op {
            Op::Put => "the full record as an object",
            Op::Patch => "an object of the changed fields",
            Op::Delete => "null (or left out)",
        };
        return Err(Rejection::new(
            "invalid_payload",
            format!(
                "The payload of a {} must be {wanted}, not {}.",
                op.as_str(),
                payload.kind()
            ),
        ));
    }
    let depth = payload.depth();
    if depth > limits.max_depth {
        return Err(Rejection::new(
            "payload_too_deep",
            format!(
                "The payload nests {depth} levels deep; the limit is {}. Flatten the data.",
                limits.max_depth
            ),
        ));
    }
    Ok(())
}

/// At most 80 characters of untrusted text, for messages.
fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_with_actionable_messages() {
        let limits = Limits::default();
        let collections = Collections::default().with("notes", Policy::Merge);
        assert_eq!(
            collection("notes", &limits, &collections),
            Ok(Policy::Merge)
        );
        let unknown = collection("tasks", &limits, &collections).unwrap_err();
        assert_eq!(unknown.code, "unknown_collection");
        assert!(unknown.message.contains("notes"));
        assert_eq!(
            collection("a b", &limits, &collections).unwrap_err().code,
            "invalid_collection"
        );
        assert!(record_id(&"x".repeat(257), &limits).is_err());
        assert!(record_id("n\u{0}", &limits).is_err());
    }

    #[test]
    fn payload_kinds_follow_the_op() {
        let limits = Limits::default();
        assert!(payload(Op::Put, &Value::Object(Default::default()), &limits).is_ok());
        let err = payload(Op::Patch, &Value::from("x"), &limits).unwrap_err();
        assert!(err.message.contains("not a string"));
        assert!(payload(Op::Delete, &Value::Null, &limits).is_ok());
        let mut deep = Value::Null;
        for _ in 0..40 {
            deep = Value::Array(vec![deep]);
        }
        let mut object = outbox_sync_protocol::Map::new();
        object.insert("x".into(), deep);
        assert_eq!(
            payload(Op::Put, &Value::Object(object), &limits)
                .unwrap_err()
                .code,
            "payload_too_deep"
        );
    }

    #[test]
    fn keys_must_be_uuids_for_events() {
        let limits = Limits::default();
        assert!(key("0190a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b", &limits, true).is_ok());
        assert_eq!(
            key("abc", &limits, true).unwrap_err().code,
            "invalid_event_id"
        );
        assert!(key("abc", &limits, false).is_ok());
        assert!(key("a b", &limits, false).is_err());
    }

    #[test]
    fn uuids_are_one_key_in_any_case() {
        assert_eq!(
            key_of("ABCDEF01-2345-4789-ABCD-0123456789AB"),
            "abcdef01-2345-4789-abcd-0123456789ab"
        );
        assert_eq!(key_of("Order-17"), "Order-17");
    }
}
