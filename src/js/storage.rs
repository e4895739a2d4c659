//! The device's storage for the app (`navigator.storage`): whether the
//! browser keeps it under pressure (persisted), how much is used of the
//! quota, and the request to persist it once the app stores files.

use js_sys::{Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::sw::property;

/// `status().storage`: every figure `null` where the browser does not say.
#[derive(Debug, Default, Serialize)]
pub struct StorageView {
    /// The browser will not evict the app's data under storage pressure.
    persisted: Option<bool>,
    /// Bytes the app's origin uses (an estimate).
    usage: Option<f64>,
    /// Bytes it may use.
    quota: Option<f64>,
}

fn storage_manager() -> Option<JsValue> {
    let storage = property(&property(&js_sys::global(), "navigator"), "storage");
    storage.is_object().then_some(storage)
}

/// Calls `storage.name()` when it exists and awaits its promise.
async fn call(storage: &JsValue, name: &str) -> Option<JsValue> {
    let method: Function = Reflect::get(storage, &name.into()).ok()?.dyn_into().ok()?;
    let promise: Promise = method.call0(storage).ok()?.dyn_into().ok()?;
    JsFuture::from(promise).await.ok()
}

/// Reads whether storage is persisted and how much is used of the quota.
pub async fn storage_view() -> StorageView {
    let Some(storage) = storage_manager() else {
        return StorageView::default();
    };
    let persisted = call(&storage, "persisted").await.and_then(|v| v.as_bool());
    let estimate = call(&storage, "estimate").await.unwrap_or_default();
    StorageView {
        persisted,
        usage: property(&estimate, "usage").as_f64(),
        quota: property(&estimate, "quota").as_f64(),
    }
}

/// Asks the browser to keep the app's data under storage pressure (pages
/// only: workers cannot ask), unless it does already. Files are what a user
/// would lose most: this is called once they are stored, never awaited.
pub fn request_persistence() {
    let Some(storage) = storage_manager() else {
        return;
    };
    wasm_bindgen_futures::spawn_local(async move {
        if call(&storage, "persisted").await.and_then(|v| v.as_bool()) == Some(false) {
            let _ = call(&storage, "persist").await;
        }
    });
}
