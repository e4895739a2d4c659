//! `Outbox`: the durable outbox as a JavaScript class.

use std::rc::Rc;

use outbox_sync_protocol::Value;
use serde::Serialize;
use uuid::Uuid;
use wasm_bindgen::prelude::*;

use super::blobs::{attach_refs, enqueue_with_files, fields_arg};
use super::error::{js_error, InvalidArgument};
use super::promise::promise;
use super::views::{ChangeView, RecordView, StatusView};
use crate::core::outbox::record_state;
use crate::core::{
    Durability, LocalRecord, NewEvent, Operation, OutboxStore, RecordKey, StoreConfig, StoreError,
};
use crate::engine::broadcast::{announce, announce_changed, announce_saved};
use crate::store::IdbOutbox;
use crate::sw::property;

/// Most changes listed by `pendingChanges()` when no limit is given.
const DEFAULT_LIST_LIMIT: u32 = 500;

/// A durable outbox of changes in IndexedDB, and the records they change.
///
/// ```ts
/// const outbox = await Outbox.open("my-app");
/// await outbox.put("notes", "n1", { title: "Pump 3 leaks" });
/// (await outbox.status()).message; // "1 change pending"
/// ```
#[wasm_bindgen]
pub struct Outbox {
    pub(super) store: Rc<IdbOutbox>,
}

#[wasm_bindgen]
impl Outbox {
    /// Opens (creating or upgrading) the outbox database called `name`.
    ///
    /// `options.durability` is `"strict"` (the default: a change is on disk
    /// before `put()` resolves) or `"relaxed"` (faster; it survives a closed
    /// tab or a crashed browser, not always a power cut).
    /// `options.syncedRetentionMs` keeps a synced change in the outbox that
    /// long (default 0: it is removed once the server confirmed it).
    /// `options.collections` declares the indexes `query()` and `watch()`
    /// use, per collection; a changed declaration rebuilds the indexes on
    /// opening and keeps every pending change. Without it the indexes the
    /// database has stay (as in a service worker).
    /// `options.fileCacheBytes` caps the bytes of files kept on the device
    /// (default 256 MiB): past it, copies the server holds are removed,
    /// least recently used first, and downloaded again when read; a file
    /// not yet sent is never removed. It is saved, so the service worker
    /// keeps the same cap.
    ///
    /// ```ts
    /// const outbox = await Outbox.open("my-app:" + userId, {
    ///   durability: "relaxed",
    ///   collections: { notes: { indexes: ["site", ["site", "updatedAt"]] } },
    /// });
    /// ```
    pub async fn open(
        #[wasm_bindgen(unchecked_param_type = "string")] name: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: JsValue,
    ) -> Result<Outbox, JsValue> {
        let name = string_arg(&name, "name", "the database name, such as \"my-app\"")?;
        let config = store_config_from_options(&options)?;
        let declared = super::query::declared_indexes(&options)?;
        let cache_cap = super::blobs::cache_cap_option(&options)?;
        let opening = async {
            let store = IdbOutbox::open_with_indexes(&name, config, declared).await?;
            if let Some(cap) = cache_cap {
                super::blobs::save_cache_cap(&store, cap).await?;
            }
            Ok::<_, StoreError>(store)
        };
        let store = super::last_opened::remember_when(&name, opening)
            .await
            .map_err(|e| js_error(&e))?;
        Ok(Outbox {
            store: Rc::new(store),
        })
    }

    /// Saves a whole record (`fields` is an object) and queues the change.
    ///
    /// A field holding a `Blob` or `File` is stored on the device as a file
    /// (in the same transaction) and uploaded before the change is sent;
    /// `get()` gives it back as a [`BlobRef`](super::blobs::BlobRef).
    ///
    /// ```ts
    /// await outbox.put("notes", "n1", { title: "Pump 7", photo: input.files[0] });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Change>")]
    pub fn put(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] collection: JsValue,
        #[wasm_bindgen(js_name = "recordId", unchecked_param_type = "string")] record_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FieldsIn")] fields: JsValue,
    ) -> js_sys::Promise {
        self.enqueue(Operation::Put, collection, record_id, fields)
    }

    /// Changes some fields of a record (`null` removes a field) and queues the change.
    #[wasm_bindgen(unchecked_return_type = "Promise<Change>")]
    pub fn patch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] collection: JsValue,
        #[wasm_bindgen(js_name = "recordId", unchecked_param_type = "string")] record_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FieldsIn")] changes: JsValue,
    ) -> js_sys::Promise {
        self.enqueue(Operation::Patch, collection, record_id, changes)
    }

    /// Saves many whole records of `collection` and queues their changes in one
    /// transaction, all or none: `records` is an array of `{ recordId, fields }`.
    /// Faster than awaiting `put()` for each when importing or saving in bulk.
    ///
    /// ```ts
    /// await outbox.putMany("notes", [{ recordId: "n1", fields: { title: "A" } }]);
    /// ```
    #[wasm_bindgen(js_name = putMany, unchecked_return_type = "Promise<Change[]>")]
    pub fn put_many(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] collection: JsValue,
        #[wasm_bindgen(unchecked_param_type = "{ recordId: string; fields: FieldsIn }[]")]
        records: JsValue,
    ) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move {
            let collection = collection_arg(&collection)?;
            let Some(records) = records.dyn_ref::<js_sys::Array>() else {
                return Err(js_error(&InvalidArgument(
                    "records must be an array of { recordId, fields }.".into(),
                )));
            };
            let mut changes = Vec::with_capacity(records.length() as usize);
            let mut files = Vec::new();
            for item in records.iter() {
                let field =
                    |name: &str| js_sys::Reflect::get(&item, &name.into()).unwrap_or_default();
                let record_id = string_arg(&field("recordId"), "recordId", "the record's id")?;
                let (payload, blobs) = fields_arg(field("fields")).await?;
                files.extend(blobs);
                changes.push(NewEvent {
                    collection: collection.clone(),
                    record_id,
                    op: Operation::Put,
                    payload,
                });
            }
            let events = enqueue_with_files(&store, changes, files, now_ms()).await?;
            let keys: Vec<RecordKey> = events.iter().map(|e| e.record_key()).collect();
            announce_saved(&store, &keys);
            to_js(&events.iter().map(ChangeView::from).collect::<Vec<_>>())
        })
    }

    /// Deletes a record and queues the change.
    #[wasm_bindgen(unchecked_return_type = "Promise<Change>")]
    pub fn delete(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] collection: JsValue,
        #[wasm_bindgen(js_name = "recordId", unchecked_param_type = "string")] record_id: JsValue,
    ) -> js_sys::Promise {
        self.enqueue(Operation::Delete, collection, record_id, JsValue::NULL)
    }

    /// The record as this device sees it (pending changes applied), or `null`.
    #[wasm_bindgen(unchecked_return_type = "Promise<LocalRecord | null>")]
    pub fn get(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] collection: JsValue,
        #[wasm_bindgen(js_name = "recordId", unchecked_param_type = "string")] record_id: JsValue,
    ) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move {
            let key = RecordKey {
                collection: collection_arg(&collection)?,
                record_id: string_arg(&record_id, "recordId", "the record's id")?,
            };
            let record = store.record(&key).await.map_err(|e| js_error(&e))?;
            let unsent = store.unsent_events(&key).await.map_err(|e| js_error(&e))?;
            let view = to_js(
                &record
                    .as_ref()
                    .map(|r| RecordView::new(r, record_state(&unsent))),
            )?;
            attach_refs(&store, view, None).await
        })
    }

    /// The records of `collection` as this device sees them, by record id,
    /// each with its state (at most `limit`, 500 by default).
    #[wasm_bindgen(unchecked_return_type = "Promise<LocalRecord[]>")]
    pub fn list(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] collection: JsValue,
        limit: Option<u32>,
    ) -> js_sys::Promise {
        let store = self.store.clone();
        let limit = limit.unwrap_or(DEFAULT_LIST_LIMIT);
        promise(async move {
            let collection = collection_arg(&collection)?;
            let records = store
                .records(&collection, limit)
                .await
                .map_err(|e| js_error(&e))?;
            // Only the listed records' changes: a long queue is never all read.
            let keys: Vec<RecordKey> = records.iter().map(LocalRecord::key).collect();
            let unsent = store
                .unsent_events_of(&keys)
                .await
                .map_err(|e| js_error(&e))?;
            let views: Vec<_> = records
                .iter()
                .zip(&unsent)
                .map(|(r, events)| RecordView::new(r, record_state(events)))
                .collect();
            attach_refs(&store, to_js(&views)?, None).await
        })
    }

    /// Counts of changes by state and a sentence for a status line.
    #[wasm_bindgen(unchecked_return_type = "Promise<Status>")]
    pub fn status(&self) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move {
            let counts = store.status().await.map_err(|e| js_error(&e))?;
            let settings = super::settings::Settings::load(&store).await?;
            let uploads = store.upload_progress().await.map_err(|e| js_error(&e))?;
            to_js(
                &StatusView::new(counts, settings.state, is_online(), settings.paused)
                    .with_uploads(uploads)
                    .with_storage(super::storage::storage_view().await),
            )
        })
    }

    /// Changes not yet confirmed by the server, oldest first, with their
    /// states and reasons (at most `limit`, 500 by default).
    #[wasm_bindgen(js_name = pendingChanges, unchecked_return_type = "Promise<Change[]>")]
    pub fn pending_changes(&self, limit: Option<u32>) -> js_sys::Promise {
        let store = self.store.clone();
        let limit = limit.unwrap_or(DEFAULT_LIST_LIMIT);
        promise(async move {
            let events = store.unsent(limit).await.map_err(|e| js_error(&e))?;
            let files = super::blobs::files_of(&store, &events).await?;
            let views: Vec<_> = events
                .iter()
                .zip(files)
                .map(|(event, files)| ChangeView::from(event).with_files(files))
                .collect();
            to_js(&views)
        })
    }

    /// Makes a failed or waiting change due now.
    #[wasm_bindgen(js_name = retryChange, unchecked_return_type = "Promise<Change>")]
    pub fn retry_change(
        &self,
        #[wasm_bindgen(js_name = "eventId", unchecked_param_type = "string")] event_id: JsValue,
    ) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move {
            let event = store
                .retry_now(event_id_arg(&event_id)?)
                .await
                .map_err(|e| js_error(&e))?;
            announce_changed(&store.name(), &[event.record_key()]);
            to_js(&ChangeView::from(&event))
        })
    }

    /// Makes every waiting change due now, and failed ones too unless
    /// `includeFailed` is `false`; resolves to how many changed. Call
    /// `syncNow()` afterwards to send them.
    #[wasm_bindgen(js_name = retryNow, unchecked_return_type = "Promise<number>")]
    pub fn retry_now(
        &self,
        #[wasm_bindgen(js_name = "includeFailed")] include_failed: Option<bool>,
    ) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move {
            let changed = store
                .retry_all_now(include_failed.unwrap_or(true))
                .await
                .map_err(|e| js_error(&e))?;
            announce(&store.name(), "changed");
            Ok(changed.into())
        })
    }

    /// Removes an unsent change that is not being sent, and recomputes its record.
    #[wasm_bindgen(js_name = discardChange, unchecked_return_type = "Promise<void>")]
    pub fn discard_change(
        &self,
        #[wasm_bindgen(js_name = "eventId", unchecked_param_type = "string")] event_id: JsValue,
    ) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move {
            store
                .discard(event_id_arg(&event_id)?)
                .await
                .map_err(|e| js_error(&e))?;
            announce(&store.name(), "changed");
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Closes the database connection; the object is unusable afterwards.
    pub fn close(&self) {
        self.store.close();
    }
}

impl Outbox {
    fn enqueue(
        &self,
        op: Operation,
        collection: JsValue,
        record_id: JsValue,
        payload: JsValue,
    ) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move {
            let collection = collection_arg(&collection)?;
            let record_id = string_arg(&record_id, "recordId", "the record's id")?;
            // Files are hashed before the transaction opens: IndexedDB ends
            // a transaction that waits for anything else.
            let (payload, files) = fields_arg(payload).await?;
            let change = NewEvent {
                collection,
                record_id,
                op,
                payload,
            };
            let has_files = !files.is_empty();
            let event = enqueue_with_files(&store, vec![change], files, now_ms())
                .await?
                .remove(0);
            if has_files {
                super::storage::request_persistence();
            }
            announce_saved(&store, &[event.record_key()]);
            to_js(&ChangeView::from(&event))
        })
    }
}

/// Plain JavaScript objects (not `Map`s) for every Rust value.
pub(super) fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(not_serialized)
}

/// Apart from [`to_js`], which is compiled once per type, so that this is
/// compiled once.
#[inline(never)]
fn not_serialized(error: serde_wasm_bindgen::Error) -> JsValue {
    js_error(&StoreError::Corrupt(error.to_string()))
}

pub(super) fn string_arg(value: &JsValue, name: &str, what: &str) -> Result<String, JsValue> {
    value.as_string().ok_or_else(|| {
        let found = value.js_typeof().as_string().unwrap_or_default();
        js_error(&InvalidArgument(format!(
            "{name} must be a string ({what}), but got {found}."
        )))
    })
}

/// `Outbox.open()`'s options as the store's configuration.
fn store_config_from_options(options: &JsValue) -> Result<StoreConfig, JsValue> {
    let mut config = StoreConfig::default();
    if options.is_undefined() || options.is_null() {
        return Ok(config);
    }
    if !options.is_object() {
        return Err(js_error(&InvalidArgument(
            "Outbox.open() takes its options as an object such as { durability: \"strict\" }."
                .into(),
        )));
    }
    let field = |name: &str| js_sys::Reflect::get(options, &name.into()).unwrap_or_default();
    let durability = field("durability");
    if !durability.is_undefined() {
        config.durability = durability
            .as_string()
            .and_then(|name| Durability::parse(&name))
            .ok_or_else(|| {
                js_error(&InvalidArgument(format!(
                    "durability must be \"strict\" or \"relaxed\", not {}.",
                    shown(&durability)
                )))
            })?;
    }
    let retention = field("syncedRetentionMs");
    if !retention.is_undefined() {
        config.synced_retention_ms = match retention.as_f64() {
            Some(ms) if ms.fract() == 0.0 && (0.0..=MAX_RETENTION_MS).contains(&ms) => ms as u64,
            _ => {
                return Err(js_error(&InvalidArgument(format!(
                    "syncedRetentionMs must be a whole number of milliseconds from 0 to 2592000000 (30 days), not {}.",
                    shown(&retention)
                ))))
            }
        };
    }
    Ok(config)
}

/// The longest `syncedRetentionMs`: 30 days (written out in its error
/// message: formatting an `f64` in Rust keeps 13.7 KB of float printing in
/// the wasm).
const MAX_RETENTION_MS: f64 = 30.0 * 24.0 * 3_600_000.0;

/// A value as JSON, for an error message.
pub(super) fn shown(value: &JsValue) -> String {
    js_sys::JSON::stringify(value)
        .map(String::from)
        .unwrap_or_else(|_| "that".into())
}

/// The `collection` argument of a method.
pub(super) fn collection_arg(value: &JsValue) -> Result<String, JsValue> {
    string_arg(value, "collection", "a collection name such as \"notes\"")
}

pub(super) fn value_arg(value: JsValue) -> Result<Value, JsValue> {
    crate::decode::from_value(value).map_err(|e| {
        js_error(&InvalidArgument(format!(
            "The fields must be plain data (objects, arrays, strings, numbers, booleans, null): {e}."
        )))
    })
}

pub(super) fn event_id_arg(value: &JsValue) -> Result<Uuid, JsValue> {
    let text = string_arg(
        value,
        "eventId",
        "the eventId of a change from pendingChanges()",
    )?;
    Uuid::parse_str(&text).map_err(|_| {
        js_error(&InvalidArgument(format!(
            "{text:?} is not a change's eventId (a UUID)."
        )))
    })
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// `navigator.onLine`, in pages and workers; `true` where it is unknown.
fn is_online() -> bool {
    let navigator = property(&js_sys::global(), "navigator");
    property(&navigator, "onLine").as_bool().unwrap_or(true)
}
