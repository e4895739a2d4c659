//! The indexes of the records store: the built-in ones and those an app
//! declares per collection, and the key each gives a record.
//!
//! Every index key starts with the collection and ends with the record id, so
//! keys are unique (paging resumes exactly after the last record) and one
//! index serves every collection.

use super::event::EventState;
use super::query::QueryError;
use super::query_key::Key;
use super::record::LocalRecord;

/// The reserved field naming a record's id.
pub const ID_FIELD: &str = "$id";
/// The reserved field naming when a record last changed on this device.
pub const UPDATED_AT_FIELD: &str = "$updatedAt";
/// The reserved field naming a record's sync state.
pub const STATE_FIELD: &str = "$state";

/// The name prefix of declared indexes in IndexedDB.
const DECLARED_PREFIX: &str = "by:";

/// An index an app declared on one collection: its fields, in order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexSpec {
    /// The collection the index covers.
    pub collection: String,
    /// The record fields it orders by (`$updatedAt` may be one), in order.
    pub fields: Vec<String>,
}

impl IndexSpec {
    /// Checks a declared index: one to four fields, each a plain field name
    /// (letters, digits, `_`; not starting with a digit) or `$updatedAt`.
    pub fn declared(collection: &str, fields: Vec<String>) -> Result<IndexSpec, QueryError> {
        let invalid = QueryError::Invalid;
        if collection.is_empty() {
            return Err(invalid(
                "A collection name in `collections` is empty.".into(),
            ));
        }
        if fields.is_empty() || fields.len() > 4 {
            return Err(invalid(format!(
                "An index of \"{collection}\" names {} fields: give one to four field names, such as \"site\" or [\"site\", \"updatedAt\"].",
                fields.len()
            )));
        }
        for field in &fields {
            if field != UPDATED_AT_FIELD && !is_plain_name(field) {
                return Err(invalid(format!(
                    "The index field \"{field}\" of \"{collection}\" cannot be indexed: use a top-level field name made of letters, digits and _, or \"$updatedAt\"."
                )));
            }
        }
        Ok(IndexSpec {
            collection: collection.to_owned(),
            fields,
        })
    }

    /// The index's name in IndexedDB: `by:<fields joined by +>|<collection>`.
    pub fn name(&self) -> String {
        format!(
            "{DECLARED_PREFIX}{}|{}",
            self.fields.join("+"),
            self.collection
        )
    }

    /// The declared index an IndexedDB index name stands for, if it is one.
    pub fn from_name(name: &str) -> Option<IndexSpec> {
        let (fields, collection) = name.strip_prefix(DECLARED_PREFIX)?.split_once('|')?;
        Some(IndexSpec {
            collection: collection.to_owned(),
            fields: fields.split('+').map(str::to_owned).collect(),
        })
    }

    /// The key path of the index over stored records.
    pub fn key_path(&self) -> Vec<String> {
        let mut path = vec!["collection".to_owned()];
        path.extend(self.fields.iter().map(|field| match field.as_str() {
            UPDATED_AT_FIELD => "updated_at_ms".to_owned(),
            name => format!("local.{name}"),
        }));
        path.push("record_id".to_owned());
        path
    }
}

/// Whether `name` is a field name an index key path can reach.
fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What a query reads of a stored record: its key, its counters and the
/// fields it shows. The in-memory store gives whole [`LocalRecord`]s; the
/// browser store gives the stored JavaScript objects, untouched.
pub trait Shown {
    /// The record's collection.
    fn collection(&self) -> &str;
    /// The record's id.
    fn record_id(&self) -> &str;
    /// How many of its changes are unsent.
    fn pending(&self) -> u32;
    /// When it last changed on this device.
    fn updated_at_ms(&self) -> u64;
    /// Whether the record is deleted (or was never seen) on this device.
    fn is_deleted(&self) -> bool;
    /// The key one of the fields it shows makes, if any.
    fn field(&self, name: &str) -> Option<Key>;
    /// Its sync state, when the store read it with the record (IndexedDB
    /// does, in the same transaction); `None`: ask the store.
    fn known_state(&self) -> Option<EventState> {
        None
    }
}

impl Shown for LocalRecord {
    fn collection(&self) -> &str {
        &self.collection
    }

    fn record_id(&self) -> &str {
        &self.record_id
    }

    fn pending(&self) -> u32 {
        self.pending
    }

    fn updated_at_ms(&self) -> u64 {
        self.updated_at_ms
    }

    fn is_deleted(&self) -> bool {
        self.local.is_none()
    }

    fn field(&self, name: &str) -> Option<Key> {
        Key::from_value(self.local.as_ref()?.get(name)?)
    }
}

/// An index of the records store a query can walk.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexRef {
    /// The store's own key, `[collection, record_id]`.
    Primary,
    /// `[collection, updated_at_ms, record_id]`: by last change.
    UpdatedAt,
    /// `[collection, pending, record_id]`: by how many changes are unsent.
    Pending,
    /// An index the app declared.
    Declared(IndexSpec),
}

impl IndexRef {
    /// The key this index gives `record`, or `None` when it is not in the
    /// index (a declared field is missing or cannot be a key).
    pub fn key_of(&self, record: &impl Shown) -> Option<Key> {
        let mut parts = vec![Key::Str(record.collection().to_owned())];
        match self {
            IndexRef::Primary => {}
            IndexRef::UpdatedAt => parts.push(Key::Num(record.updated_at_ms() as f64)),
            IndexRef::Pending => parts.push(Key::Num(f64::from(record.pending()))),
            IndexRef::Declared(spec) => {
                for field in &spec.fields {
                    parts.push(field_key(record, field)?);
                }
            }
        }
        parts.push(Key::Str(record.record_id().to_owned()));
        Some(Key::Array(parts))
    }
}

/// The key of one field of what the record shows (`$id`, `$updatedAt` or a
/// field of its local view), or `None` when it has none.
pub fn field_key(record: &impl Shown, field: &str) -> Option<Key> {
    match field {
        ID_FIELD => Some(Key::Str(record.record_id().to_owned())),
        UPDATED_AT_FIELD => Some(Key::Num(record.updated_at_ms() as f64)),
        name => record.field(name),
    }
}

/// What opening with `declared` indexes changes in a records store whose
/// indexes are named `existing`: the declared indexes to create and the
/// names of those no longer declared, to delete. Built-in indexes stay.
pub fn index_changes(existing: &[String], declared: &[IndexSpec]) -> (Vec<IndexSpec>, Vec<String>) {
    let wanted: Vec<String> = declared.iter().map(IndexSpec::name).collect();
    let create = declared
        .iter()
        .filter(|spec| !existing.contains(&spec.name()))
        .cloned()
        .collect();
    let delete = existing
        .iter()
        .filter(|name| IndexSpec::from_name(name).is_some() && !wanted.contains(name))
        .cloned()
        .collect();
    (create, delete)
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use crate::core::event::RecordKey;
    use outbox_sync_protocol::Value;

    fn spec(collection: &str, fields: &[&str]) -> IndexSpec {
        IndexSpec::declared(collection, fields.iter().map(|f| (*f).to_owned()).collect())
            .expect("a valid index")
    }

    #[test]
    fn a_declared_index_round_trips_through_its_name() {
        let index = spec("site:notes|x", &["site", "$updatedAt"]);
        assert_eq!(index.name(), "by:site+$updatedAt|site:notes|x");
        assert_eq!(IndexSpec::from_name(&index.name()), Some(index.clone()));
        assert_eq!(IndexSpec::from_name("by_state"), None);
        assert_eq!(
            index.key_path(),
            ["collection", "local.site", "updated_at_ms", "record_id"]
        );
    }

    #[test]
    fn fields_an_index_cannot_reach_are_refused() {
        for fields in [
            vec![],
            vec!["a.b"],
            vec!["$state"],
            vec!["1st"],
            vec!["a", "b", "c", "d", "e"],
        ] {
            let fields = fields.into_iter().map(str::to_owned).collect();
            assert!(IndexSpec::declared("notes", fields).is_err());
        }
    }

    #[test]
    fn a_record_without_the_field_is_not_in_the_index() {
        let mut record = LocalRecord::empty(&RecordKey {
            collection: "notes".into(),
            record_id: "n1".into(),
        });
        let index = IndexRef::Declared(spec("notes", &["site"]));
        assert_eq!(index.key_of(&record), None, "deleted or never seen");
        record.local = Some([("site".to_owned(), Value::Bool(true))].into());
        assert_eq!(index.key_of(&record), None, "a boolean is no key");
        record.local = Some([("site".to_owned(), Value::String("A".into()))].into());
        assert_eq!(
            index.key_of(&record),
            Some(Key::Array(vec![
                Key::Str("notes".into()),
                Key::Str("A".into()),
                Key::Str("n1".into())
            ]))
        );
    }

    #[test]
    fn changing_the_declaration_creates_and_deletes_only_declared_indexes() {
        let existing = vec!["by_state".to_owned(), spec("notes", &["site"]).name()];
        let (create, delete) = index_changes(&existing, &[spec("notes", &["title"])]);
        assert_eq!(create, vec![spec("notes", &["title"])]);
        assert_eq!(delete, vec![spec("notes", &["site"]).name()]);
        let (create, delete) = index_changes(&existing, &[spec("notes", &["site"])]);
        assert!(create.is_empty() && delete.is_empty());
    }
}
