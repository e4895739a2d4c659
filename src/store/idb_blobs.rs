//! The `blobs` store: files attached to records, kept as `Blob`s by
//! structured clone (never as text, never in wasm memory), with where each
//! one is on its way to the server.
//!
//! An entry is a plain JavaScript object `{ sha256, blob, size, type,
//! state, sent, createdAt }` keyed by `sha256`: the same file attached
//! twice is stored once, as on the server.

use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use super::idb::IdbOutbox;
use super::idb_ops::{self as ops, commit};
use super::pipeline;
use super::schema::{BLOBS, OUTBOX};
use crate::core::blob::{referenced_files, BlobState, UploadProgress};
use crate::core::{EventState, StoreError};

/// A file to store with a change: its bytes as a `Blob` and their SHA-256.
#[derive(Debug, Clone)]
pub struct NewBlob {
    /// SHA-256 of the bytes, 64 lower-case hex digits.
    pub sha256: String,
    /// The file (a `File` is a `Blob`).
    pub blob: web_sys::Blob,
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
}

fn field(entry: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(entry, &name.into()).unwrap_or_default()
}

impl StoredBlob {
    fn from_js(entry: &JsValue) -> Result<StoredBlob, StoreError> {
        let corrupt = || StoreError::Corrupt("a stored file entry is malformed".into());
        Ok(StoredBlob {
            sha256: field(entry, "sha256").as_string().ok_or_else(corrupt)?,
            blob: field(entry, "blob")
                .dyn_into::<web_sys::Blob>()
                .map_err(|_| corrupt())?,
            size: field(entry, "size").as_f64().ok_or_else(corrupt)? as u64,
            media_type: field(entry, "type").as_string().unwrap_or_default(),
            state: BlobState::parse(&field(entry, "state").as_string().unwrap_or_default()),
            sent: field(entry, "sent").as_f64().unwrap_or(0.0) as u64,
        })
    }

    fn to_js(&self, created_at_ms: f64) -> JsValue {
        let entry = js_sys::Object::new();
        let set = |name: &str, value: JsValue| {
            // Setting a property on a fresh plain object cannot fail.
            let _ = js_sys::Reflect::set(&entry, &name.into(), &value);
        };
        set("sha256", self.sha256.clone().into());
        set("blob", self.blob.clone().into());
        set("size", (self.size as f64).into());
        set("type", self.media_type.clone().into());
        set("state", self.state.as_str().into());
        set("sent", (self.sent as f64).into());
        set("createdAt", created_at_ms.into());
        entry.into()
    }
}

/// Stores the files of `blobs` that the store lacks (or that failed
/// before: attached again, they are sent again), inside the caller's
/// transaction.
pub(super) async fn put_new(
    store: &ObjectStore<'_>,
    blobs: &[NewBlob],
    now_ms: u64,
) -> Result<(), StoreError> {
    let found = pipeline::all(blobs.iter().map(|b| get(store, &b.sha256))).await?;
    let mut puts = Vec::new();
    for (new, stored) in blobs.iter().zip(found) {
        if stored.is_some_and(|s| s.state != BlobState::Failed) {
            continue;
        }
        let entry = StoredBlob {
            sha256: new.sha256.clone(),
            size: new.blob.size() as u64,
            media_type: new.blob.type_(),
            blob: new.blob.clone(),
            state: BlobState::Queued,
            sent: 0,
        };
        puts.push(store.put(entry.to_js(now_ms as f64)).primitive()?);
    }
    for request in puts {
        request.await?;
    }
    Ok(())
}

async fn get(store: &ObjectStore<'_>, sha256: &str) -> Result<Option<StoredBlob>, StoreError> {
    let entry: Option<JsValue> = store.get(sha256).primitive()?.await?;
    entry
        .filter(|e| !e.is_undefined())
        .map(|e| StoredBlob::from_js(&e))
        .transpose()
}

impl IdbOutbox {
    /// The stored file with this SHA-256, if this device has it.
    pub async fn blob(&self, sha256: &str) -> Result<Option<StoredBlob>, StoreError> {
        let tx = self.read(&[BLOBS])?;
        let found = get(&tx.object_store(BLOBS)?, sha256).await?;
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
        let tx = self.read(&[BLOBS])?;
        let found = {
            let store = tx.object_store(BLOBS)?;
            pipeline::all(sha256s.iter().map(|hash| get(&store, hash))).await?
        };
        commit(tx).await?;
        Ok(found)
    }

    /// Every stored file, oldest first (handles to the bytes, not the bytes).
    async fn all_blobs(&self) -> Result<Vec<StoredBlob>, StoreError> {
        let tx = self.read(&[BLOBS])?;
        let entries: Vec<JsValue> = {
            let store = tx.object_store(BLOBS)?;
            let all = store.get_all::<JsValue>().primitive()?.await?;
            all.collect::<Result<Vec<_>, _>>()?
        };
        commit(tx).await?;
        let mut blobs = entries
            .iter()
            .map(|e| {
                Ok((
                    field(e, "createdAt").as_f64().unwrap_or(0.0),
                    StoredBlob::from_js(e)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        blobs.sort_by(|a, b| a.0.total_cmp(&b.0));
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
    pub async fn keep_downloaded(
        &self,
        sha256: &str,
        blob: &web_sys::Blob,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let tx = self.write(&[BLOBS])?;
        {
            let store = tx.object_store(BLOBS)?;
            if get(&store, sha256).await?.is_none() {
                let entry = StoredBlob {
                    sha256: sha256.to_owned(),
                    size: blob.size() as u64,
                    media_type: blob.type_(),
                    blob: blob.clone(),
                    state: BlobState::Synced,
                    sent: blob.size() as u64,
                };
                store.put(entry.to_js(now_ms as f64)).primitive()?.await?;
            }
        }
        commit(tx).await
    }

    /// Marks failed every queued change that refers to the file `sha256`
    /// (refused for good by the server), with `reason`; returns how many.
    pub async fn fail_changes_with_file(
        &self,
        sha256: &str,
        reason: &str,
    ) -> Result<u32, StoreError> {
        let tx = self.write(&[OUTBOX])?;
        let failed = {
            let outbox = tx.object_store(OUTBOX)?;
            let unsent = ops::unsent_from(&outbox, 0, usize::MAX).await?;
            let mut failed = 0;
            for mut event in unsent {
                let refers = referenced_files(&event.payload)
                    .iter()
                    .any(|file| file.sha256 == sha256);
                if refers && event.state == EventState::Queued {
                    event.fail_waiting(reason)?;
                    ops::put_event(&outbox, &event).await?;
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
    /// the file is gone).
    pub async fn set_blob_state(
        &self,
        sha256: &str,
        state: BlobState,
        sent: u64,
    ) -> Result<(), StoreError> {
        let tx = self.write(&[BLOBS])?;
        {
            let store = tx.object_store(BLOBS)?;
            let entry: Option<JsValue> = store.get(sha256).primitive()?.await?;
            if let Some(entry) = entry.filter(|e| !e.is_undefined()) {
                let _ = js_sys::Reflect::set(&entry, &"state".into(), &state.as_str().into());
                let _ = js_sys::Reflect::set(&entry, &"sent".into(), &(sent as f64).into());
                store.put(entry).primitive()?.await?;
            }
        }
        commit(tx).await
    }
}
