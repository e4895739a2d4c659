//! Bringing the server's versions into local records (sans-IO).
//!
//! A record with pending local changes keeps showing them: the server's
//! version becomes its new base and the local view is recomputed from that
//! base plus the pending events, in order (a rebase).

use std::collections::HashMap;

use outbox_sync_protocol::{Map, Record, Value};

use super::event::{OutboxEvent, RecordKey};
use super::record::LocalRecord;
use super::write_set::WriteSet;

/// What to do with the device's copy of a record after a pulled change.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteApply {
    /// The device already has this version or a newer one.
    Skip,
    /// Store this record.
    Write(LocalRecord),
    /// Remove the record: deleted on the server, nothing pending here.
    Remove(RecordKey),
}

/// The fields of a server record, `None` for a tombstone.
pub fn server_fields(remote: &Record) -> Option<Map> {
    match (&remote.data, remote.deleted) {
        (Value::Object(fields), false) => Some(fields.clone()),
        _ => None,
    }
}

/// Applies a pulled `remote` version to `current`, keeping the record's
/// `unconfirmed` events (in send order) on top. A newer version is a change
/// on this device at `now_ms`, when it arrived (the server's records carry
/// no time): lists by last change show what just came from elsewhere first.
pub fn apply_remote(
    current: Option<LocalRecord>,
    remote: &Record,
    unconfirmed: &[OutboxEvent],
    now_ms: u64,
) -> RemoteApply {
    let key = remote_key(remote);
    let mut record = current.unwrap_or_else(|| LocalRecord::empty(&key));
    if record.base_version.is_some_and(|v| v >= remote.version) {
        return RemoteApply::Skip;
    }
    rebase(&mut record, remote, unconfirmed);
    record.updated_at_ms = record.updated_at_ms.max(now_ms);
    if record.local.is_none() && record.pending == 0 {
        RemoteApply::Remove(key)
    } else {
        RemoteApply::Write(record)
    }
}

/// The changes of a pulled page that count: a record named twice in a page
/// (a backend that sends a log) ends as its last change says, so only each
/// record's last change is kept, in page order.
pub fn last_change_of_each_record(page: &[Record]) -> Vec<&Record> {
    let mut last = HashMap::new();
    for (index, remote) in page.iter().enumerate() {
        last.insert((&remote.collection, &remote.record_id), index);
    }
    page.iter()
        .enumerate()
        .filter(|(index, r)| last[&(&r.collection, &r.record_id)] == *index)
        .map(|(_, remote)| remote)
        .collect()
}

/// The local key of a server record.
pub fn remote_key(remote: &Record) -> RecordKey {
    RecordKey {
        collection: remote.collection.clone(),
        record_id: remote.record_id.clone(),
    }
}

/// Plans the writes of a pulled page: `page` holds each record's last
/// change ([`last_change_of_each_record`]), `current` each record as stored
/// and `unsent` its unconfirmed events, in the same order, arrived at
/// `now_ms`. A record the page does not change is left out. The caller
/// saves the page's token in the same transaction.
pub fn plan_page(
    page: &[&Record],
    current: Vec<Option<LocalRecord>>,
    unsent: Vec<Vec<OutboxEvent>>,
    now_ms: u64,
) -> WriteSet {
    let mut writes = WriteSet::default();
    for ((remote, current), unsent) in page.iter().zip(current).zip(unsent) {
        match apply_remote(current, remote, &unsent, now_ms) {
            RemoteApply::Skip => {}
            RemoteApply::Write(record) => writes.put_record(record),
            RemoteApply::Remove(key) => writes.delete_record(key),
        }
    }
    writes
}

/// Makes `remote` the record's base (when newer) and recomputes the local
/// view from it and the `unconfirmed` events.
pub fn rebase(record: &mut LocalRecord, remote: &Record, unconfirmed: &[OutboxEvent]) {
    if record.base_version.is_none_or(|v| v < remote.version) {
        record.base = server_fields(remote);
        record.base_version = Some(remote.version);
    }
    record.rebuild(unconfirmed);
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use crate::core::event::{NewEvent, Operation};
    use uuid::Uuid;

    fn fields(pairs: &[(&str, &str)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect()
    }

    fn remote(version: u64, data: Option<Map>) -> Record {
        Record {
            collection: "notes".into(),
            record_id: "n1".into(),
            version,
            deleted: data.is_none(),
            data: data.map_or(Value::Null, Value::Object),
        }
    }

    fn patch(pairs: &[(&str, &str)]) -> OutboxEvent {
        let change = NewEvent {
            collection: "notes".into(),
            record_id: "n1".into(),
            op: Operation::Patch,
            payload: Value::Object(fields(pairs)),
        };
        OutboxEvent::queued(change, Uuid::nil(), Some(1), 0)
    }

    #[test]
    fn new_record_from_the_server() {
        let RemoteApply::Write(record) =
            apply_remote(None, &remote(3, Some(fields(&[("a", "1")]))), &[], 0)
        else {
            panic!("a new record is written")
        };
        assert_eq!((record.base_version, record.pending), (Some(3), 0));
        assert_eq!(record.local, Some(fields(&[("a", "1")])));
    }

    #[test]
    fn pending_changes_stay_on_top_of_the_new_base() {
        let mine = patch(&[("title", "mine")]);
        let mut current = LocalRecord::empty(&mine.record_key());
        current.base = Some(fields(&[("title", "old"), ("body", "old")]));
        current.base_version = Some(1);
        current.apply_local(&mine);
        let theirs = remote(5, Some(fields(&[("title", "theirs"), ("body", "new")])));
        let RemoteApply::Write(record) = apply_remote(Some(current), &theirs, &[mine], 0) else {
            panic!("rebased")
        };
        assert_eq!(record.base_version, Some(5));
        assert_eq!(
            record.local,
            Some(fields(&[("title", "mine"), ("body", "new")]))
        );
        assert_eq!(record.pending, 1);
    }

    #[test]
    fn a_page_keeps_each_records_last_change_in_page_order() {
        let mut other = remote(9, None);
        other.record_id = "n2".into();
        let page = [
            remote(1, Some(fields(&[("a", "1")]))),
            other.clone(),
            remote(3, None),
        ];
        let kept = last_change_of_each_record(&page);
        assert_eq!(kept, vec![&other, &page[2]]);
        let mut elsewhere = remote(4, None);
        elsewhere.collection = "tasks".into();
        assert_eq!(
            last_change_of_each_record(&[page[0].clone(), elsewhere.clone()]).len(),
            2,
            "the same id in another collection is another record"
        );
        assert!(last_change_of_each_record(&[]).is_empty());
    }

    #[test]
    fn older_versions_are_skipped_and_tombstones_remove() {
        let mut current = LocalRecord::empty(&RecordKey {
            collection: "notes".into(),
            record_id: "n1".into(),
        });
        current.base_version = Some(9);
        assert_eq!(
            apply_remote(Some(current.clone()), &remote(9, None), &[], 0),
            RemoteApply::Skip
        );
        assert!(matches!(
            apply_remote(Some(current), &remote(10, None), &[], 0),
            RemoteApply::Remove(_)
        ));
        let pending = patch(&[("a", "1")]);
        let RemoteApply::Write(kept) = apply_remote(None, &remote(10, None), &[pending], 0) else {
            panic!("a pending change keeps the record")
        };
        assert_eq!(kept.local, Some(fields(&[("a", "1")])));
    }
}
