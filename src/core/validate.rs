//! Checks a change before anything is stored, so bad input loses nothing.

use outbox_sync_protocol::Value;

use super::error::ValidationError;
use super::event::{NewEvent, Operation};

/// The sizes the outbox accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest collection name, in bytes.
    pub max_collection_len: usize,
    /// Longest record id, in bytes.
    pub max_record_id_len: usize,
    /// Deepest nesting of arrays and objects in a payload.
    pub max_payload_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // The reference server's limits: a change it would refuse is refused here,
            // before it is stored, so the user hears about it at once.
            max_collection_len: 64,
            max_record_id_len: 256,
            max_payload_depth: 32,
        }
    }
}

impl Limits {
    /// Checks a change; the first problem found is returned.
    pub fn check(&self, change: &NewEvent) -> Result<(), ValidationError> {
        self.check_key(&change.collection, &change.record_id)?;
        match (change.op, &change.payload) {
            (Operation::Delete, Value::Null) => Ok(()),
            (Operation::Delete, _) => Err(ValidationError::DeleteWithPayload),
            (Operation::Patch, Value::Object(fields)) if fields.is_empty() => {
                Err(ValidationError::EmptyPatch)
            }
            (_, Value::Object(_)) => {
                let depth = change.payload.depth();
                if depth > self.max_payload_depth {
                    return Err(ValidationError::PayloadTooDeep {
                        depth,
                        max: self.max_payload_depth,
                    });
                }
                Ok(())
            }
            (op, other) => Err(ValidationError::PayloadNotObject {
                op: op.as_str(),
                found: other.kind(),
            }),
        }
    }

    /// Checks a record's collection and id.
    pub fn check_key(&self, collection: &str, record_id: &str) -> Result<(), ValidationError> {
        if collection.is_empty() {
            return Err(ValidationError::EmptyCollection);
        }
        if collection.len() > self.max_collection_len {
            return Err(ValidationError::CollectionTooLong {
                len: collection.len(),
                max: self.max_collection_len,
            });
        }
        if let Some(bad) = collection
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_-.".contains(*c)))
        {
            return Err(ValidationError::CollectionChars { found: bad });
        }
        if record_id.is_empty() {
            return Err(ValidationError::EmptyRecordId);
        }
        if record_id.len() > self.max_record_id_len {
            return Err(ValidationError::RecordIdTooLong {
                len: record_id.len(),
                max: self.max_record_id_len,
            });
        }
        if record_id.chars().any(char::is_control) {
            return Err(ValidationError::RecordIdControlChars);
        }
        Ok(())
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use outbox_sync_protocol::Map;

    fn change(op: Operation, payload: Value) -> NewEvent {
        NewEvent {
            collection: "notes".into(),
            record_id: "n1".into(),
            op,
            payload,
        }
    }

    fn object(field: &str) -> Value {
        Value::Object(Map::from([(field.to_owned(), Value::from("x"))]))
    }

    #[test]
    fn accepts_well_formed_changes() {
        let limits = Limits::default();
        assert_eq!(
            limits.check(&change(Operation::Put, object("title"))),
            Ok(())
        );
        assert_eq!(
            limits.check(&change(Operation::Put, Value::Object(Map::new()))),
            Ok(())
        );
        assert_eq!(
            limits.check(&change(Operation::Patch, object("title"))),
            Ok(())
        );
        assert_eq!(
            limits.check(&change(Operation::Delete, Value::Null)),
            Ok(())
        );
    }

    #[test]
    fn refuses_bad_payloads_with_a_reason() {
        let limits = Limits::default();
        let err = limits
            .check(&change(Operation::Put, Value::Array(vec![])))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "A put needs an object of fields as its payload, but got an array."
        );
        assert_eq!(
            limits.check(&change(Operation::Patch, Value::Object(Map::new()))),
            Err(ValidationError::EmptyPatch)
        );
        assert_eq!(
            limits.check(&change(Operation::Delete, object("x"))),
            Err(ValidationError::DeleteWithPayload)
        );
        assert!(limits.check(&change(Operation::Put, Value::Null)).is_err());
    }

    #[test]
    fn refuses_bad_keys() {
        let limits = Limits::default();
        assert_eq!(
            limits.check_key("", "a"),
            Err(ValidationError::EmptyCollection)
        );
        assert_eq!(
            limits.check_key("a", ""),
            Err(ValidationError::EmptyRecordId)
        );
        let long = "x".repeat(257);
        assert_eq!(
            limits.check_key("a", &long),
            Err(ValidationError::RecordIdTooLong { len: 257, max: 256 })
        );
        assert!(limits.check_key(&long, "a").is_err());
        assert_eq!(
            limits.check_key("my notes", "a"),
            Err(ValidationError::CollectionChars { found: ' ' })
        );
        assert_eq!(
            limits.check_key("notes", "a\nb"),
            Err(ValidationError::RecordIdControlChars)
        );
        assert_eq!(limits.check_key("field-notes_v2.x", "any id: ü ✓"), Ok(()));
    }

    #[test]
    fn refuses_deep_nesting() {
        let mut payload = Value::Null;
        for _ in 0..40 {
            payload = object_with("a", payload);
        }
        let err = Limits::default()
            .check(&change(Operation::Put, payload))
            .unwrap_err();
        assert_eq!(err, ValidationError::PayloadTooDeep { depth: 40, max: 32 });
    }

    fn object_with(field: &str, value: Value) -> Value {
        Value::Object(Map::from([(field.to_owned(), value)]))
    }
}
