//! `Outbox` controls for the user and the harness: pause, resume, metrics.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::error::{js_error, PendingChanges};
use super::outbox::{to_js, Outbox};
use super::promise::promise;
use super::settings::Settings;
use crate::core::OutboxStore;
use crate::engine::broadcast::announce;

#[wasm_bindgen]
impl Outbox {
    /// Stops sending and pulling (in every page and the service worker) until
    /// `resume()`. Changes are still saved on the device.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn pause(&self) -> js_sys::Promise {
        self.set_paused(true)
    }

    /// Lets syncing start again after `pause()`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn resume(&self) -> js_sys::Promise {
        self.set_paused(false)
    }

    /// Queue length, attempts, retry and conflict rates, time to sync (p50,
    /// p95) and failures by endpoint, kept with the outbox.
    #[wasm_bindgen(unchecked_return_type = "Promise<SyncMetrics>")]
    pub fn metrics(&self) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move {
            let metrics = Settings::load(&store).await?.metrics;
            let status = store.status().await.map_err(|e| js_error(&e))?;
            to_js(&MetricsView {
                queue_length: status.pending() + status.failed + status.conflicts,
                runs: metrics.runs,
                attempts: metrics.attempts,
                retries: metrics.retries,
                retry_rate: metrics.retry_rate(),
                synced: metrics.synced,
                failed: metrics.failed,
                conflicts: metrics.conflicts,
                conflict_rate: metrics.conflict_rate(),
                time_to_sync_p50_ms: metrics.time_to_sync_percentile(50),
                time_to_sync_p95_ms: metrics.time_to_sync_percentile(95),
                failures_by_endpoint: &metrics.failures_by_endpoint,
            })
        })
    }
}

#[wasm_bindgen]
impl Outbox {
    /// Signs this user out on this device: deletes the user's outbox
    /// database (records, settings, the token). Refuses with code
    /// `pending_changes`, deleting nothing, while changes have not reached
    /// the server, unless `{ discardPending: true }`. Open one outbox per
    /// user (`Outbox.open("app:" + userId)`), so one user's changes are never
    /// sent with another's credentials.
    #[wasm_bindgen(js_name = signOut, unchecked_return_type = "Promise<void>")]
    pub fn sign_out(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "SignOutOptions")] options: Option<JsValue>,
    ) -> js_sys::Promise {
        let options = options.unwrap_or(JsValue::UNDEFINED);
        let discard = !options.is_undefined()
            && !options.is_null()
            && js_sys::Reflect::get(&options, &"discardPending".into())
                .unwrap_or_default()
                .is_truthy();
        let store = self.store.clone();
        promise(async move {
            let status = store.status().await.map_err(|e| js_error(&e))?;
            let unsent = status.pending() + status.failed + status.conflicts;
            if unsent > 0 && !discard {
                return Err(js_error(&PendingChanges(unsent)));
            }
            store.delete_database().await.map_err(|e| js_error(&e))?;
            super::last_opened::forget(&store.name()).await;
            announce(&store.name(), "changed");
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl Outbox {
    fn set_paused(&self, paused: bool) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move {
            Settings::update(&store, |settings| settings.paused = paused).await?;
            announce(&store.name(), "changed");
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// What `metrics()` returns.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetricsView<'a> {
    queue_length: u32,
    runs: u64,
    attempts: u64,
    retries: u64,
    retry_rate: f64,
    synced: u64,
    failed: u64,
    conflicts: u64,
    conflict_rate: f64,
    time_to_sync_p50_ms: Option<u64>,
    time_to_sync_p95_ms: Option<u64>,
    failures_by_endpoint: &'a std::collections::BTreeMap<String, u64>,
}
