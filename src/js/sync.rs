//! `Outbox` methods that talk to the sync server: connect, sync, conflicts.

use outbox_sync_protocol::{Map, Value};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::error::{js_error, InvalidArgument};
use super::outbox::{event_id_arg, string_arg, to_js, value_arg, Outbox};
use crate::core::conflict::{Conflict, Resolution};
use crate::core::SyncStore;
use crate::engine::browser::{run_exclusive, BrowserEnv, FetchTransport};
use crate::engine::{DrainReport, Engine, EngineConfig, Halt, PullReport};
use crate::net::Endpoint;

#[wasm_bindgen]
impl Outbox {
    /// Sets the sync server: `{ serverUrl, token?, timeoutMs?, debug? }`.
    ///
    /// ```ts
    /// outbox.connect({ serverUrl: "https://sync.example.com", token });
    /// ```
    pub fn connect(&self, options: JsValue) -> Result<(), JsValue> {
        let field = |name: &str| js_sys::Reflect::get(&options, &name.into()).unwrap_or_default();
        if !options.is_object() {
            return Err(js_error(&InvalidArgument(
                "connect() takes an object such as { serverUrl: \"https://sync.example.com\", token: \"...\" }."
                    .into(),
            )));
        }
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
                return Err(js_error(&InvalidArgument(format!(
                    "timeoutMs must be between 1 and 600000 milliseconds, not {ms}."
                ))));
            }
            endpoint = endpoint.with_timeout_ms(ms as u32);
        }
        endpoint.debug = field("debug").is_truthy();
        *self.endpoint.borrow_mut() = Some(endpoint);
        Ok(())
    }

    /// Sets or refreshes the bearer token (after the server answered 401).
    #[wasm_bindgen(js_name = setCredentials)]
    pub fn set_credentials(&self, token: JsValue) -> Result<(), JsValue> {
        let token = string_arg(&token, "token", "the bearer token")?;
        match self.endpoint.borrow_mut().as_mut() {
            Some(endpoint) => endpoint.token = Some(token),
            None => return Err(not_connected()),
        }
        Ok(())
    }

    /// Sends pending changes, then pulls the server's, now. Resolves to a
    /// report, or to `{ ran: false }` when another tab or the service worker
    /// is syncing already.
    #[wasm_bindgen(js_name = syncNow, unchecked_return_type = "Promise<SyncReport>")]
    pub fn sync_now(&self) -> js_sys::Promise {
        let store = self.store.clone();
        let endpoint = self.endpoint.borrow().clone();
        future_to_promise(async move {
            let endpoint = endpoint.ok_or_else(not_connected)?;
            let lock = format!("outbox-sync:drain:{}", store.name());
            let work = async move {
                let transport = FetchTransport { endpoint };
                let engine = Engine::new(&*store, transport, BrowserEnv, EngineConfig::default());
                let drain = engine.drain().await.map_err(|e| js_error(&e))?;
                let pull = match drain.halt {
                    None => Some(engine.pull().await.map_err(|e| js_error(&e))?),
                    Some(_) => None,
                };
                to_js(&SyncReport::new(&drain, pull.as_ref()))
            };
            Ok(run_exclusive(&lock, work).await?.unwrap_or_else(|| {
                to_js(&SyncReport {
                    ran: false,
                    ..SyncReport::default()
                })
                .unwrap_or_default()
            }))
        })
    }

    /// Conflicts waiting for the user's choice, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<ConflictInfo[]>")]
    pub fn conflicts(&self) -> js_sys::Promise {
        let store = self.store.clone();
        future_to_promise(async move {
            let conflicts = store.conflicts().await.map_err(|e| js_error(&e))?;
            to_js(&conflicts.iter().map(ConflictView::from).collect::<Vec<_>>())
        })
    }

    /// Resolves a conflict: `"mine"` (send my version), `"theirs"` (take the
    /// server's), or `"merge"` with the chosen `fields`.
    #[wasm_bindgen(js_name = resolveConflict, unchecked_return_type = "Promise<Change | null>")]
    pub fn resolve_conflict(
        &self,
        event_id: JsValue,
        choice: JsValue,
        fields: JsValue,
    ) -> js_sys::Promise {
        let store = self.store.clone();
        future_to_promise(async move {
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
            to_js(&event.as_ref().map(super::views::ChangeView::from))
        })
    }
}

fn not_connected() -> JsValue {
    js_error(&InvalidArgument(
        "No sync server is set: call outbox.connect({ serverUrl, token }) first.".into(),
    ))
}

/// What `syncNow()` did.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct SyncReport {
    ran: bool,
    synced: u32,
    retried: u32,
    failed: u32,
    conflicts: u32,
    pulled: u32,
    resynced: bool,
    /// When changes that are backing off become due (schedule the next sync then).
    next_attempt_at: Option<u64>,
    /// `null`, or why syncing stopped: `{ kind: "wait", until, reason }`,
    /// `{ kind: "auth", reason }` or `{ kind: "failed", reason }`.
    halt: Option<HaltView>,
}

#[derive(Debug, Serialize)]
struct HaltView {
    kind: &'static str,
    until: Option<u64>,
    reason: String,
}

impl SyncReport {
    fn new(drain: &DrainReport, pull: Option<&PullReport>) -> Self {
        let halt = drain.halt.as_ref().or(pull.and_then(|p| p.halt.as_ref()));
        SyncReport {
            ran: true,
            synced: drain.synced,
            retried: drain.retried,
            failed: drain.failed,
            conflicts: drain.conflicts,
            pulled: pull.map_or(0, |p| p.changed),
            resynced: pull.is_some_and(|p| p.resynced),
            next_attempt_at: drain.next_attempt_at,
            halt: halt.map(HaltView::from),
        }
    }
}

impl From<&Halt> for HaltView {
    fn from(halt: &Halt) -> Self {
        match halt {
            Halt::Wait { until_ms, reason } => HaltView {
                kind: "wait",
                until: Some(*until_ms),
                reason: reason.clone(),
            },
            Halt::AuthRequired => HaltView {
                kind: "auth",
                until: None,
                reason: "Sign in again to send your changes; they are saved on this device.".into(),
            },
            Halt::Failed(reason) => HaltView {
                kind: "failed",
                until: None,
                reason: reason.clone(),
            },
        }
    }
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
    reason: &'a str,
}

impl<'a> From<&'a Conflict> for ConflictView<'a> {
    fn from(c: &'a Conflict) -> Self {
        ConflictView {
            event_id: c.event_id.to_string(),
            collection: &c.collection,
            record_id: &c.record_id,
            mine: c.mine.as_ref(),
            base: c.base.as_ref(),
            theirs: c.theirs_fields(),
            theirs_version: c.theirs.version,
            fields: &c.fields,
            reason: &c.reason,
        }
    }
}
