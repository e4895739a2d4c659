//! The record versions a drain stored as their bases, so that the pull
//! right after it need not read the records it brings back of this
//! device's own changes (sans-IO).
//!
//! A pull after a drain returns, among the others' changes, the ones the
//! drain just sent: they are in the server's log. Each of those records is
//! stored at that version already (its base), so
//! [`apply_remote`](super::remote::apply_remote) would skip it; knowing so
//! without reading it, a page made only of them writes nothing but its
//! token (in IndexedDB a transaction on the meta store alone, which a save
//! never waits for). A record's stored base version never goes down (every
//! base comes from the server, whose versions only grow), so what a drain
//! stored stays true for the pull after it.

use std::borrow::Cow;
use std::collections::HashMap;

use outbox_sync_protocol::Record;

use super::event::RecordKey;
use super::write_set::{RecordWrite, WriteSet};

/// Records a drain stored at a server version, with that version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownVersions {
    versions: HashMap<RecordKey, u64>,
}

impl KnownVersions {
    /// Most records remembered: a drain of more (an import) remembers the
    /// first ones only, so memory stays flat while it drains.
    pub const MAX: usize = 10_000;

    /// Notes what a settlement's `writes` stored: confirmed records at
    /// their new version; a removed record is forgotten.
    pub fn note(&mut self, writes: &WriteSet) {
        for write in &writes.records {
            match write {
                RecordWrite::Confirm { key, version } => self.set(key.clone(), Some(*version)),
                RecordWrite::Put(record) => self.set(record.key(), record.base_version),
                RecordWrite::Delete(key) => self.set(key.clone(), None),
            }
        }
    }

    fn set(&mut self, key: RecordKey, version: Option<u64>) {
        match version {
            Some(version)
                if self.versions.len() < Self::MAX || self.versions.contains_key(&key) =>
            {
                self.versions.insert(key, version);
            }
            Some(_) => {}
            None => {
                self.versions.remove(&key);
            }
        }
    }

    /// How many records are known.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// Whether the device stores `remote`'s record at its version or a
    /// newer one: applying it would change nothing.
    pub fn has(&self, remote: &Record) -> bool {
        let key = RecordKey {
            collection: remote.collection.clone(),
            record_id: remote.record_id.clone(),
        };
        self.versions
            .get(&key)
            .is_some_and(|v| *v >= remote.version)
    }

    /// The changes of a pulled page that may change something here: all of
    /// them, borrowed, when none is known.
    pub fn unknown<'a>(&self, page: &'a [Record]) -> Cow<'a, [Record]> {
        if self.versions.is_empty() || !page.iter().any(|r| self.has(r)) {
            return Cow::Borrowed(page);
        }
        Cow::Owned(page.iter().filter(|r| !self.has(r)).cloned().collect())
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use outbox_sync_protocol::Value;

    use super::*;
    use crate::core::record::LocalRecord;

    fn key(id: &str) -> RecordKey {
        RecordKey {
            collection: "notes".into(),
            record_id: id.into(),
        }
    }

    fn remote(id: &str, version: u64) -> Record {
        Record {
            collection: "notes".into(),
            record_id: id.into(),
            version,
            deleted: false,
            data: Value::Null,
        }
    }

    #[test]
    fn a_pulled_change_at_a_confirmed_version_or_older_is_known() {
        let mut writes = WriteSet::default();
        writes.confirm_record(key("a"), 5);
        let mut b = LocalRecord::empty(&key("b"));
        b.base_version = Some(7);
        writes.put_record(b);
        let mut known = KnownVersions::default();
        known.note(&writes);
        assert!(known.has(&remote("a", 5)) && known.has(&remote("a", 4)));
        assert!(!known.has(&remote("a", 6)), "a newer version is news");
        assert!(known.has(&remote("b", 7)));
        assert!(!known.has(&remote("c", 1)));
        let page = [remote("a", 5), remote("c", 1), remote("b", 8)];
        let unknown = known.unknown(&page);
        let ids: Vec<&str> = unknown.iter().map(|r| r.record_id.as_str()).collect();
        assert_eq!(ids, ["c", "b"]);
        assert!(matches!(known.unknown(&page[1..2]), Cow::Borrowed(_)));
        assert!(known.unknown(&page[..1]).is_empty());
    }

    #[test]
    fn a_removed_record_is_forgotten_and_the_memory_is_bounded() {
        let mut known = KnownVersions::default();
        let mut writes = WriteSet::default();
        writes.confirm_record(key("a"), 5);
        known.note(&writes);
        let mut removed = WriteSet::default();
        removed.delete_record(key("a"));
        known.note(&removed);
        assert!(!known.has(&remote("a", 5)));
        let mut many = WriteSet::default();
        for i in 0..KnownVersions::MAX + 10 {
            many.confirm_record(key(&i.to_string()), 1);
        }
        known.note(&many);
        assert_eq!(known.len(), KnownVersions::MAX);
    }
}
