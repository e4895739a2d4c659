//! JavaScript values read as Rust types through serde: stored values read
//! back from IndexedDB, parsed JSON answers, and the app's arguments.
//!
//! In place of `serde_wasm_bindgen`'s deserializer (the serializer stays),
//! for size: that one is 32 KB of the wasm, most of it one copy of its
//! `deserialize_struct` and error paths per stored or wire type, and its
//! errors describe a wrong number with Rust's float formatting (13.7 KB,
//! used nowhere else). Here the work that does not depend on the type
//! (what kind of value this is, the next field, the error's sentence) is
//! compiled once, and a number in an error is written by JavaScript.
//!
//! It reads values as `serde_wasm_bindgen` did, so both read each other's
//! data: `null` and `undefined` are a unit or `None`; a safe integer is an
//! integer, any other number a float; a struct reads its own fields by name
//! (a field that is missing, or `undefined` and absent, is missing; other
//! keys are not read); a map or `deserialize_any` reads an object's own
//! entries (or a `Map`'s); an enum is its variant's name, or an object with
//! one key (the variant) holding its content; a `Uint8Array` or an
//! `ArrayBuffer` is bytes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use js_sys::{Array, ArrayBuffer, Map, Number, Object, Reflect, Uint8Array};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Expected, IntoDeserializer, Unexpected, Visitor,
};
use wasm_bindgen::{JsCast, JsValue};

/// `value` read as a `T`. Not inlined: one copy per type, whoever reads it.
#[inline(never)]
pub fn from_value<T: DeserializeOwned>(value: JsValue) -> Result<T, DecodeError> {
    T::deserialize(Js(value))
}

/// Why a value could not be read as the type asked for, in serde's words
/// ("invalid type: string \"x\", expected u64").
#[derive(Debug)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        DecodeError(message.to_string())
    }

    fn invalid_type(found: Unexpected<'_>, expected: &dyn Expected) -> Self {
        mismatch("invalid type", &found, expected)
    }

    fn invalid_value(found: Unexpected<'_>, expected: &dyn Expected) -> Self {
        mismatch("invalid value", &found, expected)
    }
}

/// serde's own sentence for a mismatch, with a number written by
/// JavaScript rather than by Rust's float formatting (serde's `Display`
/// for `Unexpected` would keep all of it in the wasm).
#[inline(never)]
fn mismatch(what: &str, found: &Unexpected<'_>, expected: &dyn Expected) -> DecodeError {
    let found = match *found {
        Unexpected::Bool(b) => format!("boolean `{b}`"),
        Unexpected::Unsigned(n) => format!("integer `{n}`"),
        Unexpected::Signed(n) => format!("integer `{n}`"),
        Unexpected::Float(n) => format!("floating point `{}`", js_number(n)),
        Unexpected::Char(c) => format!("character `{c}`"),
        Unexpected::Str(s) => format!("string \"{s}\""),
        Unexpected::Bytes(_) => "bytes".into(),
        Unexpected::Unit => "null".into(),
        Unexpected::Option => "Option value".into(),
        Unexpected::NewtypeStruct => "newtype struct".into(),
        Unexpected::Seq => "sequence".into(),
        Unexpected::Map => "map".into(),
        Unexpected::Enum => "enum".into(),
        Unexpected::UnitVariant => "unit variant".into(),
        Unexpected::NewtypeVariant => "newtype variant".into(),
        Unexpected::TupleVariant => "tuple variant".into(),
        Unexpected::StructVariant => "struct variant".into(),
        Unexpected::Other(other) => other.into(),
    };
    DecodeError(format!("{what}: {found}, expected {expected}"))
}

/// A number as JavaScript writes it.
fn js_number(n: f64) -> String {
    Number::from(n)
        .to_string_with_radix(10)
        .map(String::from)
        .unwrap_or_default()
}

/// What a JavaScript value is, as serde sees it. Apart from the generic
/// deserializer, so that it is compiled once.
enum Kind {
    Nullish,
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    Items(Array),
    Entries(Array),
    Bytes(Vec<u8>),
    Other(String),
}

#[inline(never)]
fn kind(value: &JsValue) -> Kind {
    if value.is_null() || value.is_undefined() {
        Kind::Nullish
    } else if let Some(b) = value.as_bool() {
        Kind::Bool(b)
    } else if let Some(n) = value.as_f64() {
        if Number::is_safe_integer(value) {
            Kind::Integer(n as i64)
        } else {
            Kind::Float(n)
        }
    } else if let Some(text) = value.as_string() {
        Kind::Text(text)
    } else if Array::is_array(value) {
        Kind::Items(value.clone().unchecked_into())
    } else if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        Kind::Bytes(bytes.to_vec())
    } else if let Some(buffer) = value.dyn_ref::<ArrayBuffer>() {
        Kind::Bytes(Uint8Array::new(buffer).to_vec())
    } else if let Some(map) = value.dyn_ref::<Map>() {
        Kind::Entries(Array::from(map))
    } else if value.is_object() && !iterable(value) {
        Kind::Entries(Object::entries(value.unchecked_ref()))
    } else {
        Kind::Other(value.js_typeof().as_string().unwrap_or_default())
    }
}

/// Whether `value` has `Symbol.iterator` (a `Set`, a typed array ...):
/// such values are not read as objects.
fn iterable(value: &JsValue) -> bool {
    js_sys::Symbol::iterator().js_in(value)
}

/// A JavaScript value as a serde deserializer.
struct Js(JsValue);

impl<'de> IntoDeserializer<'de, DecodeError> for Js {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Js {
    type Error = DecodeError;

    #[inline(never)]
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match kind(&self.0) {
            Kind::Nullish => visitor.visit_unit(),
            Kind::Bool(b) => visitor.visit_bool(b),
            Kind::Integer(n) => visitor.visit_i64(n),
            Kind::Float(n) => visitor.visit_f64(n),
            Kind::Text(text) => visitor.visit_string(text),
            Kind::Items(items) => visitor.visit_seq(Items::new(items)),
            Kind::Entries(entries) => visitor.visit_map(Entries::new(entries)),
            Kind::Bytes(bytes) => visitor.visit_byte_buf(bytes),
            Kind::Other(what) => Err(de::Error::invalid_type(Unexpected::Other(&what), &visitor)),
        }
    }

    #[inline(never)]
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        if self.0.is_null() || self.0.is_undefined() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    #[inline(never)]
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        if self.0.is_object() {
            visitor.visit_map(Fields {
                object: self.0,
                fields: fields.iter(),
                value: JsValue::UNDEFINED,
            })
        } else {
            // Not `deserialize_any`: that would compile the struct's visitor
            // a second time for `Entries` (and its `visit_seq`), per struct.
            Err(wrong(&self.0, &visitor))
        }
    }

    #[inline(never)]
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let (tag, content) = variant_of(self.0)?;
        visitor.visit_enum(Variant { tag, content })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0.as_bool() {
            Some(b) => visitor.visit_bool(b),
            None => Err(wrong(&self.0, &visitor)),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match integer(&self.0) {
            Some(n) => visitor.visit_i64(n),
            None => Err(wrong(&self.0, &visitor)),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match integer(&self.0) {
            Some(n) => visitor.visit_i64(n),
            None => Err(wrong(&self.0, &visitor)),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0.as_f64() {
            Some(n) => visitor.visit_f64(n),
            None => Err(wrong(&self.0, &visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0.as_string() {
            Some(text) => visitor.visit_string(text),
            None => Err(wrong(&self.0, &visitor)),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_string(visitor)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 bytes byte_buf unit unit_struct seq tuple tuple_struct map
    }
}

/// A safe integer's value (a whole number JavaScript holds exactly).
fn integer(value: &JsValue) -> Option<i64> {
    match value.as_f64() {
        Some(n) if Number::is_safe_integer(value) => Some(n as i64),
        _ => None,
    }
}

/// The error for a value of the wrong kind. Not generic, so that it is
/// compiled once.
#[cold]
#[inline(never)]
fn wrong(value: &JsValue, expected: &dyn Expected) -> DecodeError {
    let text;
    let found = if value.is_null() || value.is_undefined() {
        Unexpected::Unit
    } else if let Some(b) = value.as_bool() {
        Unexpected::Bool(b)
    } else if let Some(n) = value.as_f64() {
        Unexpected::Float(n)
    } else if let Some(s) = value.as_string() {
        text = s;
        Unexpected::Str(&text)
    } else if Array::is_array(value) {
        Unexpected::Seq
    } else {
        Unexpected::Map
    };
    mismatch("invalid type", &found, expected)
}

/// An enum's variant name and content: a string is a variant without
/// content, an object with one key the variant and its content.
#[inline(never)]
fn variant_of(value: JsValue) -> Result<(JsValue, JsValue), DecodeError> {
    if value.is_string() {
        return Ok((value, JsValue::UNDEFINED));
    }
    if value.is_object() {
        let entries = Object::entries(value.unchecked_ref());
        if entries.length() != 1 {
            return Err(de::Error::invalid_length(
                entries.length() as usize,
                &"an object with one key",
            ));
        }
        let entry: Array = entries.get(0).unchecked_into();
        return Ok((entry.get(0), entry.get(1)));
    }
    Err(DecodeError(
        "invalid type: expected an enum's variant (a string, or an object with one key)".into(),
    ))
}

/// An array's items.
struct Items {
    items: Array,
    next: u32,
}

impl Items {
    fn new(items: Array) -> Self {
        Items { items, next: 0 }
    }

    fn remaining(&self) -> usize {
        (self.items.length() - self.next) as usize
    }
}

impl<'de> de::SeqAccess<'de> for Items {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        if self.next >= self.items.length() {
            return Ok(None);
        }
        let item = self.items.get(self.next);
        self.next += 1;
        seed.deserialize(Js(item)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining())
    }
}

/// An object's (or a `Map`'s) `[key, value]` entries.
struct Entries {
    entries: Items,
    value: JsValue,
}

impl Entries {
    fn new(entries: Array) -> Self {
        Entries {
            entries: Items::new(entries),
            value: JsValue::UNDEFINED,
        }
    }

    /// The next entry's key, its value kept for `next_value_seed`.
    fn next_key(&mut self) -> Option<JsValue> {
        let items = &mut self.entries;
        if items.next >= items.items.length() {
            return None;
        }
        let entry: Array = items.items.get(items.next).unchecked_into();
        items.next += 1;
        self.value = entry.get(1);
        Some(entry.get(0))
    }
}

impl<'de> de::MapAccess<'de> for Entries {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match self.next_key() {
            Some(key) => seed.deserialize(Js(key)).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        seed.deserialize(Js(std::mem::take(&mut self.value)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.remaining())
    }
}

/// A struct's fields, read by name from an object.
struct Fields {
    object: JsValue,
    fields: std::slice::Iter<'static, &'static str>,
    value: JsValue,
}

impl Fields {
    /// The next field the object has, its value kept for `next_value_seed`.
    fn next_field(&mut self) -> Option<&'static str> {
        for field in &mut self.fields {
            let key = field_key(field);
            let value = Reflect::get(&self.object, &key).unwrap_or_default();
            if !value.is_undefined() || key.js_in(&self.object) {
                self.value = value;
                return Some(field);
            }
        }
        None
    }
}

/// A field's name as a JavaScript string, made once per name (decoding
/// reads the same few names for every stored value).
fn field_key(field: &'static str) -> JsValue {
    thread_local! {
        static KEYS: RefCell<HashMap<(usize, usize), JsValue>> = RefCell::default();
    }
    KEYS.with(|keys| {
        keys.borrow_mut()
            .entry((field.as_ptr() as usize, field.len()))
            .or_insert_with(|| JsValue::from_str(field))
            .clone()
    })
}

impl<'de> de::MapAccess<'de> for Fields {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match self.next_field() {
            Some(field) => seed.deserialize(field.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        seed.deserialize(Js(std::mem::take(&mut self.value)))
    }
}

/// An enum's variant being read.
struct Variant {
    tag: JsValue,
    content: JsValue,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = DecodeError;
    type Variant = Js;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Js), DecodeError> {
        Ok((seed.deserialize(Js(self.tag))?, Js(self.content)))
    }
}

impl<'de> de::VariantAccess<'de> for Js {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, DecodeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_any(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}
