//! The local view of a record: the server's version plus pending changes.

use outbox_sync_protocol::{Map, Value};
use serde::{Deserialize, Serialize};

use super::event::{Operation, OutboxEvent, RecordKey};

/// A record as the device sees it.
///
/// `base` is the last version the server confirmed; `local` is what the user
/// sees: `base` with every unconfirmed change applied in order.
///
/// Stored, a record whose base is its local view (every synced record) keeps
/// one copy: `base` is left out and `base_is_local` set, so reads and writes
/// carry half the bytes. Records stored with both still read as before.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "StoredRecord")]
pub struct LocalRecord {
    /// The collection, such as `"notes"`.
    pub collection: String,
    /// The record's id within the collection.
    pub record_id: String,
    /// The fields as the server last confirmed them (`None`: none, or deleted).
    pub base: Option<Map>,
    /// The server's version of `base`.
    pub base_version: Option<u64>,
    /// The fields the user sees (`None`: the record does not exist or was deleted).
    pub local: Option<Map>,
    /// How many of the record's changes are not confirmed yet.
    pub pending: u32,
    /// When the record last changed on this device.
    pub updated_at_ms: u64,
}

/// A record as stored: [`LocalRecord`] with `base` left out when it equals `local`.
#[derive(Deserialize)]
struct StoredRecord {
    collection: String,
    record_id: String,
    #[serde(default)]
    base: Option<Map>,
    #[serde(default)]
    base_is_local: bool,
    base_version: Option<u64>,
    local: Option<Map>,
    pending: u32,
    updated_at_ms: u64,
}

impl From<StoredRecord> for LocalRecord {
    fn from(stored: StoredRecord) -> Self {
        LocalRecord {
            base: if stored.base_is_local {
                stored.local.clone()
            } else {
                stored.base
            },
            collection: stored.collection,
            record_id: stored.record_id,
            base_version: stored.base_version,
            local: stored.local,
            pending: stored.pending,
            updated_at_ms: stored.updated_at_ms,
        }
    }
}

impl Serialize for LocalRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let base_is_local = self.base.is_some() && self.base == self.local;
        let mut stored = serializer.serialize_struct("LocalRecord", 7)?;
        stored.serialize_field("collection", &self.collection)?;
        stored.serialize_field("record_id", &self.record_id)?;
        if base_is_local {
            stored.serialize_field("base_is_local", &true)?;
        } else {
            stored.serialize_field("base", &self.base)?;
        }
        stored.serialize_field("base_version", &self.base_version)?;
        stored.serialize_field("local", &self.local)?;
        stored.serialize_field("pending", &self.pending)?;
        stored.serialize_field("updated_at_ms", &self.updated_at_ms)?;
        stored.end()
    }
}

impl LocalRecord {
    /// The record's key: its collection and id.
    pub fn key(&self) -> RecordKey {
        RecordKey {
            collection: self.collection.clone(),
            record_id: self.record_id.clone(),
        }
    }

    /// A record the device has never seen.
    pub fn empty(key: &RecordKey) -> Self {
        LocalRecord {
            collection: key.collection.clone(),
            record_id: key.record_id.clone(),
            base: None,
            base_version: None,
            local: None,
            pending: 0,
            updated_at_ms: 0,
        }
    }

    /// Applies a new local change on top of what the user sees.
    pub fn apply_local(&mut self, event: &OutboxEvent) {
        self.local = apply(self.local.take(), event.op, &event.payload);
        self.pending += 1;
        self.updated_at_ms = event.created_at_ms;
    }

    /// Records that the server confirmed `confirmed`, one of this record's
    /// changes, at `server_version`.
    ///
    /// The confirmed change moves into the base; the local view is recomputed
    /// from that base and the record's still `unconfirmed` events, in send
    /// order, so a later discard never loses what the server already has.
    pub fn confirm(
        &mut self,
        confirmed: &OutboxEvent,
        server_version: Option<u64>,
        unconfirmed: &[OutboxEvent],
    ) {
        self.base = apply(self.base.take(), confirmed.op, &confirmed.payload);
        if server_version.is_some() {
            self.base_version = server_version;
        }
        self.rebuild(unconfirmed);
    }

    /// Recomputes the local view from the base and the record's unconfirmed
    /// events, given in send order (after a discard, or a new base).
    pub fn rebuild<'a>(&mut self, unconfirmed: impl IntoIterator<Item = &'a OutboxEvent>) {
        self.local = self.base.clone();
        self.pending = 0;
        for event in unconfirmed {
            self.local = apply(self.local.take(), event.op, &event.payload);
            self.pending += 1;
        }
    }
}

/// Orders record ids as IndexedDB orders keys: by UTF-16 code units. `str`'s
/// own order (UTF-8 bytes) differs for characters past U+FFFF, which sort
/// before U+E000..U+FFFF in IndexedDB; a store that lists records in memory
/// sorts with this so its pages match the browser's.
pub fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The fields after applying one operation to `current`.
pub fn apply(current: Option<Map>, op: Operation, payload: &Value) -> Option<Map> {
    match (op, payload) {
        (Operation::Delete, _) => None,
        (Operation::Put, Value::Object(fields)) => Some(fields.clone()),
        (Operation::Patch, Value::Object(changes)) => {
            let mut fields = current.unwrap_or_default();
            for (name, value) in changes {
                match value {
                    Value::Null => fields.remove(name),
                    other => fields.insert(name.clone(), other.clone()),
                };
            }
            Some(fields)
        }
        // Validation refuses non-object payloads before they are stored.
        _ => current,
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use crate::core::event::NewEvent;
    use uuid::Uuid;

    #[test]
    fn ids_sort_by_utf16_code_units_like_indexeddb() {
        use std::cmp::Ordering::*;
        assert_eq!(
            id_order("\u{1F600}", "\u{FF5A}"),
            Less,
            "a surrogate pair first"
        );
        assert_eq!("\u{1F600}".cmp("\u{FF5A}"), Greater, "UTF-8 bytes disagree");
        assert_eq!(id_order("B", "a"), Less);
        assert_eq!(id_order("a", "ab"), Less);
        assert_eq!(id_order("x", "x"), Equal);
    }

    fn event(op: Operation, payload: Value) -> OutboxEvent {
        let change = NewEvent {
            collection: "c".into(),
            record_id: "r".into(),
            op,
            payload,
        };
        OutboxEvent::queued(change, Uuid::nil(), None, 7)
    }

    fn fields(pairs: &[(&str, &str)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect()
    }

    #[test]
    fn a_record_whose_base_is_its_local_view_is_stored_once() {
        let key = RecordKey {
            collection: "c".into(),
            record_id: "r".into(),
        };
        let mut record = LocalRecord::empty(&key);
        record.base = Some(fields(&[("a", "1")]));
        record.local = record.base.clone();
        let stored = serde_json::to_value(&record).unwrap();
        assert_eq!(stored.get("base"), None, "{stored}");
        assert_eq!(stored["base_is_local"], serde_json::json!(true));
        let back: LocalRecord = serde_json::from_value(stored).unwrap();
        assert_eq!(back, record);
        // A pending change: both kept.
        record.local = Some(fields(&[("a", "2")]));
        let stored = serde_json::to_value(&record).unwrap();
        assert!(stored.get("base").is_some() && stored.get("base_is_local").is_none());
        assert_eq!(
            serde_json::from_value::<LocalRecord>(stored).unwrap(),
            record
        );
        // Stored by an earlier version, with both copies.
        let earlier = serde_json::json!({
            "collection": "c", "record_id": "r", "base": { "a": "1" }, "base_version": 3,
            "local": { "a": "1" }, "pending": 0, "updated_at_ms": 9
        });
        let read: LocalRecord = serde_json::from_value(earlier).unwrap();
        assert_eq!(
            (read.base.clone(), read.base_version),
            (Some(fields(&[("a", "1")])), Some(3))
        );
    }

    #[test]
    fn patch_merges_and_null_removes() {
        let current = Some(fields(&[("a", "1"), ("b", "2")]));
        let mut patch = fields(&[("b", "3")]);
        patch.insert("a".into(), Value::Null);
        assert_eq!(
            apply(current, Operation::Patch, &Value::Object(patch)),
            Some(fields(&[("b", "3")]))
        );
    }

    #[test]
    fn local_view_follows_changes_and_confirmations() {
        let key = RecordKey {
            collection: "c".into(),
            record_id: "r".into(),
        };
        let mut record = LocalRecord::empty(&key);
        let put = event(Operation::Put, Value::Object(fields(&[("a", "1")])));
        let patch = event(Operation::Patch, Value::Object(fields(&[("b", "2")])));
        record.apply_local(&put);
        record.apply_local(&patch);
        assert_eq!(record.local, Some(fields(&[("a", "1"), ("b", "2")])));
        assert_eq!((record.pending, record.base.clone()), (2, None));
        record.confirm(&put, Some(1), std::slice::from_ref(&patch));
        assert_eq!(
            record.base,
            Some(fields(&[("a", "1")])),
            "the confirmed change is the base"
        );
        assert_eq!((record.base_version, record.pending), (Some(1), 1));
        record.confirm(&patch, Some(2), &[]);
        assert_eq!(
            (record.base_version, record.base.clone()),
            (Some(2), record.local.clone())
        );
    }

    #[test]
    fn discarding_after_a_confirmation_keeps_what_the_server_has() {
        let key = RecordKey {
            collection: "c".into(),
            record_id: "r".into(),
        };
        let mut record = LocalRecord::empty(&key);
        let put = event(Operation::Put, Value::Object(fields(&[("title", "t")])));
        let bad = event(Operation::Patch, Value::Object(fields(&[("title", "bad")])));
        let tag = event(Operation::Patch, Value::Object(fields(&[("tag", "x")])));
        for e in [&put, &bad, &tag] {
            record.apply_local(e);
        }
        record.confirm(&put, Some(1), &[bad.clone(), tag.clone()]);
        // The user discards `bad`: the rebuild starts from the confirmed title.
        record.rebuild([&tag]);
        assert_eq!(record.local, Some(fields(&[("title", "t"), ("tag", "x")])));
    }

    #[test]
    fn rebuild_drops_discarded_changes() {
        let key = RecordKey {
            collection: "c".into(),
            record_id: "r".into(),
        };
        let mut record = LocalRecord::empty(&key);
        record.base = Some(fields(&[("a", "base")]));
        let kept = event(Operation::Patch, Value::Object(fields(&[("b", "kept")])));
        record.apply_local(&event(Operation::Delete, Value::Null));
        record.apply_local(&kept);
        record.rebuild([&kept]);
        assert_eq!(record.local, Some(fields(&[("a", "base"), ("b", "kept")])));
        assert_eq!(record.pending, 1);
    }
}
