//! `Outbox` methods for the service worker and for asking it to sync.

use wasm_bindgen::prelude::*;

use super::error::{js_error, RetryLater};
use super::outbox::{to_js, Outbox};
use super::promise::promise;
use super::run::{sync_once, SyncError};
use crate::core::OutboxStore;
use crate::engine::broadcast::channel_name;
use crate::engine::Halt;
use crate::sw::{request_sync, trigger_of, Trigger, Via};
use wasm_bindgen::JsCast;

#[wasm_bindgen]
impl Outbox {
    /// Asks for the outbox to be synced: registers Background Sync where the
    /// browser has it (the service worker syncs, even after the page is
    /// closed), else messages the controlling service worker, else syncs in
    /// this page. Resolves to `"background-sync"`, `"message"` or `"page"`.
    #[wasm_bindgen(
        js_name = requestSync,
        unchecked_return_type = "Promise<\"background-sync\" | \"message\" | \"page\">"
    )]
    pub fn request_sync(&self) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move {
            let via = request_sync().await?;
            if via == Via::Page {
                sync_once(store).await?;
            }
            Ok(via.as_str().into())
        })
    }

    /// In a service worker: syncs for a Background Sync `sync` event with the
    /// library's tag, a page's sync message, or `activate` (the fallback where
    /// Background Sync is missing). Pass it to `event.waitUntil`. Resolves to
    /// the sync report, or `null` for other events or before any `connect()`.
    /// A `sync` event first makes changes that wait for the network due now;
    /// if its sync must wait (offline, server busy) it rejects, so the browser
    /// fires it again later.
    ///
    /// ```ts
    /// self.addEventListener("sync", (event) =>
    ///   event.waitUntil(ready().then((outbox) => outbox.handleEvent(event))));
    /// ```
    #[wasm_bindgen(js_name = handleEvent, unchecked_return_type = "Promise<SyncReport | null>")]
    pub fn handle_event(&self, event: web_sys::Event) -> js_sys::Promise {
        let trigger = trigger_of(&event);
        let store = self.store.clone();
        promise(async move {
            if trigger == Trigger::Other {
                return Ok(JsValue::NULL);
            }
            if matches!(trigger, Trigger::BackgroundSync { .. }) {
                // The browser fires `sync` when it is back online: what waited
                // for the network is due now.
                store.retry_all_now(false).await.map_err(|e| js_error(&e))?;
            }
            let report = match sync_once(store).await {
                Ok(report) => report,
                Err(SyncError::NotConnected) => return Ok(JsValue::NULL),
                Err(error) => return Err(error.into()),
            };
            match (&trigger, &report.halted) {
                (
                    Trigger::BackgroundSync { last_chance: false },
                    Some(Halt::Wait { reason, .. }),
                ) => Err(js_error(&RetryLater(reason.clone()))),
                _ => to_js(&report),
            }
        })
    }
}

#[wasm_bindgen]
impl Outbox {
    /// Calls `listener({ type })` whenever this outbox changes: in this page
    /// (its own saves and syncs), another page or the service worker
    /// (`"changed"`: a change was saved, retried, discarded or resolved;
    /// `"synced"`: a sync ran). Messages arrive asynchronously, after the
    /// change is committed. Returns a function that stops listening.
    ///
    /// ```ts
    /// const stop = outbox.subscribe(async () => render(await outbox.status()));
    /// ```
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(message: OutboxMessage) => void")]
        listener: js_sys::Function,
    ) -> Result<js_sys::Function, JsValue> {
        let channel = web_sys::BroadcastChannel::new(&channel_name(&self.store.name()))?;
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                let _ = listener.call1(&JsValue::NULL, &event.data());
            },
        );
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let stop = Closure::once_into_js(move || {
            channel.set_onmessage(None);
            channel.close();
            drop(on_message);
        });
        Ok(stop.unchecked_into())
    }
}
