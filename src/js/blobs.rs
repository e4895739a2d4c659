//! Files in record fields: a `Blob` or `File` given to `put()` is stored as
//! a blob (structured clone) and the field holds a `{"$blob": …}`
//! reference; `get()` and `list()` give back a [`BlobRef`] for each
//! reference, whose `blob()` reads the file.
//!
//! The bytes stay in JavaScript: they are hashed by WebCrypto and stored by
//! IndexedDB, never copied into wasm memory.

use std::rc::Rc;

use js_sys::{Array, Object, Reflect};
use outbox_sync_protocol::blob::{BlobRef as Reference, BLOB_KEY};
use outbox_sync_protocol::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error::{js_error, ErrorCode};
use super::outbox::value_arg;
use super::promise::promise;
use crate::core::blob::{change_files, referenced_files, BlobState, ChangeFiles};
use crate::core::file_cache::DEFAULT_FILE_CACHE_BYTES;
use crate::core::{StoreError, SyncStore};
use crate::store::{IdbOutbox, NewBlob};

/// Deeper than any payload the server takes (32 levels): past it the value
/// is left to the plain-data check, which reports it.
const MAX_DEPTH: usize = 64;

/// A file could not be read (it was deleted or changed on disk meanwhile).
#[derive(Debug)]
pub struct FileUnreadable(pub String);

impl std::fmt::Display for FileUnreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "A file could not be read, so nothing was saved. Attach it again and save once more.",
        )
    }
}

impl ErrorCode for FileUnreadable {
    fn code(&self) -> &str {
        "file_unreadable"
    }

    fn detail(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

/// A file added on another device could not be downloaded now; the
/// detail says why (no connection, no server connected, not on the server).
#[derive(Debug)]
pub struct FileNotHere(pub String);

impl std::fmt::Display for FileNotHere {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "This file was added on another device and cannot be downloaded now. Try again \
             when you are online.",
        )
    }
}

impl ErrorCode for FileNotHere {
    fn code(&self) -> &str {
        "blob_unavailable"
    }

    fn detail(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

/// `blob` with the media type the record names (the server sends files as
/// `application/octet-stream`); the bytes are shared, not copied.
fn typed(blob: &web_sys::Blob, media_type: &str) -> Result<web_sys::Blob, JsValue> {
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(media_type);
    web_sys::Blob::new_with_blob_sequence_and_options(&Array::of1(blob), &options)
}

/// The fields of a change as data, and the files found in them (hashed).
///
/// Every `Blob` becomes `{"$blob": {"sha256", "size", "type"}}`; a
/// [`BlobRef`] from `get()` becomes its reference again, so a record read
/// and saved back keeps its files.
pub(super) async fn fields_arg(value: JsValue) -> Result<(Value, Vec<NewBlob>), JsValue> {
    if !has_files(&value, 0) {
        return Ok((value_arg(value)?, Vec::new()));
    }
    let mut found = Vec::new();
    collect_blobs(&value, 0, &mut found);
    let mut blobs = Vec::with_capacity(found.len());
    for blob in found {
        let sha256 = sha256_hex(&blob).await?;
        blobs.push(NewBlob::new(sha256, blob));
    }
    let mut next = blobs.iter();
    let data = to_value(&value, 0, &mut next)?;
    Ok((data, blobs))
}

fn is_plain_object(value: &JsValue) -> bool {
    if !value.is_object() || value.is_function() {
        return false;
    }
    let proto = Object::get_prototype_of(value);
    proto.is_null() || proto == Object::get_prototype_of(&Object::new())
}

/// The `{"$blob": …}` a [`BlobRef`] (or any object whose `toJSON` gives a
/// reference) stands for.
fn reference_of(value: &JsValue) -> Option<JsValue> {
    let to_json = Reflect::get(value, &"toJSON".into()).ok()?;
    let to_json = to_json.dyn_ref::<js_sys::Function>()?;
    let json = to_json.call0(value).ok()?;
    let inner = Reflect::get(&json, &BLOB_KEY.into()).ok()?;
    inner.is_object().then_some(json)
}

fn entries(value: &JsValue) -> Vec<(JsValue, JsValue)> {
    Object::entries(value.unchecked_ref::<Object>())
        .iter()
        .map(|pair| {
            let pair: Array = pair.unchecked_into();
            (pair.get(0), pair.get(1))
        })
        .collect()
}

/// Whether `value` holds a `Blob` or a [`BlobRef`] anywhere.
fn has_files(value: &JsValue, depth: usize) -> bool {
    if depth > MAX_DEPTH || !value.is_object() {
        return false;
    }
    if value.is_instance_of::<web_sys::Blob>() {
        return true;
    }
    if let Some(items) = value.dyn_ref::<Array>() {
        return items.iter().any(|item| has_files(&item, depth + 1));
    }
    if is_plain_object(value) {
        return entries(value)
            .iter()
            .any(|(_, item)| has_files(item, depth + 1));
    }
    reference_of(value).is_some()
}

/// Every `Blob` in `value`, in the order [`to_value`] meets them.
fn collect_blobs(value: &JsValue, depth: usize, found: &mut Vec<web_sys::Blob>) {
    if depth > MAX_DEPTH || !value.is_object() {
        return;
    }
    if let Some(blob) = value.dyn_ref::<web_sys::Blob>() {
        found.push(blob.clone());
    } else if let Some(items) = value.dyn_ref::<Array>() {
        items
            .iter()
            .for_each(|item| collect_blobs(&item, depth + 1, found));
    } else if is_plain_object(value) {
        for (_, item) in entries(value) {
            collect_blobs(&item, depth + 1, found);
        }
    }
}

/// `value` as data, each `Blob` replaced by the reference of the next of `hashed`.
fn to_value<'a>(
    value: &JsValue,
    depth: usize,
    hashed: &mut impl Iterator<Item = &'a NewBlob>,
) -> Result<Value, JsValue> {
    if depth > MAX_DEPTH || !value.is_object() {
        return value_arg(value.clone());
    }
    if let Some(blob) = value.dyn_ref::<web_sys::Blob>() {
        let new = hashed
            .next()
            .ok_or_else(|| js_error(&FileUnreadable("a file was not hashed".into())))?;
        return Ok(Reference {
            sha256: new.sha256.clone(),
            size: blob.size() as u64,
            media_type: blob.type_(),
        }
        .to_value());
    }
    if let Some(items) = value.dyn_ref::<Array>() {
        return items
            .iter()
            .map(|item| to_value(&item, depth + 1, hashed))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if is_plain_object(value) {
        let mut map = outbox_sync_protocol::Map::new();
        for (key, item) in entries(value) {
            map.insert(
                key.as_string().unwrap_or_default(),
                to_value(&item, depth + 1, hashed)?,
            );
        }
        return Ok(Value::Object(map));
    }
    match reference_of(value) {
        Some(reference) => value_arg(reference),
        None => value_arg(value.clone()),
    }
}

/// SHA-256 of a blob's bytes, in lower-case hex, by WebCrypto (the bytes
/// are read into a JavaScript `ArrayBuffer` once, never into wasm memory).
pub(crate) async fn sha256_hex(blob: &web_sys::Blob) -> Result<String, JsValue> {
    let unreadable = |e: JsValue| js_error(&FileUnreadable(crate::net::json::describe(&e)));
    let bytes = JsFuture::from(blob.array_buffer())
        .await
        .map_err(unreadable)?;
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).map_err(unreadable)?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).map_err(unreadable)?;
    let digest: js_sys::Function = Reflect::get(&subtle, &"digest".into())
        .map_err(unreadable)?
        .dyn_into()
        .map_err(|_| {
            js_error(&FileUnreadable(
                "crypto.subtle is missing (files need a secure context: https or localhost)".into(),
            ))
        })?;
    let promise: js_sys::Promise = digest
        .call2(&subtle, &"SHA-256".into(), &bytes)
        .map_err(unreadable)?
        .unchecked_into();
    let hash = JsFuture::from(promise).await.map_err(unreadable)?;
    let hash = js_sys::Uint8Array::new(&hash).to_vec();
    Ok(hash.iter().map(|b| format!("{b:02x}")).collect())
}

/// A file attached to a record, as `get()` and `list()` give it.
///
/// ```ts
/// const note = await outbox.get("notes", "n1");
/// note.fields.photo.state;              // "queued", "uploading", "synced", "failed"
/// img.src = URL.createObjectURL(await note.fields.photo.blob());
/// ```
#[wasm_bindgen]
pub struct BlobRef {
    reference: Reference,
    state: BlobState,
    store: Rc<IdbOutbox>,
}

#[wasm_bindgen]
impl BlobRef {
    /// SHA-256 of the bytes, 64 lower-case hex digits: the file's id.
    #[wasm_bindgen(getter)]
    pub fn sha256(&self) -> String {
        self.reference.sha256.clone()
    }

    /// Length in bytes.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> f64 {
        self.reference.size as f64
    }

    /// The media type the app gave the file (`image/jpeg`), maybe empty.
    #[wasm_bindgen(getter = type)]
    pub fn media_type(&self) -> String {
        self.reference.media_type.clone()
    }

    /// Where the file is on its way to the server, when it was read:
    /// `"queued"`, `"uploading"`, `"synced"` or `"failed"`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        self.state.as_str().to_owned()
    }

    /// The file: read from this device, or (added on another device)
    /// downloaded from the server once and kept here.
    #[wasm_bindgen(unchecked_return_type = "Promise<Blob>")]
    pub fn blob(&self) -> js_sys::Promise {
        let store = self.store.clone();
        let reference = self.reference.clone();
        promise(async move {
            if let Some(stored) = store.blob(&reference.sha256).await? {
                // For the least-recently-used eviction; the read stands even
                // if this write does not.
                let _ = store
                    .touch_blob(&reference.sha256, js_sys::Date::now() as u64)
                    .await;
                return Ok(stored.blob.into());
            }
            let settings = super::settings::Settings::load(&store).await?;
            let endpoint = settings
                .endpoint
                .ok_or_else(|| js_error(&FileNotHere("no server is connected".into())))?;
            let downloaded = crate::net::blob::download(&endpoint, &reference.sha256)
                .await
                .map_err(|e| js_error(&FileNotHere(format!("download: {e:?}"))))?;
            let blob = typed(&downloaded, &reference.media_type)?;
            let now_ms = js_sys::Date::now() as u64;
            let kept = store
                .keep_downloaded(&reference.sha256, &blob, &blob.clone().into(), now_ms)
                .await;
            if let Err(error) = kept {
                if !crate::store::cannot_store_blobs(&error) {
                    return Err(error.into());
                }
                // The browser cannot store a Blob: its bytes, then.
                let new = NewBlob::new(reference.sha256.clone(), blob.clone());
                let body = as_bytes(vec![new]).await?.remove(0).body;
                store
                    .keep_downloaded(&reference.sha256, &blob, &body, now_ms)
                    .await?;
            }
            // The copy is kept; older copies go if the files are over the cap
            // (the Blob handed back is the downloaded one, whatever goes).
            let _ = keep_within_cap(&store).await;
            Ok(blob.into())
        })
    }

    /// The reference as record data (`{"$blob": {"sha256", "size", "type"}}`),
    /// for `JSON.stringify` and for saving the field back unchanged.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> Result<JsValue, JsValue> {
        super::outbox::to_js(&self.reference.to_value())
    }
}

/// Replaces every `{"$blob": …}` reference in `value` (the JavaScript form
/// of records) with a [`BlobRef`] carrying the file's state on this device.
/// `json`, the value's JSON text when the caller has it, saves making it:
/// a value whose text names no reference is given back at once, without
/// walking it from wasm (a walk costs several calls into JavaScript per
/// field; the text is searched there).
pub(super) async fn attach_refs(
    store: &Rc<IdbOutbox>,
    value: JsValue,
    json: Option<&js_sys::JsString>,
) -> Result<JsValue, JsValue> {
    let made;
    let json = match json {
        Some(text) => Some(text),
        None => {
            made = js_sys::JSON::stringify(&value).ok();
            made.as_ref()
        }
    };
    if json.is_some_and(|text| !may_hold_refs(text)) {
        return Ok(value);
    }
    let mut places = Vec::new();
    find_refs(&value, 0, &mut places);
    if places.is_empty() {
        return Ok(value);
    }
    let hashes: Vec<String> = places.iter().map(|(_, _, r)| r.sha256.clone()).collect();
    let stored = store.blobs_of(&hashes).await?;
    for ((parent, key, reference), stored) in places.into_iter().zip(stored) {
        let state = stored.map_or(BlobState::Synced, |s| s.state);
        let handle = BlobRef {
            reference,
            state,
            store: store.clone(),
        };
        Reflect::set(&parent, &key, &handle.into())?;
    }
    Ok(value)
}

/// Whether a value whose JSON text is `json` may hold a file reference: a
/// reference's key `"$blob"` is in the text (a string holding those
/// characters is escaped there, `\"$blob\"`, so it does not match).
fn may_hold_refs(json: &js_sys::JsString) -> bool {
    json.includes(&format!("\"{BLOB_KEY}\":"), 0)
}

/// The references in `value`: their parent object, key and content.
fn find_refs(value: &JsValue, depth: usize, places: &mut Vec<(JsValue, JsValue, Reference)>) {
    if depth > MAX_DEPTH || !value.is_object() {
        return;
    }
    let children: Vec<(JsValue, JsValue)> = match value.dyn_ref::<Array>() {
        Some(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (JsValue::from(i as u32), item))
            .collect(),
        None if is_plain_object(value) => entries(value),
        None => return,
    };
    for (key, child) in children {
        match parse_reference(&child) {
            Some(reference) => places.push((value.clone(), key, reference)),
            None => find_refs(&child, depth + 1, places),
        }
    }
}

fn parse_reference(value: &JsValue) -> Option<Reference> {
    if !is_plain_object(value) || Object::keys(value.unchecked_ref::<Object>()).length() != 1 {
        return None;
    }
    let inner = Reflect::get(value, &BLOB_KEY.into()).ok()?;
    if !inner.is_object() {
        return None;
    }
    crate::decode::from_value(inner).ok()
}

/// `Outbox.open`'s `fileCacheBytes`, checked: `None` when not given.
pub(super) fn cache_cap_option(options: &JsValue) -> Result<Option<u64>, JsValue> {
    if !options.is_object() {
        return Ok(None);
    }
    let cap = Reflect::get(options, &"fileCacheBytes".into()).unwrap_or_default();
    if cap.is_undefined() {
        return Ok(None);
    }
    match cap.as_f64() {
        Some(bytes) if bytes.fract() == 0.0 && bytes >= 0.0 => Ok(Some(bytes as u64)),
        _ => Err(js_error(&super::error::InvalidArgument(
            "fileCacheBytes must be a whole number of bytes, 0 or more (such as 500000000).".into(),
        ))),
    }
}

/// The meta setting that holds `fileCacheBytes`, saved so the service
/// worker (which opens the outbox without options) keeps the same cap.
const FILE_CACHE_SETTING: &str = "file_cache_bytes";

/// Saves the cap on kept files, for every context.
pub(super) async fn save_cache_cap(store: &IdbOutbox, cap: u64) -> Result<(), StoreError> {
    store
        .set_setting(FILE_CACHE_SETTING, Some(&cap.to_string()))
        .await
}

/// Removes synced copies of files past the saved cap (or the default),
/// least recently used first; returns how many went.
pub(super) async fn keep_within_cap(store: &IdbOutbox) -> Result<u32, StoreError> {
    let cap = store
        .setting(FILE_CACHE_SETTING)
        .await?
        .and_then(|text| text.parse().ok())
        .unwrap_or(DEFAULT_FILE_CACHE_BYTES);
    store.evict_blobs(cap).await
}

/// The files of each of `events` and how much of them the server has, read
/// in one transaction.
pub(super) async fn files_of(
    store: &IdbOutbox,
    events: &[crate::core::OutboxEvent],
) -> Result<Vec<ChangeFiles>, JsValue> {
    let refs: Vec<Vec<Reference>> = events
        .iter()
        .map(|e| referenced_files(&e.payload))
        .collect();
    let hashes: Vec<String> = refs.iter().flatten().map(|r| r.sha256.clone()).collect();
    let mut stored = store.blobs_of(&hashes).await?.into_iter();
    Ok(refs
        .iter()
        .map(|files| {
            let found: Vec<_> = stored
                .by_ref()
                .take(files.len())
                .map(|s| s.map(|s| (s.state, s.sent)))
                .collect();
            change_files(files, &found)
        })
        .collect())
}

/// The same files, each to be stored as its bytes (an `ArrayBuffer`, still
/// by structured clone, never in wasm memory): for browsers that cannot
/// store a `Blob` in IndexedDB.
pub(super) async fn as_bytes(blobs: Vec<NewBlob>) -> Result<Vec<NewBlob>, JsValue> {
    let mut stored = Vec::with_capacity(blobs.len());
    for mut new in blobs {
        new.body = JsFuture::from(new.blob.array_buffer())
            .await
            .map_err(|e| js_error(&FileUnreadable(crate::net::json::describe(&e))))?;
        stored.push(new);
    }
    Ok(stored)
}

/// Saves `changes` with their files; where the browser cannot store a
/// `Blob`, saves them again with each file's bytes.
pub(super) async fn enqueue_with_files(
    store: &IdbOutbox,
    changes: Vec<crate::core::NewEvent>,
    files: Vec<NewBlob>,
    now_ms: u64,
) -> Result<Vec<crate::core::OutboxEvent>, JsValue> {
    if files.is_empty() {
        return Ok(store.enqueue_with_blobs(changes, files, now_ms).await?);
    }
    match store
        .enqueue_with_blobs(changes.clone(), files.clone(), now_ms)
        .await
    {
        Err(error) if crate::store::cannot_store_blobs(&error) => {
            let files = as_bytes(files).await?;
            Ok(store.enqueue_with_blobs(changes, files, now_ms).await?)
        }
        other => Ok(other?),
    }
}
