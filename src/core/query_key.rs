//! Index keys as IndexedDB orders them, and ranges of them.
//!
//! A query walks an index: a sorted list of keys such as
//! `["notes", "Site 4", "n17"]`. [`Key`] is the subset of IndexedDB keys a
//! record's JSON fields can make (numbers, strings and arrays of them), with
//! IndexedDB's order, so the in-memory store pages exactly as the browser does.

use std::cmp::Ordering;

use outbox_sync_protocol::Value;

/// One IndexedDB key made from JSON: a number, a string or an array of keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// A finite number.
    Num(f64),
    /// A string, ordered by UTF-16 code units.
    Str(String),
    /// An array, ordered element by element (a prefix first).
    Array(Vec<Key>),
}

impl Key {
    /// The key a JSON value makes, or `None` when IndexedDB cannot index it
    /// (booleans, `null`, objects, or an array holding one of those).
    pub fn from_value(value: &Value) -> Option<Key> {
        match value {
            Value::Number(n) if n.is_finite() => Some(Key::Num(*n)),
            Value::String(s) => Some(Key::Str(s.clone())),
            Value::Array(items) => items
                .iter()
                .map(Key::from_value)
                .collect::<Option<Vec<_>>>()
                .map(Key::Array),
            _ => None,
        }
    }

    /// The key as JSON (for cursors and for the browser).
    pub fn to_value(&self) -> Value {
        match self {
            Key::Num(n) => Value::Number(*n),
            Key::Str(s) => Value::String(s.clone()),
            Key::Array(items) => Value::Array(items.iter().map(Key::to_value).collect()),
        }
    }

    /// The key `[prefix..., []]`: after every key that starts with `prefix`
    /// (an array sorts after every number and string).
    pub fn after_all(mut prefix: Vec<Key>) -> Key {
        prefix.push(Key::Array(Vec::new()));
        Key::Array(prefix)
    }

    fn rank(&self) -> u8 {
        match self {
            Key::Num(_) => 0,
            Key::Str(_) => 1,
            Key::Array(_) => 2,
        }
    }
}

// A key serializes as the JavaScript key it is: a number, a string or an array.
impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Key::Num(n) => serializer.serialize_f64(*n),
            Key::Str(s) => serializer.serialize_str(s),
            Key::Array(items) => serializer.collect_seq(items),
        }
    }
}

/// Compares two keys as IndexedDB does: numbers < strings < arrays.
pub fn compare(a: &Key, b: &Key) -> Ordering {
    match (a, b) {
        (Key::Num(x), Key::Num(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Key::Str(x), Key::Str(y)) => x.encode_utf16().cmp(y.encode_utf16()),
        (Key::Array(x), Key::Array(y)) => {
            for (left, right) in x.iter().zip(y) {
                let order = compare(left, right);
                if order != Ordering::Equal {
                    return order;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => a.rank().cmp(&b.rank()),
    }
}

/// One end of a [`KeyRange`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// The key at this end.
    pub key: Key,
    /// Whether the key itself is left out.
    pub open: bool,
}

impl Bound {
    /// A bound that includes `key`.
    pub fn closed(key: Key) -> Bound {
        Bound { key, open: false }
    }

    /// A bound that leaves `key` out.
    pub fn open(key: Key) -> Bound {
        Bound { key, open: true }
    }
}

/// The keys between a lower and an upper bound (IndexedDB's `IDBKeyRange`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRange {
    /// The lowest key in the range.
    pub lower: Bound,
    /// The highest key in the range.
    pub upper: Bound,
}

impl KeyRange {
    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &Key) -> bool {
        let above = match compare(key, &self.lower.key) {
            Ordering::Greater => true,
            Ordering::Equal => !self.lower.open,
            Ordering::Less => false,
        };
        let below = match compare(key, &self.upper.key) {
            Ordering::Less => true,
            Ordering::Equal => !self.upper.open,
            Ordering::Greater => false,
        };
        above && below
    }

    /// Whether no key can lie in the range (IndexedDB refuses such a range).
    pub fn is_empty(&self) -> bool {
        match compare(&self.lower.key, &self.upper.key) {
            Ordering::Greater => true,
            Ordering::Equal => self.lower.open || self.upper.open,
            Ordering::Less => false,
        }
    }

    /// The part of the range after `key` (or before it, walking backwards).
    pub fn past(&self, key: &Key, backwards: bool) -> KeyRange {
        let mut range = self.clone();
        if backwards {
            if compare(key, &range.upper.key) != Ordering::Greater {
                range.upper = Bound::open(key.clone());
            }
        } else if compare(key, &range.lower.key) != Ordering::Less {
            range.lower = Bound::open(key.clone());
        }
        range
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::*;
    use serde_json::json;

    fn value(json: serde_json::Value) -> Value {
        serde_json::from_value(json).expect("a value")
    }

    fn key(json: serde_json::Value) -> Key {
        Key::from_value(&value(json)).expect("a key")
    }

    #[test]
    fn keys_order_like_indexeddb() {
        assert_eq!(compare(&key(json!(10)), &key(json!("1"))), Ordering::Less);
        assert_eq!(compare(&key(json!("z")), &key(json!([]))), Ordering::Less);
        assert_eq!(
            compare(&key(json!(["a"])), &key(json!(["a", 1]))),
            Ordering::Less,
            "a prefix first"
        );
        assert_eq!(
            compare(&key(json!(["a", "\u{1F600}"])), &key(json!(["a", "\u{FF5A}"]))),
            Ordering::Less,
            "strings by UTF-16 code units"
        );
        assert_eq!(
            compare(&key(json!(["a", "x", "id"])), &Key::after_all(vec![key(json!("a")), key(json!("x"))])),
            Ordering::Less
        );
    }

    #[test]
    fn values_indexeddb_cannot_index_make_no_key() {
        for value in [json!(true), json!(null), json!({}), json!([1, false])] {
            assert_eq!(Key::from_value(&self::value(value.clone())), None, "{value}");
        }
    }

    #[test]
    fn a_range_walked_past_a_key_leaves_it_out() {
        let range = KeyRange {
            lower: Bound::closed(key(json!(1))),
            upper: Bound::closed(key(json!(9))),
        };
        assert!(range.contains(&key(json!(1))) && range.contains(&key(json!(9))));
        let rest = range.past(&key(json!(4)), false);
        assert!(!rest.contains(&key(json!(4))) && rest.contains(&key(json!(5))));
        let before = range.past(&key(json!(4)), true);
        assert!(!before.contains(&key(json!(4))) && before.contains(&key(json!(3))));
        assert!(range.past(&key(json!(9)), false).is_empty());
    }
}
