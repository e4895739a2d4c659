//! Conflicts: what the user chooses between, and the change each choice makes.

use outbox_sync_protocol::{Map, Record, Value};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event::{NewEvent, Operation, OutboxEvent};
use super::remote::server_fields;

/// A change the server would not apply because the record changed there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The event in conflict.
    pub event_id: Uuid,
    /// The collection.
    pub collection: String,
    /// The record's id.
    pub record_id: String,
    /// What the user's device shows ("Your version"); `None` if deleted here.
    pub mine: Option<Map>,
    /// The version both sides started from; `None` if the record was new.
    pub base: Option<Map>,
    /// The server's record ("Latest version").
    pub theirs: Record,
    /// For merge collections, the fields both sides changed.
    pub fields: Vec<String>,
    /// The server's sentence.
    pub reason: String,
    /// When the conflict was found.
    pub found_at_ms: u64,
}

/// The user's choice for a conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Send my version again, against the server's latest version.
    KeepMine,
    /// Drop my change and take the server's version.
    UseTheirs,
    /// Send these fields, chosen field by field, against the latest version.
    Merged(Map),
}

impl Conflict {
    /// The conflict for `event`, whose record the device showed as `mine` on top of `base`.
    pub fn new(
        event: &OutboxEvent,
        mine: Option<Map>,
        base: Option<Map>,
        theirs: Record,
        fields: Vec<String>,
        reason: &str,
        now_ms: u64,
    ) -> Self {
        Conflict {
            event_id: event.event_id,
            collection: event.collection.clone(),
            record_id: event.record_id.clone(),
            mine,
            base,
            theirs,
            fields,
            reason: reason.to_owned(),
            found_at_ms: now_ms,
        }
    }

    /// The server's fields, `None` if the server deleted the record.
    pub fn theirs_fields(&self) -> Option<Map> {
        server_fields(&self.theirs)
    }

    /// The change that carries out `resolution`, made against the server's
    /// version (`base_version` = `theirs.version`); `None` for "use theirs",
    /// which sends nothing.
    pub fn resolution_change(&self, resolution: &Resolution) -> Option<NewEvent> {
        let fields = match resolution {
            Resolution::UseTheirs => return None,
            Resolution::KeepMine => self.mine.clone(),
            Resolution::Merged(fields) => Some(fields.clone()),
        };
        let (op, payload) = match fields {
            Some(fields) => (Operation::Put, Value::Object(fields)),
            None => (Operation::Delete, Value::Null),
        };
        Some(NewEvent {
            collection: self.collection.clone(),
            record_id: self.record_id.clone(),
            op,
            payload,
        })
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect()
    }

    fn conflict(mine: Option<Map>) -> Conflict {
        let change = NewEvent {
            collection: "notes".into(),
            record_id: "n1".into(),
            op: Operation::Patch,
            payload: Value::Object(fields(&[("title", "mine")])),
        };
        let event = OutboxEvent::queued(change, Uuid::nil(), Some(1), 0);
        let theirs = Record {
            collection: "notes".into(),
            record_id: "n1".into(),
            version: 4,
            deleted: false,
            data: Value::Object(fields(&[("title", "theirs")])),
        };
        Conflict::new(
            &event,
            mine,
            None,
            theirs,
            vec!["title".into()],
            "both changed title",
            9,
        )
    }

    #[test]
    fn each_choice_makes_its_change() {
        let c = conflict(Some(fields(&[("title", "mine")])));
        assert_eq!(c.resolution_change(&Resolution::UseTheirs), None);
        let keep = c.resolution_change(&Resolution::KeepMine).unwrap();
        assert_eq!(
            (keep.op, keep.payload),
            (Operation::Put, Value::Object(fields(&[("title", "mine")])))
        );
        let merged = fields(&[("title", "both")]);
        let merge = c
            .resolution_change(&Resolution::Merged(merged.clone()))
            .unwrap();
        assert_eq!(merge.payload, Value::Object(merged));
        assert_eq!(c.theirs_fields(), Some(fields(&[("title", "theirs")])));
    }

    #[test]
    fn keeping_a_local_delete_sends_a_delete() {
        let keep = conflict(None)
            .resolution_change(&Resolution::KeepMine)
            .unwrap();
        assert_eq!((keep.op, keep.payload), (Operation::Delete, Value::Null));
    }
}
