//! A JSON-like value: the payload of a record or an event.
//!
//! The project's own type keeps `serde_json` out of the wasm build: the
//! client converts it to and from JavaScript values, the server to and from
//! JSON text. Numbers are `f64`, exactly what JavaScript can hold.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The fields of an object value, sorted by name.
pub type Map = BTreeMap<String, Value>;

/// A JSON value: what a record's fields and an event's payload are made of.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null` (also what `undefined` becomes).
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number; JavaScript numbers are 64-bit floats.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Map),
}

impl Value {
    /// The object's fields, or `None` when the value is not an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// The string, or `None` when the value is not a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the value's kind, for error messages ("an array").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// Roughly how many bytes the value takes as JSON, to tell large
    /// payloads from small ones without serialising them.
    pub fn approximate_size(&self) -> usize {
        match self {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 8,
            Value::String(s) => s.len() + 2,
            Value::Array(items) => {
                2 + items
                    .iter()
                    .map(|v| v.approximate_size() + 1)
                    .sum::<usize>()
            }
            Value::Object(map) => {
                2 + map
                    .iter()
                    .map(|(k, v)| k.len() + 4 + v.approximate_size())
                    .sum::<usize>()
            }
        }
    }

    /// How deeply arrays and objects nest: 0 for a scalar, 1 for `{}`.
    pub fn depth(&self) -> usize {
        match self {
            Value::Array(items) => 1 + items.iter().map(Value::depth).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(Value::depth).max().unwrap_or(0),
            _ => 0,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Self {
        Value::Object(map)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => serializer.serialize_f64(*n),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, value) in map {
                    out.serialize_entry(key, value)?;
                }
                out.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Deserialize::deserialize(deserializer)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Number(n))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Value, E> {
        Ok(Value::Array(
            bytes.iter().map(|b| Value::Number(f64::from(*b))).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_text() {
        let text = r#"{"a":[1.5,true,null,"x"],"b":{"c":{}}}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(value.depth(), 3);
        assert_eq!(serde_json::to_string(&value).unwrap(), text);
    }

    #[test]
    fn integers_become_numbers() {
        let value: Value = serde_json::from_str("[1, -2]").unwrap();
        assert_eq!(
            value,
            Value::Array(vec![Value::Number(1.0), Value::Number(-2.0)])
        );
    }

    #[test]
    fn approximate_size_follows_the_json_length() {
        let text = format!(
            r#"{{"photo":"{}","tags":["a","b"],"n":1}}"#,
            "x".repeat(10_000)
        );
        let value: Value = serde_json::from_str(&text).unwrap();
        let size = value.approximate_size();
        assert!(
            size >= text.len() && size < text.len() + 64,
            "{size} vs {}",
            text.len()
        );
    }

    #[test]
    fn kind_names_read_as_english() {
        assert_eq!(Value::from("x").kind(), "a string");
        assert_eq!(Value::Array(vec![]).kind(), "an array");
    }
}
