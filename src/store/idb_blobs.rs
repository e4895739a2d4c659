//! The `blobs` store: files attached to records, kept as `Blob`s by
//! structured clone (never as text, never in wasm memory), with where each
//! one is on its way to the server.
//!
//! Two stores, both keyed by `sha256` (the same file attached twice is
//! stored once, as on the server): `blobs` holds `{ sha256, blob, size,
//! type, createdAt }`, written once; `blob_states` holds `{ sha256, state,
//! sent, usedAt? }`, written after every chunk and when a kept copy is
//! read. Apart, a progress write never clones the `Blob` again (which
//! copies its bytes in Chromium).

use indexed_db_futures::object_store::ObjectStore;
use std::collections::HashMap;

use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::Transaction;
use wasm_bindgen::{JsCast, JsValue};

use super::idb::IdbOutbox;
use super::idb_ops::{self as ops, commit};
use super::pipeline;
use super::schema::{BLOBS, BLOB_STATES, LEASES, OUTBOX};
use crate::core::blob::{referenced_files, BlobState, UploadProgress};
use crate::core::file_cache::{files_to_evict, CachedFile};
use crate::core::order::{f64_order, sort_by_number};
use crate::core::{EventState, StoreError};

/// A file to store with a change: its bytes as a `Blob` and their SHA-256.
#[derive(Debug, Clone)]
pub struct NewBlob {
    /// SHA-256 of the bytes, 64 lower-case hex digits.
    pub sha256: String,
    /// The file (a `File` is a `Blob`).
    pub blob: web_sys::Blob,
    /// What is stored: the `Blob` itself, or its bytes as an `ArrayBuffer`
    /// where the browser cannot store a `Blob` (WebKitGTK in some setups).
    pub body: JsValue,
}

impl NewBlob {
    /// A file stored as the `Blob` itself.
    pub fn new(sha256: String, blob: web_sys::Blob) -> Self {
        let body = blob.clone().into();
        NewBlob { sha256, blob, body }
    }
}

/// Whether a failed write is the browser refusing to store a `Blob` (WebKit:
/// "Error preparing Blob/File data to be stored in object store").
pub fn cannot_store_blobs(error: &StoreError) -> bool {
    matches!(error, StoreError::Backend { message, .. } if message.contains("Blob"))
}

/// A stored file and its upload state.
#[derive(Debug, Clone)]
pub struct StoredBlob {
    /// SHA-256 of the bytes: the key.
    pub sha256: String,
    /// The bytes.
    pub blob: web_sys::Blob,
    /// Length in bytes.
    pub size: u64,
    /// The media type the app gave (`image/jpeg`), maybe empty.
    pub media_type: String,
    /// Where it is on its way to the server.
    pub state: BlobState,
    /// Bytes the server confirmed.
    pub sent: u64,
    /// When it was last read here (`usedAt`), else stored (`createdAt`).
    pub used_at_ms: u64,
}

fn field(entry: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(entry, &name.into()).unwrap_or_default()
}

impl StoredBlob {
    fn from_js(entry: &JsValue, state: &JsValue) -> Result<StoredBlob, StoreError> {
        let corrupt = || StoreError::Corrupt("a stored file entry is malformed".into());
        let media_type = field(entry, "type").as_string().unwrap_or_default();
        let body = field(entry, "blob");
        let blob = match body.dyn_into::<web_sys::Blob>() {
            Ok(blob) => blob,
            // Stored as bytes where the browser cannot store a Blob.
            Err(bytes) if bytes.is_instance_of::<js_sys::ArrayBuffer>() => {
                let options = web_sys::BlobPropertyBag::new();
                options.set_type(&media_type);
                web_sys::Blob::new_with_buffer_source_sequence_and_options(
                    &js_sys::Array::of1(&bytes),
                    &options,
                )
                .map_err(|_| corrupt())?
            }
            Err(_) => return Err(corrupt()),
        };
        Ok(StoredBlob {
            sha256: field(entry, "sha256").as_string().ok_or_else(corrupt)?,
            blob,
            size: field(entry, "size").as_f64().ok_or_else(corrupt)? as u64,
            media_type,
            state: BlobState::parse(&field(state, "state").as_string().unwrap_or_default()),
            sent: field(state, "sent").as_f64().unwrap_or(0.0) as u64,
            used_at_ms: field(state, "usedAt")
                .as_f64()
                .or_else(|| field(entry, "createdAt").as_f64())
                .unwrap_or(0.0) as u64,
        })
    }

    fn to_js(&self, body: &JsValue, created_at_ms: f64) -> JsValue {
        object(&[
            ("sha256", self.sha256.clone().into()),
            ("blob", body.clone()),
            ("size", (self.size as f64).into()),
            ("type", self.media_type.clone().into()),
            ("createdAt", created_at_ms.into()),
        ])
    }
}

fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let entry = js_sys::Object::new();
    for (name, value) in pairs {
        // Setting a property on a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&entry, &(*name).into(), value);
    }
    entry.into()
}

fn state_js(sha256: &str, state: BlobState, sent: u64) -> JsValue {
    object(&[
        ("sha256", sha256.into()),
        ("state", state.as_str().into()),
        ("sent", (sent as f64).into()),
    ])
}

/// The two stores of files, in one transaction.
pub(super) struct FileStores<'a> {
    files: ObjectStore<'a>,
    states: ObjectStore<'a>,
}

impl<'a> FileStores<'a> {
    /// The file stores of `tx` (which must span [`BLOBS`] and [`BLOB_STATES`]).
    pub(super) fn of(tx: &'a Transaction<'a>) -> Result<Self, StoreError> {
        Ok(FileStores {
            files: tx.object_store(BLOBS)?,
            states: tx.object_store(BLOB_STATES)?,
        })
    }
}

/// Stores the files of `blobs` that the store lacks (or that failed
/// before: attached again, they are sent again), inside the caller's
/// transaction.
pub(super) async fn put_new(
    stores: &FileStores<'_>,
    blobs: &[NewBlob],
    now_ms: u64,
) -> Result<(), StoreError> {
    let found = pipeline::all(blobs.iter().map(|b| get(stores, &b.sha256))).await?;
    let mut puts = Vec::new();
    for (new, stored) in blobs.iter().zip(found) {
        match stored {
            Some(s) if s.state == BlobState::Failed => {
                puts.push(
                    stores
                        .states
                        .put(state_js(&new.sha256, BlobState::Queued, 0))
                        .primitive()?,
                );
            }
            Some(_) => {}
            None => {
                let entry = StoredBlob {
                    sha256: new.sha256.clone(),
                    size: new.blob.size() as u64,
                    media_type: new.blob.type_(),
                    blob: new.blob.clone(),
                    state: BlobState::Queued,
                    sent: 0,
                    used_at_ms: now_ms,
                };
                puts.push(
                    stores
                        .files
                        .put(entry.to_js(&new.body, now_ms as f64))
                        .primitive()?,
                );
                puts.push(
                    stores
                        .states
                        .put(state_js(&new.sha256, BlobState::Queued, 0))
                        .primitive()?,
                );
            }
        }
    }
    for request in puts {
        request.await?;
    }
    Ok(())
}

async fn get(stores: &FileStores<'_>, sha256: &str) -> Result<Option<StoredBlob>, StoreError> {
    let entry = stores.files.get::<JsValue, _, _>(sha256).primitive()?;
    let state = stores.states.get::<JsValue, _, _>(sha256).primitive()?;
    let (entry, state): (Option<JsValue>, Option<JsValue>) = (entry.await?, state.await?);
    entry
        .filter(|e| !e.is_undefined())
        .map(|e| StoredBlob::from_js(&e, &state.unwrap_or_default()))
        .transpose()
}

impl IdbOutbox {
    /// The stored file with this SHA-256, if this device has it.
    pub async fn blob(&self, sha256: &str) -> Result<Option<StoredBlob>, StoreError> {
        let tx = self.read(&[BLOBS, BLOB_STATES])?;
        let found = get(&FileStores::of(&tx)?, sha256).await?;
        commit(tx).await?;
        Ok(found)
    }

    /// The stored files of `sha256s` (in that order), `None` for those this
    /// device lacks, in one transaction.
    pub async fn blobs_of(
        &self,
        sha256s: &[String],
    ) -> Result<Vec<Option<StoredBlob>>, StoreError> {
        if sha256s.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.read(&[BLOBS, BLOB_STATES])?;
        let found = {
            let stores = FileStores::of(&tx)?;
            pipeline::all(sha256s.iter().map(|hash| get(&stores, hash))).await?
        };
        commit(tx).await?;
        Ok(found)
    }

    /// Every stored file, oldest first (handles to the bytes, not the bytes).
    async fn all_blobs(&self) -> Result<Vec<StoredBlob>, StoreError> {
        let tx = self.read(&[BLOBS, BLOB_STATES])?;
        let (entries, states): (Vec<JsValue>, Vec<JsValue>) = {
            let stores = FileStores::of(&tx)?;
            let entries = stores.files.get_all::<JsValue>().primitive()?;
            let states = stores.states.get_all::<JsValue>().primitive()?;
            let entries = entries.await?.collect::<Result<Vec<_>, _>>()?;
            let states = states.await?.collect::<Result<Vec<_>, _>>()?;
            (entries, states)
        };
        commit(tx).await?;
        let states: HashMap<String, JsValue> = states
            .into_iter()
            .filter_map(|s| Some((field(&s, "sha256").as_string()?, s)))
            .collect();
        let mut blobs = entries
            .iter()
            .map(|e| {
                let key = field(e, "sha256").as_string().unwrap_or_default();
                let state = states.get(&key).cloned().unwrap_or_default();
                Ok((
                    field(e, "createdAt").as_f64().unwrap_or(0.0),
                    StoredBlob::from_js(e, &state)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        sort_by_number(&mut blobs, |(created_at, _)| f64_order(*created_at));
        Ok(blobs.into_iter().map(|(_, b)| b).collect())
    }

    /// The files still to upload (queued or uploading), oldest first.
    pub async fn blobs_to_upload(&self) -> Result<Vec<StoredBlob>, StoreError> {
        Ok(self
            .all_blobs()
            .await?
            .into_iter()
            .filter(|b| b.state.needs_upload())
            .collect())
    }

    /// How much of the files on their way the server has confirmed.
    pub async fn upload_progress(&self) -> Result<UploadProgress, StoreError> {
        let mut progress = UploadProgress::default();
        for blob in self.all_blobs().await? {
            progress.add(blob.state, blob.size, blob.sent);
        }
        Ok(progress)
    }

    /// Keeps a file downloaded from the server (it is synced: nothing to
    /// upload), unless this device has it already.
    /// `body` is what is stored: the `Blob`, or its bytes (see [`NewBlob::body`]).
    pub async fn keep_downloaded(
        &self,
        sha256: &str,
        blob: &web_sys::Blob,
        body: &JsValue,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let tx = self.write(&[BLOBS, BLOB_STATES])?;
        {
            let stores = FileStores::of(&tx)?;
            if get(&stores, sha256).await?.is_none() {
                let entry = StoredBlob {
                    sha256: sha256.to_owned(),
                    size: blob.size() as u64,
                    media_type: blob.type_(),
                    blob: blob.clone(),
                    state: BlobState::Synced,
                    sent: blob.size() as u64,
                    used_at_ms: now_ms,
                };
                let size = entry.size;
                let file = stores
                    .files
                    .put(entry.to_js(body, now_ms as f64))
                    .primitive()?;
                let state = stores
                    .states
                    .put(state_js(sha256, BlobState::Synced, size))
                    .primitive()?;
                file.await?;
                state.await?;
            }
        }
        commit(tx).await
    }

    /// Records that the file `sha256` was just read (`usedAt`, for the
    /// least-recently-used eviction), keeping its state and offset as they
    /// are in the store; nothing when the file is gone.
    pub async fn touch_blob(&self, sha256: &str, now_ms: u64) -> Result<(), StoreError> {
        let tx = self.write_relaxed(&[BLOB_STATES])?;
        {
            let states = tx.object_store(BLOB_STATES)?;
            let found: Option<JsValue> = states.get(sha256).primitive()?.await?;
            if let Some(entry) = found.filter(|e| e.is_object()) {
                js_sys::Reflect::set(&entry, &"usedAt".into(), &(now_ms as f64).into())
                    .map_err(|_| StoreError::Corrupt("a stored file state is malformed".into()))?;
                states.put(entry).primitive()?.await?;
            }
        }
        commit(tx).await
    }

    /// Removes synced copies of files, least recently used first, until the
    /// files kept weigh at most `cap_bytes` (the rule is
    /// [`files_to_evict`]: a file not yet on the server is never removed);
    /// returns how many went. Read, then removed in a second transaction:
    /// a synced file stays synced meanwhile, so nothing unsent can go.
    pub async fn evict_blobs(&self, cap_bytes: u64) -> Result<u32, StoreError> {
        let files: Vec<CachedFile> = self
            .all_blobs()
            .await?
            .into_iter()
            .map(|b| CachedFile {
                sha256: b.sha256,
                size: b.size,
                state: b.state,
                used_at_ms: b.used_at_ms,
            })
            .collect();
        let evicted = files_to_evict(&files, cap_bytes);
        if evicted.is_empty() {
            return Ok(0);
        }
        let tx = self.write_relaxed(&[BLOBS, BLOB_STATES])?;
        {
            let stores = FileStores::of(&tx)?;
            let mut deletes = Vec::with_capacity(evicted.len() * 2);
            for sha256 in &evicted {
                deletes.push(stores.files.delete(sha256.as_str()).primitive()?);
                deletes.push(stores.states.delete(sha256.as_str()).primitive()?);
            }
            for request in deletes {
                request.await?;
            }
        }
        commit(tx).await?;
        Ok(evicted.len() as u32)
    }

    /// Marks failed every queued change that refers to the file `sha256`
    /// (refused for good by the server), with `reason`; returns how many.
    pub async fn fail_changes_with_file(
        &self,
        sha256: &str,
        reason: &str,
    ) -> Result<u32, StoreError> {
        let tx = self.write(&[OUTBOX, LEASES])?;
        let failed = {
            let outbox = tx.object_store(OUTBOX)?;
            // A change being sent (held by a lease) is left to its drainer.
            let leases = super::idb::leases_of(&tx).await?;
            let unsent = leases.shown(ops::unsent_from(&outbox, 0, usize::MAX).await?);
            let mut failed = 0;
            for mut event in unsent {
                let refers = referenced_files(&event.payload)
                    .iter()
                    .any(|file| file.sha256 == sha256);
                if refers && event.state == EventState::Queued {
                    event.fail_waiting(reason)?;
                    ops::put_event(&outbox, &event)?;
                    failed += 1;
                }
            }
            failed
        };
        commit(tx).await?;
        Ok(failed)
    }

    /// Every stored file that the server refused for good.
    pub async fn failed_blobs(&self) -> Result<Vec<StoredBlob>, StoreError> {
        Ok(self
            .all_blobs()
            .await?
            .into_iter()
            .filter(|b| b.state == BlobState::Failed)
            .collect())
    }

    /// Records a file's new upload state and confirmed bytes (nothing when
    /// the file is gone). Only `failed` is flushed to disk before this
    /// resolves: the rest the server tells again (`GET …/upload`), and a
    /// flush per chunk would slow the upload several times over.
    pub async fn set_blob_state(
        &self,
        sha256: &str,
        state: BlobState,
        sent: u64,
    ) -> Result<(), StoreError> {
        let tx = if state == BlobState::Failed {
            self.write(&[BLOB_STATES])?
        } else {
            self.write_relaxed(&[BLOB_STATES])?
        };
        tx.object_store(BLOB_STATES)?
            .put(state_js(sha256, state, sent))
            .primitive()?
            .await?;
        commit(tx).await
    }
}
