//! Reads a range of the records store or one of its indexes: the one read
//! a query plan needs from IndexedDB.

use indexed_db_futures::cursor::CursorDirection;
use indexed_db_futures::internals::SystemRepr;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyRange as IdbRange;

use super::schema::{BY_PENDING, BY_UPDATED};
use wasm_bindgen::{JsCast, JsValue};

use crate::core::index::{IndexRef, Shown};
use crate::core::query_key::{Key, KeyRange};
use crate::core::StoreError;

/// Reads `range` of an object store or an index (the same calls on two
/// types the library does not unite under one trait).
macro_rules! read {
    ($source:expr, $range:expr, $backwards:expr, $limit:expr) => {{
        let range: &KeyRange = $range;
        let query = IdbRange::Bound(
            array_of(&range.lower.key),
            range.lower.open,
            array_of(&range.upper.key),
            range.upper.open,
        );
        let limit: Option<u32> = $limit;
        let mut found: Vec<JsRecord> = Vec::new();
        if !$backwards {
            // IndexedDB reads a limit of 0 as "all".
            for record in $source
                .get_all::<js_sys::Object>()
                .with_query::<js_sys::Array, _>(query.clone())
                .with_limit(limit.unwrap_or(0))
                .primitive()?
                .await?
            {
                found.push(JsRecord::read(record?)?);
            }
        } else if let Some(records) =
            all_backwards($source.as_sys().unchecked_ref(), range, limit).await?
        {
            found = records;
        } else if let Some(mut cursor) = $source
            .open_cursor()
            .with_query::<js_sys::Array, _>(query)
            .with_direction(CursorDirection::Prev)
            .await?
        {
            let wanted = limit.map_or(usize::MAX, |l| l as usize);
            while found.len() < wanted {
                match cursor.next_record::<js_sys::Object>().await? {
                    Some(record) => found.push(JsRecord::read(record)?),
                    None => break,
                }
            }
        }
        Ok(found)
    }};
}

/// Reads `range` highest key first in one request with `getAllRecords`
/// where the browser has it (Chromium 141 and later); `None` elsewhere, where
/// a cursor walks it one record per step.
async fn all_backwards(
    source: &JsValue,
    range: &KeyRange,
    limit: Option<u32>,
) -> Result<Option<Vec<JsRecord>>, StoreError> {
    let get_all_records = js_sys::Reflect::get(source, &"getAllRecords".into()).unwrap_or_default();
    let Some(get_all_records) = get_all_records.dyn_ref::<js_sys::Function>() else {
        return Ok(None);
    };
    let failed = |e: JsValue| StoreError::Backend {
        name: "getAllRecords".into(),
        message: format!("{e:?}"),
    };
    let query = web_sys::IdbKeyRange::bound_with_lower_open_and_upper_open(
        &array_of(&range.lower.key),
        &array_of(&range.upper.key),
        range.lower.open,
        range.upper.open,
    )
    .map_err(failed)?;
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"query".into(), &query);
    let _ = js_sys::Reflect::set(&options, &"direction".into(), &"prev".into());
    if let Some(limit) = limit {
        let _ = js_sys::Reflect::set(&options, &"count".into(), &limit.into());
    }
    let request: web_sys::IdbRequest = get_all_records
        .call1(source, &options)
        .map_err(failed)?
        .unchecked_into();
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    wasm_bindgen_futures::JsFuture::from(done)
        .await
        .map_err(|_| match request.error() {
            Ok(Some(cause)) => super::error::from_dom_name(&cause.name(), &cause.message()),
            _ => failed(JsValue::from_str("the request failed")),
        })?;
    let results: js_sys::Array = request.result().map_err(failed)?.unchecked_into();
    let mut found = Vec::with_capacity(results.length() as usize);
    for item in results.iter() {
        let value = js_sys::Reflect::get(&item, &"value".into()).map_err(failed)?;
        found.push(JsRecord::read(value.unchecked_into())?);
    }
    Ok(Some(found))
}

/// A stored record as a query reads it: the JavaScript object IndexedDB
/// gave, with the few values the query needs read out of it. Its fields are
/// never converted: the page of results hands them to JavaScript as they are.
#[derive(Debug, Clone)]
pub struct JsRecord {
    /// The stored object (`{ collection, record_id, base, local, ... }`).
    pub raw: js_sys::Object,
    collection: String,
    record_id: String,
    pending: u32,
    updated_at_ms: u64,
    /// The fields the record shows (`local`), or `None` once deleted.
    pub local: Option<js_sys::Object>,
}

impl JsRecord {
    fn read(raw: js_sys::Object) -> Result<JsRecord, StoreError> {
        let get = |name: &str| js_sys::Reflect::get(&raw, &name.into()).unwrap_or_default();
        let text = |name: &str| {
            get(name)
                .as_string()
                .ok_or_else(|| StoreError::Corrupt(format!("a stored record has no {name}")))
        };
        Ok(JsRecord {
            collection: text("collection")?,
            record_id: text("record_id")?,
            pending: get("pending").as_f64().unwrap_or(0.0) as u32,
            updated_at_ms: get("updated_at_ms").as_f64().unwrap_or(0.0) as u64,
            local: get("local").dyn_into().ok(),
            raw,
        })
    }

    /// A stored value, such as `base_version`.
    pub fn get(&self, name: &str) -> JsValue {
        js_sys::Reflect::get(&self.raw, &name.into()).unwrap_or_default()
    }
}

impl Shown for JsRecord {
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
        key_of_js(&js_sys::Reflect::get(self.local.as_ref()?, &name.into()).ok()?)
    }
}

/// A key as a JavaScript array (every index key here is one).
fn array_of(key: &Key) -> js_sys::Array {
    match key {
        Key::Array(items) => items.iter().map(js_of_key).collect(),
        single => js_sys::Array::of1(&js_of_key(single)),
    }
}

fn js_of_key(key: &Key) -> JsValue {
    match key {
        Key::Num(n) => JsValue::from_f64(*n),
        Key::Str(s) => JsValue::from_str(s),
        Key::Array(_) => array_of(key).into(),
    }
}

/// The key a JavaScript value makes, as [`Key::from_value`] for JSON.
fn key_of_js(value: &JsValue) -> Option<Key> {
    if let Some(n) = value.as_f64() {
        return n.is_finite().then_some(Key::Num(n));
    }
    if let Some(s) = value.as_string() {
        return Some(Key::Str(s));
    }
    let items = value.dyn_ref::<js_sys::Array>()?;
    items
        .iter()
        .map(|item| key_of_js(&item))
        .collect::<Option<Vec<_>>>()
        .map(Key::Array)
}

/// The records of `index` (on the records store `records`) whose keys lie
/// in `range`, in key order or backwards, at most `limit`.
pub(super) async fn scan(
    records: &ObjectStore<'_>,
    index: &IndexRef,
    range: &KeyRange,
    backwards: bool,
    limit: Option<u32>,
) -> Result<Vec<JsRecord>, StoreError> {
    let name = match index {
        IndexRef::Primary => None,
        IndexRef::UpdatedAt => Some(BY_UPDATED.to_owned()),
        IndexRef::Pending => Some(BY_PENDING.to_owned()),
        IndexRef::Declared(spec) => Some(spec.name()),
    };
    match name {
        None => read!(records, range, backwards, limit),
        Some(name) => {
            let index = records.index(&name)?;
            read!(index, range, backwards, limit)
        }
    }
}
