//! `Outbox` methods that talk to the sync server: connect, sync, conflicts.

use outbox_sync_protocol::{Map, Value};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::error::{js_error, InvalidArgument, NotConnected};
use super::outbox::{event_id_arg, string_arg, to_js, value_arg, Outbox};
use super::promise::promise;
use super::run;
use super::settings::Settings;
use crate::core::conflict::{Conflict, Resolution};
use crate::core::words::Reason;
use crate::core::SyncStore;
use crate::engine::broadcast::announce;
use crate::engine::EngineConfig;
use crate::net::Endpoint;

#[wasm_bindgen]
impl Outbox {
    /// Sets the sync server: `{ serverUrl, token?, timeoutMs?, batchSize?,
    /// debug? }`, and saves it with the outbox so the service worker can sync
    /// too. `batchSize` (1 to 1000, default 100) is the most changes per push.
    ///
    /// ```ts
    /// await outbox.connect({ serverUrl: "https://sync.example.com", token });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ConnectOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let endpoint = endpoint_from_options(&options);
        let batch_size = batch_size_from_options(&options);
        let store = self.store.clone();
        promise(async move {
            let (endpoint, batch_size) = (Some(endpoint?), Some(batch_size?));
            // Pages connect on every load: write only when something changed.
            let saved = Settings::load(&store).await.unwrap_or_default();
            if saved.endpoint != endpoint || saved.batch_size != batch_size {
                Settings::update(&store, |settings| {
                    settings.endpoint = endpoint;
                    settings.batch_size = batch_size;
                })
                .await?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Sets or refreshes the bearer token (after the server answered 401),
    /// for this page and the service worker.
    #[wasm_bindgen(js_name = setCredentials, unchecked_return_type = "Promise<void>")]
    pub fn set_credentials(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] token: JsValue,
    ) -> js_sys::Promise {
        let token = string_arg(&token, "token", "the bearer token");
        let store = self.store.clone();
        promise(async move {
            let token = token?;
            let connected = Settings::update(&store, |settings| {
                let Some(endpoint) = settings.endpoint.as_mut() else {
                    return false;
                };
                endpoint.token = Some(token);
                settings.state.credentials_updated();
                true
            })
            .await?;
            if !connected {
                return Err(js_error(&NotConnected));
            }
            announce(&store.name(), "changed");
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Sends pending changes, then pulls the server's, now. Resolves to a
    /// report, or to `{ ran: false }` when another tab or the service worker
    /// is syncing already.
    #[wasm_bindgen(js_name = syncNow, unchecked_return_type = "Promise<SyncReport>")]
    pub fn sync_now(&self) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move { to_js(&run::sync_once(store).await?) })
    }

    /// Conflicts waiting for the user's choice, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<ConflictInfo[]>")]
    pub fn conflicts(&self) -> js_sys::Promise {
        let store = self.store.clone();
        promise(async move {
            let conflicts = store.conflicts().await.map_err(|e| js_error(&e))?;
            to_js(&conflicts.iter().map(ConflictView::from).collect::<Vec<_>>())
        })
    }

    /// Resolves a conflict: `"mine"` (send my version), `"theirs"` (take the
    /// server's), or `"merge"` with `fields`: the whole record as it should
    /// be (it is sent as a put that replaces the record), so start from
    /// `theirs` and set the fields the user picked: a field left out is removed.
    #[wasm_bindgen(js_name = resolveConflict, unchecked_return_type = "Promise<Change | null>")]
    pub fn resolve_conflict(
        &self,
        #[wasm_bindgen(js_name = "eventId", unchecked_param_type = "string")] event_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "\"mine\" | \"theirs\" | \"merge\"")] choice: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Fields")] fields: Option<JsValue>,
    ) -> js_sys::Promise {
        let fields = fields.unwrap_or(JsValue::UNDEFINED);
        let store = self.store.clone();
        promise(async move {
            let event_id = event_id_arg(&event_id)?;
            let choice = string_arg(&choice, "choice", "\"mine\", \"theirs\" or \"merge\"")?;
            let resolution = match choice.as_str() {
                "mine" => Resolution::KeepMine,
                "theirs" => Resolution::UseTheirs,
                "merge" => match value_arg(fields)? {
                    Value::Object(fields) => Resolution::Merged(fields),
                    other => {
                        return Err(js_error(&InvalidArgument(format!(
                            "A merge needs the chosen fields as an object, but got {}.",
                            other.kind()
                        ))))
                    }
                },
                other => {
                    return Err(js_error(&InvalidArgument(format!(
                        "choice must be \"mine\", \"theirs\" or \"merge\", not {other:?}."
                    ))))
                }
            };
            let now = js_sys::Date::now() as u64;
            let event = store
                .resolve_conflict(event_id, &resolution, now)
                .await
                .map_err(|e| js_error(&e))?;
            announce(&store.name(), "changed");
            to_js(&event.as_ref().map(super::views::ChangeView::from))
        })
    }
}

/// `connect()`'s `batchSize`, or the default.
fn batch_size_from_options(options: &JsValue) -> Result<usize, JsValue> {
    let value = js_sys::Reflect::get(options, &"batchSize".into()).unwrap_or_default();
    if value.is_undefined() || value.is_null() {
        return Ok(EngineConfig::default().batch_size);
    }
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && (1.0..=1000.0).contains(&n) => Ok(n as usize),
        _ => Err(js_error(&InvalidArgument(format!(
            "batchSize must be a whole number from 1 to 1000, not {}.",
            js_sys::JSON::stringify(&value)
                .map(String::from)
                .unwrap_or_default()
        )))),
    }
}

/// Checks `connect()`'s options and builds the endpoint.
fn endpoint_from_options(options: &JsValue) -> Result<Endpoint, JsValue> {
    if !options.is_object() {
        return Err(js_error(&InvalidArgument(
            "connect() takes an object such as { serverUrl: \"https://sync.example.com\", token: \"...\" }."
                .into(),
        )));
    }
    let field = |name: &str| js_sys::Reflect::get(options, &name.into()).unwrap_or_default();
    let url = string_arg(
        &field("serverUrl"),
        "serverUrl",
        "the sync server's address",
    )?;
    if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/')) {
        return Err(js_error(&InvalidArgument(format!(
            "serverUrl {url:?} is not an address: use https://host or a path on this origin such as \"/\"."
        ))));
    }
    let mut endpoint = Endpoint::new(url.trim_end_matches('/'));
    let token = field("token");
    if !token.is_undefined() && !token.is_null() {
        endpoint = endpoint.with_token(string_arg(&token, "token", "the bearer token")?);
    }
    if let Some(ms) = field("timeoutMs").as_f64() {
        if !(1.0..=600_000.0).contains(&ms) {
            // Written by JavaScript: Rust's float formatting costs 13.7 KB of wasm.
            return Err(js_error(&InvalidArgument(format!(
                "timeoutMs must be between 1 and 600000 milliseconds, not {}.",
                js_sys::Number::from(ms)
                    .to_string_with_radix(10)
                    .map(String::from)
                    .unwrap_or_default()
            ))));
        }
        endpoint = endpoint.with_timeout_ms(ms as u32);
    }
    endpoint.debug = field("debug").is_truthy();
    Ok(endpoint)
}

/// A conflict as `conflicts()` lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConflictView<'a> {
    event_id: String,
    collection: &'a str,
    record_id: &'a str,
    /// "Your version": the fields this device showed; `null` if deleted here.
    mine: Option<&'a Map>,
    /// The version both started from.
    base: Option<&'a Map>,
    /// "Latest version": the server's fields; `null` if deleted there.
    theirs: Option<Map>,
    theirs_version: u64,
    /// For merge collections, the fields both sides changed.
    fields: &'a [String],
    /// Why, for people (no versions or field keys).
    reason: String,
    /// The server's own sentence and the fields, for developers.
    reason_detail: Option<String>,
}

impl<'a> From<&'a Conflict> for ConflictView<'a> {
    fn from(c: &'a Conflict) -> Self {
        let reason = Reason::decode(&c.reason);
        ConflictView {
            event_id: c.event_id.to_string(),
            collection: &c.collection,
            record_id: &c.record_id,
            mine: c.mine.as_ref(),
            base: c.base.as_ref(),
            theirs: c.theirs_fields(),
            theirs_version: c.theirs.version,
            fields: &c.fields,
            reason: reason.text,
            reason_detail: reason.detail,
        }
    }
}
