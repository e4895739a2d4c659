//! Service-worker glue: Background Sync bindings (web-sys has no
//! `SyncManager` or `SyncEvent`), asking for a sync from a page, and telling
//! which events of a service worker should start one.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The Background Sync tag this library registers and answers.
pub const SYNC_TAG: &str = "outbox-sync";

/// The `type` of a message that asks the service worker to sync.
pub const SYNC_MESSAGE: &str = "outbox-sync:sync";

#[wasm_bindgen]
extern "C" {
    /// `registration.sync`: Background Sync's manager.
    pub type SyncManager;

    /// Asks the browser to fire a `sync` event with `tag` once it is online.
    #[wasm_bindgen(method, catch)]
    pub fn register(this: &SyncManager, tag: &str) -> Result<js_sys::Promise, JsValue>;

    /// The `sync` event a service worker receives.
    #[wasm_bindgen(extends = web_sys::ExtendableEvent)]
    pub type SyncEvent;

    /// The tag the page registered.
    #[wasm_bindgen(method, getter)]
    pub fn tag(this: &SyncEvent) -> String;

    /// `true` when the browser will not retry this sync after a failure.
    #[wasm_bindgen(method, getter, js_name = lastChance)]
    pub fn last_chance(this: &SyncEvent) -> bool;
}

/// How a page's request for a sync was passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A Background Sync tag was registered: the service worker syncs, even
    /// after the page is closed.
    BackgroundSync,
    /// A message asked the controlling service worker to sync now (no
    /// Background Sync, as in Safari and Firefox).
    Message,
    /// No service worker controls the page: the page must sync itself.
    Page,
}

impl Via {
    /// The name JavaScript sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::BackgroundSync => "background-sync",
            Via::Message => "message",
            Via::Page => "page",
        }
    }
}

/// From a page: registers the sync tag, or messages the service worker, or
/// says the page has to sync itself.
pub async fn request_sync() -> Result<Via, JsValue> {
    let global = js_sys::global();
    let container = property(&property(&global, "navigator"), "serviceWorker");
    if container.is_undefined() || property(&container, "controller").is_null() {
        return Ok(Via::Page);
    }
    let ready: js_sys::Promise = property(&container, "ready").unchecked_into();
    let registration = JsFuture::from(ready).await?;
    let manager = property(&registration, "sync");
    if !manager.is_undefined() && !manager.is_null() {
        let manager: SyncManager = manager.unchecked_into();
        // A refused registration (permission, policy) falls back to a message.
        if let Ok(promise) = manager.register(SYNC_TAG) {
            if JsFuture::from(promise).await.is_ok() {
                return Ok(Via::BackgroundSync);
            }
        }
    }
    let controller: web_sys::ServiceWorker = property(&container, "controller").unchecked_into();
    let message = js_sys::Object::new();
    js_sys::Reflect::set(&message, &"type".into(), &SYNC_MESSAGE.into())?;
    controller.post_message(&message)?;
    Ok(Via::Message)
}

/// What a service-worker event asks of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A Background Sync event with our tag; `last_chance` when the browser
    /// will not retry it.
    BackgroundSync {
        /// No retry follows a failure.
        last_chance: bool,
    },
    /// A page's message asking for a sync.
    Message,
    /// The worker was activated: the fallback start where Background Sync is missing.
    Activate,
    /// Not for this library.
    Other,
}

/// Which trigger `event` is.
pub fn trigger_of(event: &web_sys::Event) -> Trigger {
    match event.type_().as_str() {
        "sync" => {
            let sync: &SyncEvent = event.unchecked_ref();
            if sync.tag() == SYNC_TAG {
                Trigger::BackgroundSync {
                    last_chance: sync.last_chance(),
                }
            } else {
                Trigger::Other
            }
        }
        "message" => {
            let data = property(event, "data");
            if property(&data, "type").as_string().as_deref() == Some(SYNC_MESSAGE) {
                Trigger::Message
            } else {
                Trigger::Other
            }
        }
        "activate" => Trigger::Activate,
        _ => Trigger::Other,
    }
}

/// `target[name]`, or `undefined` when `target` is `undefined` or `null`
/// or the read throws: feature checks on globals that may lack a property.
pub(crate) fn property(target: &JsValue, name: &str) -> JsValue {
    if target.is_undefined() || target.is_null() {
        return JsValue::UNDEFINED;
    }
    js_sys::Reflect::get(target, &name.into()).unwrap_or(JsValue::UNDEFINED)
}
